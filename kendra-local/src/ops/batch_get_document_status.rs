//! BatchGetDocumentStatus: checks the call's shape and Kendra's attribute rules (see
//! [`super::document_info`]) and the `reject-` rule of [`crate::simulate`], any of which
//! refuses the whole call; then reports each document's status from the lifecycle (one
//! observation each) or a per-document `Errors[]` entry. The hot path of every client, so the
//! request borrows from the body.

#![allow(non_snake_case)]

use super::document_info::DocumentInfo;
use super::{Call, encode, lock_store};
use crate::model::{Observed, Store};
use crate::protocol::{ApiError, ErrorCode, Violations};
use crate::simulate;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchGetDocumentStatusRequest<'a> {
    #[serde(borrow)]
    pub IndexId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub DocumentInfoList: Option<Vec<DocumentInfo<'a>>>,
}

#[derive(Debug, Serialize)]
struct StatusError<'a> {
    DocumentId: &'a str,
    ErrorCode: &'a str,
    ErrorMessage: String,
}

#[derive(Debug, Serialize)]
struct DocumentStatus<'a> {
    DocumentId: &'a str,
    DocumentStatus: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    FailureCode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    FailureReason: Option<String>,
}

#[derive(Debug, Serialize)]
struct BatchGetDocumentStatusResponse<'a> {
    Errors: Vec<StatusError<'a>>,
    DocumentStatusList: Vec<DocumentStatus<'a>>,
}

impl<'a> BatchGetDocumentStatusRequest<'a> {
    fn infos(&self) -> &[DocumentInfo<'a>] {
        self.DocumentInfoList.as_deref().unwrap_or_default()
    }

    /// The whole-call checks, every violation named.
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.index_id("indexId", self.IndexId.as_deref());
        v.required("documentInfoList", self.DocumentInfoList.as_ref());
        if self.DocumentInfoList.is_some() {
            v.list_length("documentInfoList", self.infos().len(), 1, 10);
        }
        for (i, info) in self.infos().iter().enumerate() {
            info.validate_shape(&mut v, i + 1);
        }
        v.into_result()
    }

    /// The rules a well-formed call can still break, checked document by document in request
    /// order: the first broken one refuses the call.
    fn check_rules(&self) -> Result<(), ApiError> {
        let refusal = self.infos().iter().find_map(|info| {
            let id = info.DocumentId.as_deref().unwrap_or_default();
            info.attribute_rule_violation()
                .or_else(|| simulate::status_call_refusal(id))
        });
        match refusal {
            Some(message) => Err(ApiError::new(ErrorCode::Validation, message)),
            None => Ok(()),
        }
    }
}

impl<'r> BatchGetDocumentStatusResponse<'r> {
    /// Adds what one observation of `id` shows.
    fn add(&mut self, id: &'r str, observed: Observed<'r>) {
        match observed {
            Observed::Status { status, failure } => {
                let (code, reason) = failure.unzip();
                self.DocumentStatusList.push(DocumentStatus {
                    DocumentId: id,
                    DocumentStatus: status,
                    FailureCode: code,
                    FailureReason: reason,
                });
            }
            Observed::Error { code, message } => self.Errors.push(StatusError {
                DocumentId: id,
                ErrorCode: code,
                ErrorMessage: message,
            }),
        }
    }
}

impl Call for BatchGetDocumentStatusRequest<'_> {
    fn index_id(&self) -> Option<&str> {
        self.IndexId.as_deref()
    }

    fn document_ids(&self) -> Vec<String> {
        self.infos()
            .iter()
            .filter_map(|d| d.DocumentId.as_deref().map(str::to_owned))
            .collect()
    }

    fn apply(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError> {
        self.validate()?;
        self.check_rules()?;
        let index = self.IndexId.as_deref().unwrap_or_default();
        let not_found = || ApiError::not_found("Index", index);
        let mut answer = BatchGetDocumentStatusResponse {
            Errors: Vec::new(),
            DocumentStatusList: Vec::with_capacity(self.infos().len()),
        };
        {
            let mut store = lock_store(store);
            if !store.has_index(index) {
                return Err(not_found());
            }
            for id in self.infos().iter().filter_map(|i| i.DocumentId.as_deref()) {
                answer.add(id, store.observe(index, id, now).ok_or_else(not_found)?);
            }
        }
        encode(&answer)
    }
}
