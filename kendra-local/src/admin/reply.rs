//! How admin routes read their JSON bodies and answer: `200` with a JSON body, or a problem
//! status with `{"error": "..."}`.

use crate::faults::FaultsError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Admin bodies are small; refuse anything large.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// What a route answers: the response, or why the call was refused.
pub(super) type Reply = Result<Response<Full<Bytes>>, AdminError>;

/// Why an admin call was refused; each answers `{"error": message}` with its status.
#[derive(Debug, thiserror::Error)]
pub(super) enum AdminError {
    #[error("unreadable body: {0}")]
    Body(String),
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Faults(#[from] FaultsError),
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    #[error("{0:?} is not a 36-character Kendra index id")]
    IndexId(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("unknown admin endpoint; see kendra-local/README.md")]
    UnknownEndpoint,
    /// The emulator's own bug: an answer it could not encode.
    #[error("{0}")]
    Encode(serde_json::Error),
}

impl AdminError {
    fn status(&self) -> StatusCode {
        match self {
            AdminError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::UnknownEndpoint => StatusCode::NOT_FOUND,
            AdminError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(super) fn response(&self) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(&serde_json::json!({ "error": self.to_string() }))
            .unwrap_or_else(|_| b"{}".to_vec());
        json(self.status(), body)
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A 200 answer with `value` as its JSON body.
pub(super) fn ok<T: Serialize>(value: &T) -> Reply {
    let body = serde_json::to_vec(value).map_err(AdminError::Encode)?;
    Ok(json(StatusCode::OK, body))
}

/// The empty JSON object routes answer when there is nothing to say.
pub(super) fn done() -> Reply {
    ok(&serde_json::json!({}))
}

/// Reads the whole body (bounded) as JSON of shape `T`.
pub(super) async fn body_json<T: DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, AdminError> {
    let bytes = Limited::new(req.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
        .map_err(|e| AdminError::Body(e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(AdminError::Json)
}
