//! The admin HTTP interface under `/_kendra_local/`, for users outside the process (Python
//! end-to-end tests, the demo, the benchmark): read and clear the request log, set faults,
//! script errors, create indexes and put/delete documents without the Kendra API.
//!
//! Plain JSON (`application/json`), camelCase, durations in milliseconds.

use crate::Shared;
use crate::faults::{FaultKind, Faults};
use crate::protocol::Operation;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const PREFIX: &str = "/_kendra_local/";

/// Admin bodies are small; refuse anything large.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordJson<'a> {
    operation: &'a str,
    index_id: Option<&'a str>,
    document_ids: &'a [String],
    /// Milliseconds since server start.
    arrived_ms: f64,
    in_flight: usize,
    error: Option<&'a str>,
}

/// [`Faults`] on the wire. Missing members take their defaults, so `{}` turns faults off.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub(crate) struct FaultsJson {
    latency_ms: u64,
    latency_jitter_ms: u64,
    max_rps: Option<f64>,
    internal_error_rate: f64,
    throttle_rate: f64,
    seed: u64,
    operations: Vec<String>,
}

impl From<FaultsJson> for Faults {
    fn from(j: FaultsJson) -> Faults {
        Faults {
            latency: Duration::from_millis(j.latency_ms),
            latency_jitter: Duration::from_millis(j.latency_jitter_ms),
            max_rps: j.max_rps,
            internal_error_rate: j.internal_error_rate,
            throttle_rate: j.throttle_rate,
            seed: j.seed,
            operations: j.operations,
        }
    }
}

impl From<&Faults> for FaultsJson {
    fn from(f: &Faults) -> FaultsJson {
        FaultsJson {
            latency_ms: u64::try_from(f.latency.as_millis()).unwrap_or(u64::MAX),
            latency_jitter_ms: u64::try_from(f.latency_jitter.as_millis()).unwrap_or(u64::MAX),
            max_rps: f.max_rps,
            internal_error_rate: f.internal_error_rate,
            throttle_rate: f.throttle_rate,
            seed: f.seed,
            operations: f.operations.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FailNextJson {
    count: u32,
    error: String,
    /// Defaults to BatchGetDocumentStatus.
    #[serde(default)]
    operation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DocumentsJson {
    index_id: String,
    #[serde(default)]
    put: Vec<String>,
    #[serde(default)]
    delete: Vec<String>,
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn ok<T: Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn problem(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| b"{}".to_vec());
    json(status, body)
}

async fn body_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let bytes = Limited::new(req.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
        .map_err(|e| problem(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| problem(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")))
}

pub(crate) async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let path = req.uri().path().trim_start_matches(PREFIX).to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "health") => ok(&serde_json::json!({ "status": "ok" })),
        (Method::GET, "requests") => {
            let records = shared.log.snapshot();
            let out: Vec<RecordJson<'_>> = records
                .iter()
                .map(|r| RecordJson {
                    operation: &r.operation,
                    index_id: r.index_id.as_deref(),
                    document_ids: &r.document_ids,
                    arrived_ms: r.arrived.as_secs_f64() * 1000.0,
                    in_flight: r.in_flight,
                    error: r.error.as_deref(),
                })
                .collect();
            ok(&out)
        }
        (Method::DELETE, "requests") => {
            shared.log.clear();
            ok(&serde_json::json!({}))
        }
        (Method::GET, "faults") => ok(&FaultsJson::from(shared.faults().faults())),
        (Method::PUT, "faults") => match body_json::<FaultsJson>(req).await {
            Err(resp) => resp,
            Ok(j) => {
                let faults = Faults::from(j);
                match faults.validate() {
                    Err(e) => problem(StatusCode::BAD_REQUEST, &e.to_string()),
                    Ok(()) => {
                        shared.faults().set(faults, Instant::now());
                        ok(&serde_json::json!({}))
                    }
                }
            }
        },
        (Method::POST, "fail-next") => match body_json::<FailNextJson>(req).await {
            Err(resp) => resp,
            Ok(j) => {
                let kind = match FaultKind::from_code(&j.error) {
                    Ok(k) => k,
                    Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
                };
                let op_name = j.operation.as_deref().unwrap_or("BatchGetDocumentStatus");
                let Some(op) = Operation::from_name(op_name) else {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        &format!("unknown operation {op_name:?}"),
                    );
                };
                shared.faults().fail_next(j.count, kind, op);
                ok(&serde_json::json!({}))
            }
        },
        (Method::POST, "documents") => match body_json::<DocumentsJson>(req).await {
            Err(resp) => resp,
            Ok(j) => {
                if !crate::is_valid_index_id(&j.index_id) {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        &format!("{:?} is not a 36-character Kendra index id", j.index_id),
                    );
                }
                shared.put_documents(&j.index_id, j.put.iter().map(String::as_str));
                shared.delete_documents(&j.index_id, j.delete.iter().map(String::as_str));
                ok(&serde_json::json!({}))
            }
        },
        (Method::POST, p) if p.starts_with("indexes/") => {
            let id = p.trim_start_matches("indexes/");
            if !crate::is_valid_index_id(id) {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("{id:?} is not a 36-character Kendra index id"),
                );
            }
            shared.store().ensure_index(id);
            ok(&serde_json::json!({ "id": id }))
        }
        (_, "health" | "requests" | "faults" | "fail-next" | "documents") => {
            problem(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "unknown admin endpoint; see kendra-local/README.md",
        ),
    }
}
