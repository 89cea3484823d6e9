//! `GET`/`PUT /_kendra_local/faults` and `POST /_kendra_local/fail-next`: the fault settings
//! and scripted faults, as [`KendraLocal::set_faults`](crate::KendraLocal::set_faults) and
//! [`KendraLocal::fail_next`](crate::KendraLocal::fail_next) offer them in process.

use super::reply::{self, AdminError, Reply, body_json};
use crate::Shared;
use crate::faults::{FaultKind, Faults};
use crate::protocol::Operation;
use hyper::Request;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// [`Faults`] on the wire. Missing members take their defaults, so `{}` turns faults off.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct FaultsJson {
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

/// `GET faults`: the current settings.
pub(super) fn get(shared: &Shared) -> Reply {
    reply::ok(&FaultsJson::from(shared.faults().faults()))
}

/// `PUT faults`: replaces the settings; out-of-range rates and unknown operations are
/// refused rather than clamped, so a typo in a script is seen.
pub(super) async fn put(req: Request<Incoming>, shared: &Shared) -> Reply {
    let faults = Faults::from(body_json::<FaultsJson>(req).await?);
    faults.validate()?;
    shared.faults().set(faults, Instant::now());
    reply::done()
}

/// `POST fail-next`: queues `count` scripted faults for one operation.
pub(super) async fn fail_next(req: Request<Incoming>, shared: &Shared) -> Reply {
    let j = body_json::<FailNextJson>(req).await?;
    let kind = FaultKind::from_code(&j.error)?;
    let name = j.operation.as_deref().unwrap_or("BatchGetDocumentStatus");
    let op = Operation::from_name(name).ok_or_else(|| AdminError::UnknownOperation(name.into()))?;
    shared.faults().fail_next(j.count, kind, op);
    reply::done()
}
