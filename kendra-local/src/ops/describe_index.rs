//! DescribeIndex: the index's metadata; every index is `ACTIVE` from its creation.

#![allow(non_snake_case)]

use super::{Call, encode, index_id_of, lock_store};
use crate::model::Store;
use crate::protocol::ApiError;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DescribeIndexRequest {
    pub Id: Option<String>,
}

#[derive(Debug, Serialize)]
struct DescribeIndexResponse<'a> {
    Id: &'a str,
    Name: &'a str,
    Edition: &'a str,
    Status: &'a str,
    CreatedAt: f64,
    UpdatedAt: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    Description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    RoleArn: Option<&'a str>,
}

impl Call for DescribeIndexRequest {
    fn index_id(&self) -> Option<&str> {
        self.Id.as_deref()
    }

    fn apply(&self, store: &Mutex<Store>, _now: Instant) -> Result<Vec<u8>, ApiError> {
        let id = index_id_of(self.Id.as_deref(), "id")?;
        let info = lock_store(store)
            .describe_index(id)
            .ok_or_else(|| ApiError::not_found("Index", id))?;
        encode(&DescribeIndexResponse {
            Id: &info.id,
            Name: &info.name,
            Edition: &info.edition,
            Status: "ACTIVE",
            CreatedAt: info.created_at,
            UpdatedAt: info.created_at,
            Description: info.description.as_deref(),
            RoleArn: info.role_arn.as_deref(),
        })
    }
}
