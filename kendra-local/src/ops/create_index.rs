//! CreateIndex: checks the name, role and edition as Kendra does and creates an `ACTIVE`
//! index with a seeded id; a repeated `ClientToken` answers the earlier index's id.

#![allow(non_snake_case)]

use super::{Call, encode, lock_store};
use crate::model::{NewIndex, Store};
use crate::protocol::{ApiError, Violations};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::time::Instant;

const EDITIONS: [&str; 3] = [
    "DEVELOPER_EDITION",
    "ENTERPRISE_EDITION",
    "GEN_AI_ENTERPRISE_EDITION",
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateIndexRequest {
    pub Name: Option<String>,
    pub Edition: Option<String>,
    pub RoleArn: Option<String>,
    pub Description: Option<String>,
    pub ClientToken: Option<String>,
}

#[derive(Debug, Serialize)]
struct CreateIndexResponse<'a> {
    Id: &'a str,
}

impl CreateIndexRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.required("name", self.Name.as_ref());
        if let Some(name) = &self.Name {
            v.length("name", name, 1, 1000);
            v.pattern(
                "name",
                name,
                name_pattern(name),
                "[a-zA-Z0-9][a-zA-Z0-9_-]*",
            );
        }
        v.required("roleArn", self.RoleArn.as_ref());
        if let Some(arn) = &self.RoleArn {
            v.length("roleArn", arn, 0, 1284);
        }
        if let Some(edition) = &self.Edition {
            v.pattern(
                "edition",
                edition,
                EDITIONS.contains(&edition.as_str()),
                "enum value set: [DEVELOPER_EDITION, ENTERPRISE_EDITION, GEN_AI_ENTERPRISE_EDITION]",
            );
        }
        if let Some(d) = &self.Description {
            v.length("description", d, 0, 1000);
        }
        if let Some(t) = &self.ClientToken {
            v.length("clientToken", t, 1, 100);
        }
        v.into_result()
    }
}

impl Call for CreateIndexRequest {
    fn apply(&self, store: &Mutex<Store>, _now: Instant) -> Result<Vec<u8>, ApiError> {
        self.validate()?;
        let id = lock_store(store).create_index(&NewIndex {
            name: self.Name.as_deref().unwrap_or_default(),
            edition: self.Edition.as_deref(),
            description: self.Description.as_deref(),
            role_arn: self.RoleArn.as_deref(),
            client_token: self.ClientToken.as_deref(),
        });
        encode(&CreateIndexResponse { Id: &id })
    }
}

/// Kendra's index name pattern, `[a-zA-Z0-9][a-zA-Z0-9_-]*`.
fn name_pattern(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}
