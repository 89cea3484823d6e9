//! The answer of the two batch writes (BatchPutDocument, BatchDeleteDocument): the documents
//! not applied, each with Kendra's per-document `ErrorCode` and a message, while the rest of
//! the batch is accepted.

#![allow(non_snake_case)]

use super::encode;
use crate::protocol::ApiError;
use crate::simulate;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct FailedDocument<'a> {
    Id: &'a str,
    ErrorCode: &'a str,
    ErrorMessage: String,
}

#[derive(Debug, Serialize)]
struct FailedDocumentsResponse<'r, 'a> {
    FailedDocuments: &'r [FailedDocument<'a>],
}

/// Splits a batch write into the ids to apply and the documents refused, in request order.
#[derive(Debug, Default)]
pub(crate) struct Outcome<'a> {
    pub accepted: Vec<&'a str>,
    failed: Vec<FailedDocument<'a>>,
}

impl<'a> Outcome<'a> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            accepted: Vec::with_capacity(n),
            failed: Vec::new(),
        }
    }

    /// Accepts `id`, unless `problem` (an ErrorCode and its message) or the id's
    /// [`simulate`] rule refuses it.
    pub(crate) fn judge(&mut self, id: &'a str, problem: Option<(&'static str, String)>) {
        match problem.or_else(|| simulate::write_rejection(id)) {
            Some((code, message)) => self.failed.push(FailedDocument {
                Id: id,
                ErrorCode: code,
                ErrorMessage: message,
            }),
            None => self.accepted.push(id),
        }
    }

    /// The JSON answer: `{"FailedDocuments": [...]}`.
    pub(crate) fn answer(&self) -> Result<Vec<u8>, ApiError> {
        encode(&FailedDocumentsResponse {
            FailedDocuments: &self.failed,
        })
    }
}
