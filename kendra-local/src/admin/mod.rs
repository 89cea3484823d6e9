//! The admin HTTP interface under `/_kendra_local/`, for users outside the process (Python
//! end-to-end tests, the demo, the benchmark): read and clear the request log, set faults,
//! script errors, create indexes and put/delete documents without the Kendra API.
//!
//! Plain JSON (`application/json`), camelCase, durations in milliseconds. One small function
//! per route, grouped by what it touches; this module only routes.

mod documents;
mod faults;
mod reply;
mod requests;

use crate::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use reply::AdminError;

pub(crate) const PREFIX: &str = "/_kendra_local/";

/// Answers one admin call.
pub(crate) async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let path = req.uri().path().trim_start_matches(PREFIX).to_owned();
    let method = req.method().clone();
    let reply = match (method, path.as_str()) {
        (Method::GET, "health") => reply::ok(&serde_json::json!({ "status": "ok" })),
        (Method::GET, "requests") => requests::list(shared),
        (Method::DELETE, "requests") => requests::clear(shared),
        (Method::GET, "faults") => faults::get(shared),
        (Method::PUT, "faults") => faults::put(req, shared).await,
        (Method::POST, "fail-next") => faults::fail_next(req, shared).await,
        (Method::POST, "documents") => documents::apply(req, shared).await,
        (Method::POST, p) if p.starts_with("indexes/") => {
            documents::create_index(p.trim_start_matches("indexes/"), shared)
        }
        (_, "health" | "requests" | "faults" | "fail-next" | "documents") => {
            Err(AdminError::MethodNotAllowed)
        }
        _ => Err(AdminError::UnknownEndpoint),
    };
    reply.unwrap_or_else(|e| e.response())
}
