//! The direct-invocation adapter (a Step Functions wait loop): one batch in, the same batch
//! with only the unfinished documents out, or a named error the state machine can match.
//! The result never exceeds `MAX_RESULT_BYTES`: long lists go to S3 (claim check) or the
//! round fails with `ResultTooLarge`, which a `Catch` sees, instead of Step Functions'
//! uncatchable `States.DataLimitExceeded`.

use serde_json::{Map, Value};

use crate::checker::{check, coalesce};
use crate::claim_check::{List, json_len};
use crate::classify::{BatchStatus, fold_round};
use crate::error::Error;
use crate::handler::Context;
use crate::tasks::MAX_CAUSE_CHARS;
use crate::telemetry::InvocationStats;

/// Runs one round for a direct batch.
pub async fn handle(event: Value, ctx: &Context<'_>) -> (Result<Value, Error>, InvocationStats) {
    let mut stats = InvocationStats::default();
    let result = round(event, ctx, &mut stats).await;
    (result.map(Value::Object), stats)
}

async fn round(
    event: Value,
    ctx: &Context<'_>,
    stats: &mut InvocationStats,
) -> Result<Map<String, Value>, Error> {
    let batch = ctx.parse_batch(event).await?;
    let coalesced = coalesce([Some(&batch)]);
    let report = check(
        ctx.edges.kendra.as_ref(),
        ctx.pacer,
        &ctx.budget,
        &coalesced.groups,
    )
    .await;
    let Some(Some(placement)) = coalesced.placements.into_iter().next() else {
        return Err(Error::validation(
            "the batch",
            "was not placed in the check",
        ));
    };
    stats.kendra_calls = report.calls;
    stats.kendra_throttled = report.throttled;
    let checked = &report.groups[placement.group];
    if let Some((code, message)) = checked.rejection.clone() {
        stats.documents_pending = batch.documents.len() as u64;
        return Err(Error::KendraRequest {
            index_id: batch.index_id,
            code,
            message,
        });
    }
    if checked.calls_answered == 0 && checked.calls_failed > 0 {
        stats.documents_pending = batch.documents.len() as u64;
        return Err(Error::KendraUnavailable {
            index_id: batch.index_id,
            failed_calls: checked.calls_failed,
            last_error: checked.last_error.clone().unwrap_or_default(),
        });
    }
    let round = fold_round(batch, &checked.observations_of(&placement));
    stats.documents_succeeded = round.succeeded;
    stats.documents_failed = round.failed;
    stats.documents_pending = round.pending;
    let counts = round.result.get("counts").cloned().unwrap_or_default();
    tracing::info!(status = round.status.as_str(), counts = %counts, "round done");
    let mut result = round.result;
    let claim_check = ctx.claim_check();
    if round.status == BatchStatus::Failed
        && claim_check.has_bucket()
        && failures_exceed_a_cause(&result)
    {
        claim_check.move_out(&mut result, List::Failed).await?;
    }
    claim_check
        .fit(&mut result, ctx.config.max_result_bytes, "result")
        .await?;
    Ok(result)
}

/// A state machine ends a failed batch with the failures as the error's cause, which Step
/// Functions caps at 32,768 characters: a list that would not fit there goes to S3 too
/// (when there is a bucket), so the cause can carry `failedRef` instead.
fn failures_exceed_a_cause(result: &Map<String, Value>) -> bool {
    let mut failed = Map::new();
    if let Some(list) = result.get("failed") {
        failed.insert("failed".into(), list.clone());
    }
    json_len(&failed) > MAX_CAUSE_CHARS
}
