//! `GET` and `DELETE /_kendra_local/requests`: the request log, for out-of-process tests.

use super::reply::{self, Reply};
use crate::Shared;
use crate::log::RequestRecord;
use serde::Serialize;

/// A [`RequestRecord`] on the wire.
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

impl<'a> From<&'a RequestRecord> for RecordJson<'a> {
    fn from(r: &'a RequestRecord) -> Self {
        RecordJson {
            operation: &r.operation,
            index_id: r.index_id.as_deref(),
            document_ids: &r.document_ids,
            arrived_ms: r.arrived.as_secs_f64() * 1000.0,
            in_flight: r.in_flight,
            error: r.error.as_deref(),
        }
    }
}

/// `GET`: every record in arrival order.
pub(super) fn list(shared: &Shared) -> Reply {
    let records = shared.log.snapshot();
    let out: Vec<RecordJson<'_>> = records.iter().map(RecordJson::from).collect();
    reply::ok(&out)
}

/// `DELETE`: empties the log.
pub(super) fn clear(shared: &Shared) -> Reply {
    shared.log.clear();
    reply::done()
}
