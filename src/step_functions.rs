//! The direct-invocation adapter (a Step Functions wait loop): one batch in, the same batch
//! with only the unfinished documents out, or a named error the state machine can match.

use serde_json::Value;

use crate::batch::{Batch, Limits};
use crate::checker::{Budget, Group, StatusSource, check};
use crate::classify::{Observation, fold_round};
use crate::error::Error;
use crate::telemetry::InvocationStats;

/// Runs one round for a direct batch.
pub async fn handle_batch<S: StatusSource>(
    event: Value,
    limits: Limits<'_>,
    source: &S,
    budget: &Budget,
) -> (Result<Value, Error>, InvocationStats) {
    let mut stats = InvocationStats::default();
    let batch = match Batch::parse(event, limits) {
        Ok(batch) => batch,
        Err(error) => return (Err(error), stats),
    };
    let group = Group {
        index_id: &batch.index_id,
        documents: batch.documents.iter().map(|d| &d.key).collect(),
    };
    let mut report = check(source, budget, std::slice::from_ref(&group)).await;
    drop(group);
    stats.kendra_calls = report.calls;
    stats.kendra_throttled = report.throttled;
    let checked = report.groups.swap_remove(0);

    if let Some((code, message)) = checked.rejection {
        stats.documents_pending = batch.documents.len() as u64;
        return (
            Err(Error::KendraRequest {
                index_id: batch.index_id,
                code,
                message,
            }),
            stats,
        );
    }
    if checked.calls_answered == 0 && checked.calls_failed > 0 {
        stats.documents_pending = batch.documents.len() as u64;
        return (
            Err(Error::KendraUnavailable {
                index_id: batch.index_id,
                failed_calls: checked.calls_failed,
                last_error: checked.last_error.unwrap_or_default(),
            }),
            stats,
        );
    }

    let observations: Vec<&Observation> = checked.observations.iter().collect();
    let round = fold_round(batch, &observations);
    stats.documents_succeeded = round.succeeded;
    stats.documents_failed = round.failed;
    stats.documents_pending = round.pending;
    let counts = round.result.get("counts").cloned().unwrap_or_default();
    tracing::info!(
        status = round.status.as_str(),
        counts = %counts,
        "round done"
    );
    (Ok(Value::Object(round.result)), stats)
}
