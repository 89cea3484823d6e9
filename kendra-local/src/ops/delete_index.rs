//! DeleteIndex: removes the index and its documents at once (no `DELETING` state).

#![allow(non_snake_case)]

use super::{Call, index_id_of, lock_store};
use crate::model::Store;
use crate::protocol::ApiError;
use serde::Deserialize;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeleteIndexRequest {
    pub Id: Option<String>,
}

impl Call for DeleteIndexRequest {
    fn index_id(&self) -> Option<&str> {
        self.Id.as_deref()
    }

    fn apply(&self, store: &Mutex<Store>, _now: Instant) -> Result<Vec<u8>, ApiError> {
        let id = index_id_of(self.Id.as_deref(), "id")?;
        if !lock_store(store).delete_index(id) {
            return Err(ApiError::not_found("Index", id));
        }
        Ok(b"{}".to_vec())
    }
}
