//! The Kendra operations, one file each (as mini-redis's `cmd/`): each file holds its
//! operation's request shape, checks it as Kendra does, applies it to the [`Store`] and
//! encodes the answer. This module only decodes a body into the right shape and dispatches.
//! Transport-free, so every rule is cheap to test.
//!
//! Request members are all `Option` so that a missing required member becomes Kendra's
//! `ValidationException` ("Value null at ...") rather than a `SerializationException`; wrong
//! JSON types are a `SerializationException`, as with the real service. Unknown members are
//! ignored, so newer SDKs that send more fields still work. Names are the wire's (PascalCase).

mod batch_delete_document;
mod batch_get_document_status;
mod batch_put_document;
mod create_index;
mod delete_index;
mod describe_index;
mod document_info;
mod failed_documents;
mod list_indices;

use crate::model::Store;
use crate::protocol::{ApiError, ErrorCode, Operation, Violations};
use batch_delete_document::BatchDeleteDocumentRequest;
use batch_get_document_status::BatchGetDocumentStatusRequest;
use batch_put_document::BatchPutDocumentRequest;
use create_index::CreateIndexRequest;
use delete_index::DeleteIndexRequest;
use describe_index::DescribeIndexRequest;
use list_indices::ListIndicesRequest;
use serde::Deserialize;
use std::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// What every operation offers the server.
pub(crate) trait Call {
    /// The index the call is about, for the request log.
    fn index_id(&self) -> Option<&str> {
        None
    }

    /// The document ids of the batch, in request order, for the request log.
    fn document_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// Validates and applies the call: the JSON answer or the whole-call error.
    fn apply(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError>;
}

/// A decoded request of one operation.
#[derive(Debug)]
pub(crate) enum Request<'a> {
    CreateIndex(CreateIndexRequest),
    DescribeIndex(DescribeIndexRequest),
    ListIndices(ListIndicesRequest),
    DeleteIndex(DeleteIndexRequest),
    BatchPutDocument(BatchPutDocumentRequest),
    BatchDeleteDocument(BatchDeleteDocumentRequest),
    BatchGetDocumentStatus(BatchGetDocumentStatusRequest<'a>),
}

impl<'a> Request<'a> {
    /// Decodes the JSON body of `op` into its request shape (see [`decode`]).
    pub(crate) fn parse(op: Operation, body: &'a [u8]) -> Result<Request<'a>, ApiError> {
        Ok(match op {
            Operation::CreateIndex => Request::CreateIndex(decode(body)?),
            Operation::DescribeIndex => Request::DescribeIndex(decode(body)?),
            Operation::ListIndices => Request::ListIndices(decode(body)?),
            Operation::DeleteIndex => Request::DeleteIndex(decode(body)?),
            Operation::BatchPutDocument => Request::BatchPutDocument(decode(body)?),
            Operation::BatchDeleteDocument => Request::BatchDeleteDocument(decode(body)?),
            Operation::BatchGetDocumentStatus => Request::BatchGetDocumentStatus(decode(body)?),
        })
    }

    fn call(&self) -> &dyn Call {
        match self {
            Request::CreateIndex(r) => r,
            Request::DescribeIndex(r) => r,
            Request::ListIndices(r) => r,
            Request::DeleteIndex(r) => r,
            Request::BatchPutDocument(r) => r,
            Request::BatchDeleteDocument(r) => r,
            Request::BatchGetDocumentStatus(r) => r,
        }
    }

    /// The index the call is about, for the request log.
    pub(crate) fn index_id(&self) -> Option<&str> {
        self.call().index_id()
    }

    /// The document ids of the batch, for the request log.
    pub(crate) fn document_ids(&self) -> Vec<String> {
        self.call().document_ids()
    }

    /// Validates and applies the call; the JSON answer or the whole-call error.
    pub(crate) fn execute(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError> {
        self.call().apply(store, now)
    }
}

/// Decodes any operation's JSON body into its request shape. An empty body counts as `{}`
/// (some clients send nothing for operations without required members); anything that is not
/// a JSON object of the right shape is a `SerializationException`.
pub(crate) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serialization("expected a JSON object"));
    }
    serde_json::from_slice(body).map_err(serialization)
}

fn serialization(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Serialization,
        format!("Unable to parse the request body: {err}"),
    )
}

/// Encodes an answer; a failure is the emulator's own bug, so it is an internal error.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InternalServer,
            format!("kendra-local could not encode its answer: {e}"),
        )
    })
}

/// Locks the store; a panic elsewhere cannot leave it half-written, so a poisoned lock is
/// still served.
pub(crate) fn lock_store(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks the `Id` of the index operations, which is required and an IndexId.
pub(crate) fn index_id_of<'s>(id: Option<&'s str>, field: &str) -> Result<&'s str, ApiError> {
    let mut v = Violations::default();
    v.index_id(field, id);
    v.into_result()?;
    Ok(id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(non_snake_case)]
    struct Shape {
        Id: Option<String>,
    }

    #[test]
    fn decode_reads_objects_and_takes_an_empty_body_as_empty_object() {
        let s: Shape = decode(br#" {"Id": "x", "Other": 1} "#).unwrap();
        assert_eq!(s.Id.as_deref(), Some("x"));
        let s: Shape = decode(b"  \n").unwrap();
        assert_eq!(s.Id, None);
    }

    #[test]
    fn decode_refuses_what_is_not_an_object_of_the_shape() {
        for body in [&b"[]"[..], b"null", b"{", br#"{"Id": 5}"#] {
            let err = decode::<Shape>(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::Serialization, "{body:?}");
            assert!(
                err.message
                    .starts_with("Unable to parse the request body: ")
            );
        }
    }

    #[test]
    fn every_operation_decodes_and_dispatches() {
        for op in Operation::ALL {
            let r = Request::parse(op, b"{}").unwrap();
            assert_eq!(r.index_id(), None, "{op:?}");
            assert!(r.document_ids().is_empty(), "{op:?}");
        }
    }
}
