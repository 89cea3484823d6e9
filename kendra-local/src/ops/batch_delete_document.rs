//! BatchDeleteDocument: checks the batch's shape, refuses the `reject-` ids of
//! [`crate::simulate`] in `FailedDocuments` and starts the deletion of the rest. Unknown ids are
//! accepted: Kendra deletes asynchronously and does not check.

#![allow(non_snake_case)]

use super::failed_documents::Outcome;
use super::{Call, lock_store};
use crate::model::Store;
use crate::protocol::{ApiError, Violations};
use serde::Deserialize;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchDeleteDocumentRequest {
    pub IndexId: Option<String>,
    pub DocumentIdList: Option<Vec<String>>,
}

impl BatchDeleteDocumentRequest {
    fn ids(&self) -> &[String] {
        self.DocumentIdList.as_deref().unwrap_or_default()
    }

    /// The whole-call checks, every violation named.
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.index_id("indexId", self.IndexId.as_deref());
        v.required("documentIdList", self.DocumentIdList.as_ref());
        if self.DocumentIdList.is_some() {
            v.list_length("documentIdList", self.ids().len(), 1, 10);
        }
        for (i, id) in self.ids().iter().enumerate() {
            v.length(&format!("documentIdList.{}.member", i + 1), id, 1, 2048);
        }
        v.into_result()
    }
}

impl Call for BatchDeleteDocumentRequest {
    fn index_id(&self) -> Option<&str> {
        self.IndexId.as_deref()
    }

    fn document_ids(&self) -> Vec<String> {
        self.ids().to_vec()
    }

    fn apply(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError> {
        self.validate()?;
        let index = self.IndexId.as_deref().unwrap_or_default();
        let mut outcome = Outcome::with_capacity(self.ids().len());
        for id in self.ids() {
            outcome.judge(id, None);
        }
        lock_store(store)
            .delete(index, outcome.accepted.iter().copied(), now)
            .ok_or_else(|| ApiError::not_found("Index", index))?;
        outcome.answer()
    }
}
