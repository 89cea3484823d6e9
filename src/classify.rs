//! Classification: what one observation of a document means for the operation waited for,
//! and how a round folds into the batch's result. Pure functions over plain values, so the
//! contract's rules are tested here without any network.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::batch::{Batch, Operation};

/// What one round saw of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Kendra reported a status (possibly one this code does not know yet).
    Status {
        status: String,
        failure_code: Option<String>,
        failure_reason: Option<String>,
    },
    /// Kendra reported a per-document error (`InternalError`, `InvalidRequest`, ...).
    DocumentError { code: String, message: String },
    /// The document was refused on its own, before or by Kendra: its attributes break
    /// Kendra's rules (`InvalidAttributes`), or a call of it alone was answered with
    /// `ValidationException`. It can never succeed as it is.
    Refused { code: String, reason: String },
    /// Kendra's answer did not mention the document.
    Missing,
    /// The call that carried the document failed after the SDK's retries.
    CallFailed,
    /// No call for the document ran before the deadline.
    Unchecked,
}

impl Observation {
    pub fn status(status: &str) -> Observation {
        Observation::Status {
            status: status.to_string(),
            failure_code: None,
            failure_reason: None,
        }
    }

    /// The key under which `counts` reports this observation.
    pub fn count_key(&self) -> &str {
        match self {
            Observation::Status { status, .. } => status,
            Observation::DocumentError { .. }
            | Observation::Refused { .. }
            | Observation::Missing
            | Observation::CallFailed => "ERROR",
            Observation::Unchecked => "UNCHECKED",
        }
    }

    /// The most telling name of what was seen, for a `TIMED_OUT` reason.
    fn last_seen(&self) -> &str {
        match self {
            Observation::DocumentError { code, .. } | Observation::Refused { code, .. } => code,
            other => other.count_key(),
        }
    }
}

/// What an observation means for the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed {
        status: String,
        code: Option<String>,
        reason: Option<String>,
    },
    Pending,
}

/// Applies the contract's table: for `PUT`, `INDEXED`/`UPDATED` succeed and
/// `FAILED`/`UPDATE_FAILED`/`InvalidRequest` fail; for `DELETE`, `NOT_FOUND` succeeds and
/// `InvalidRequest` fails. A document refused on its own fails for both. Everything else stays pending, because it may still change.
pub fn classify(operation: Operation, observation: &Observation) -> Verdict {
    match (operation, observation) {
        (_, Observation::DocumentError { code, message }) if code == "InvalidRequest" => {
            Verdict::Failed {
                status: "INVALID_REQUEST".to_string(),
                code: Some(code.clone()),
                reason: Some(message.clone()),
            }
        }
        (_, Observation::Refused { code, reason }) => Verdict::Failed {
            status: "INVALID_REQUEST".to_string(),
            code: Some(code.clone()),
            reason: Some(reason.clone()),
        },
        (
            Operation::Put,
            Observation::Status {
                status,
                failure_code,
                failure_reason,
            },
        ) => match status.as_str() {
            "INDEXED" | "UPDATED" => Verdict::Succeeded,
            "FAILED" | "UPDATE_FAILED" => Verdict::Failed {
                status: status.clone(),
                code: failure_code.clone(),
                reason: failure_reason.clone(),
            },
            _ => Verdict::Pending,
        },
        (Operation::Delete, Observation::Status { status, .. }) if status == "NOT_FOUND" => {
            Verdict::Succeeded
        }
        _ => Verdict::Pending,
    }
}

/// `status` of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    Pending,
    Succeeded,
    Failed,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Pending => "PENDING",
            BatchStatus::Succeeded => "SUCCEEDED",
            BatchStatus::Failed => "FAILED",
        }
    }
}

/// A batch after one round.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// The result: itself a valid batch, ready to be fed back in.
    pub result: Map<String, Value>,
    pub status: BatchStatus,
    /// Documents that reached the target state in this round.
    pub succeeded: u64,
    /// Documents that failed (including `TIMED_OUT`) in this round.
    pub failed: u64,
    /// Documents still pending after this round.
    pub pending: u64,
    /// `failed` is non-empty (this round's or carried).
    pub has_failures: bool,
}

impl Round {
    /// Nothing is left to check: the batch succeeded or failed for good.
    pub fn is_finished(&self) -> bool {
        self.status != BatchStatus::Pending
    }
}

/// Where one round put a batch's documents.
#[derive(Default)]
struct Sorted<'o> {
    counts: BTreeMap<&'o str, u64>,
    pending: Vec<Value>,
    succeeded: u64,
    failed_now: u64,
}

/// Folds one round's observations into the batch's result. `observations[i]` is what was
/// seen of `batch.documents[i]`. Every document lands in exactly one of `documents`,
/// `failed` or `succeeded`: that is the contract's "nothing is lost".
pub fn fold_round(batch: Batch, observations: &[&Observation]) -> Round {
    debug_assert_eq!(batch.documents.len(), observations.len());
    let Batch {
        index_id,
        operation,
        documents,
        attempt,
        max_attempts,
        succeeded: succeeded_before,
        mut failed,
        mut fields,
    } = batch;
    let attempt = attempt.saturating_add(1);
    let sorted = sort_documents(
        operation,
        documents,
        observations,
        (attempt >= max_attempts).then_some(attempt),
        &mut failed,
    );
    let status = if !sorted.pending.is_empty() {
        BatchStatus::Pending
    } else if failed.is_empty() {
        BatchStatus::Succeeded
    } else {
        BatchStatus::Failed
    };
    let round = Round {
        result: Map::new(),
        status,
        succeeded: sorted.succeeded,
        failed: sorted.failed_now,
        pending: sorted.pending.len() as u64,
        has_failures: !failed.is_empty(),
    };
    let counts: Map<String, Value> = sorted
        .counts
        .into_iter()
        .map(|(key, n)| (key.to_string(), Value::from(n)))
        .collect();
    fields.insert("indexId".into(), Value::String(index_id));
    fields.insert("operation".into(), operation.as_str().into());
    fields.insert("attempt".into(), attempt.into());
    fields.insert("maxAttempts".into(), max_attempts.into());
    fields.insert("status".into(), status.as_str().into());
    fields.insert("documents".into(), Value::Array(sorted.pending));
    let succeeded = succeeded_before.saturating_add(sorted.succeeded);
    fields.insert("succeeded".into(), succeeded.into());
    fields.insert("failed".into(), Value::Array(failed));
    fields.insert("counts".into(), Value::Object(counts));
    Round {
        result: fields,
        ..round
    }
}

/// Classifies each document; failures are appended to `failed`. With `timed_out_at` (the
/// last attempt), what is still pending fails as `TIMED_OUT`.
fn sort_documents<'o>(
    operation: crate::batch::Operation,
    documents: Vec<crate::batch::Document>,
    observations: &[&'o Observation],
    timed_out_at: Option<u64>,
    failed: &mut Vec<Value>,
) -> Sorted<'o> {
    let mut sorted = Sorted::default();
    for (document, observation) in documents.into_iter().zip(observations) {
        *sorted.counts.entry(observation.count_key()).or_default() += 1;
        let id = &document.key.document_id;
        match (classify(operation, observation), timed_out_at) {
            (Verdict::Succeeded, _) => sorted.succeeded += 1,
            (
                Verdict::Failed {
                    status,
                    code,
                    reason,
                },
                _,
            ) => {
                sorted.failed_now += 1;
                failed.push(failure(id, &status, code, reason));
            }
            (Verdict::Pending, Some(attempt)) => {
                sorted.failed_now += 1;
                let reason = format!("{} after {attempt} attempts", observation.last_seen());
                failed.push(failure(id, "TIMED_OUT", None, Some(reason)));
            }
            (Verdict::Pending, None) => sorted.pending.push(document.original),
        }
    }
    sorted
}

fn failure(document_id: &str, status: &str, code: Option<String>, reason: Option<String>) -> Value {
    let mut entry = json!({"documentId": document_id, "status": status});
    if let Value::Object(map) = &mut entry {
        if let Some(code) = code {
            map.insert("code".into(), code.into());
        }
        if let Some(reason) = reason {
            map.insert("reason".into(), reason.into());
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Limits;
    use serde_json::json;

    const INDEX: &str = "0123456789abcdef0123456789abcdef0123";

    fn failed_status(status: &str) -> Observation {
        Observation::Status {
            status: status.into(),
            failure_code: Some("C".into()),
            failure_reason: Some("R".into()),
        }
    }

    fn doc_error(code: &str) -> Observation {
        Observation::DocumentError {
            code: code.into(),
            message: "M".into(),
        }
    }

    fn refused() -> Observation {
        Observation::Refused {
            code: "InvalidAttributes".into(),
            reason: "why".into(),
        }
    }

    #[test]
    fn put_classification_follows_the_contract() {
        use Verdict::*;
        let failed = |s: &str| Failed {
            status: s.into(),
            code: Some("C".into()),
            reason: Some("R".into()),
        };
        let cases = [
            (Observation::status("INDEXED"), Succeeded),
            (Observation::status("UPDATED"), Succeeded),
            (failed_status("FAILED"), failed("FAILED")),
            (failed_status("UPDATE_FAILED"), failed("UPDATE_FAILED")),
            (
                doc_error("InvalidRequest"),
                Failed {
                    status: "INVALID_REQUEST".into(),
                    code: Some("InvalidRequest".into()),
                    reason: Some("M".into()),
                },
            ),
            (Observation::status("PROCESSING"), Pending),
            (Observation::status("NOT_FOUND"), Pending),
            (Observation::status("SOMETHING_NEW"), Pending),
            (doc_error("InternalError"), Pending),
            (Observation::Missing, Pending),
            (Observation::CallFailed, Pending),
            (Observation::Unchecked, Pending),
            (
                refused(),
                Failed {
                    status: "INVALID_REQUEST".into(),
                    code: Some("InvalidAttributes".into()),
                    reason: Some("why".into()),
                },
            ),
        ];
        for (observation, expected) in cases {
            assert_eq!(
                classify(Operation::Put, &observation),
                expected,
                "{observation:?}"
            );
        }
    }

    #[test]
    fn delete_classification_follows_the_contract() {
        let cases = [
            (Observation::status("NOT_FOUND"), "succeeded"),
            (doc_error("InvalidRequest"), "failed"),
            (Observation::status("INDEXED"), "pending"),
            (Observation::status("UPDATED"), "pending"),
            (Observation::status("PROCESSING"), "pending"),
            (failed_status("FAILED"), "pending"),
            (failed_status("UPDATE_FAILED"), "pending"),
            (Observation::status("SOMETHING_NEW"), "pending"),
            (doc_error("InternalError"), "pending"),
            (Observation::Missing, "pending"),
            (Observation::CallFailed, "pending"),
            (Observation::Unchecked, "pending"),
            (refused(), "failed"),
        ];
        for (observation, expected) in cases {
            let got = match classify(Operation::Delete, &observation) {
                Verdict::Succeeded => "succeeded",
                Verdict::Failed { .. } => "failed",
                Verdict::Pending => "pending",
            };
            assert_eq!(got, expected, "{observation:?}");
        }
    }

    fn batch(value: Value) -> Batch {
        Batch::parse(
            value,
            Limits {
                default_index_id: None,
                max_documents: 100,
                max_attempts: 60,
                max_attempts_limit: 10_000,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_round_folds_into_a_valid_next_batch() {
        let input = json!({
            "requestId": "keep-me", "indexId": INDEX,
            "documents": ["ok", {"documentId": "wait", "attributes": {"v": 1}}, "bad", "gone"],
            "succeeded": 2, "failed": [{"documentId": "old", "status": "FAILED"}],
        });
        let observations = [
            Observation::status("INDEXED"),
            Observation::status("PROCESSING"),
            failed_status("FAILED"),
            Observation::Missing,
        ];
        let refs: Vec<&Observation> = observations.iter().collect();
        let round = fold_round(batch(input), &refs);
        assert_eq!(round.status, BatchStatus::Pending);
        assert_eq!((round.succeeded, round.failed, round.pending), (1, 1, 2));
        let result = Value::Object(round.result.clone());
        assert_eq!(
            result,
            json!({
                "requestId": "keep-me", "indexId": INDEX,
                "documents": [{"documentId": "wait", "attributes": {"v": 1}}, "gone"],
                "succeeded": 3,
                "failed": [
                    {"documentId": "old", "status": "FAILED"},
                    {"documentId": "bad", "status": "FAILED", "code": "C", "reason": "R"}
                ],
                "operation": "PUT", "attempt": 1, "maxAttempts": 60, "status": "PENDING",
                "counts": {"ERROR": 1, "FAILED": 1, "INDEXED": 1, "PROCESSING": 1}
            })
        );
        // The result is itself a valid batch with the pending documents in their own form.
        let next = batch(result);
        assert_eq!(next.attempt, 1);
        assert_eq!(next.documents.len(), 2);
        assert_eq!(next.fields["requestId"], json!("keep-me"));
    }

    #[test]
    fn status_is_succeeded_only_without_failures() {
        let ok = fold_round(
            batch(json!({"indexId": INDEX, "documents": ["a"]})),
            &[&Observation::status("INDEXED")],
        );
        assert_eq!(ok.status, BatchStatus::Succeeded);
        assert!(ok.is_finished() && !ok.has_failures);

        let carried = fold_round(
            batch(json!({"indexId": INDEX, "documents": ["a"], "failed": [{"documentId": "x"}]})),
            &[&Observation::status("INDEXED")],
        );
        assert_eq!(carried.status, BatchStatus::Failed);
        assert!(carried.has_failures);
    }

    #[test]
    fn leftovers_time_out_when_attempts_run_out() {
        let round = fold_round(
            batch(json!({"indexId": INDEX, "documents": ["a", "b", "c"], "attempt": 59})),
            &[
                &Observation::status("PROCESSING"),
                &Observation::status("INDEXED"),
                &doc_error("InternalError"),
            ],
        );
        assert_eq!(round.status, BatchStatus::Failed);
        assert_eq!((round.succeeded, round.failed, round.pending), (1, 2, 0));
        assert_eq!(
            round.result["failed"],
            json!([
                {"documentId": "a", "status": "TIMED_OUT", "reason": "PROCESSING after 60 attempts"},
                {"documentId": "c", "status": "TIMED_OUT", "reason": "InternalError after 60 attempts"}
            ])
        );
        assert_eq!(round.result["documents"], json!([]));
    }

    #[test]
    fn max_attempts_one_is_one_round() {
        let round = fold_round(
            batch(json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 1})),
            &[&Observation::Unchecked],
        );
        assert_eq!(round.status, BatchStatus::Failed);
        assert_eq!(
            round.result["failed"][0]["reason"],
            json!("UNCHECKED after 1 attempts")
        );
        assert_eq!(round.result["counts"], json!({"UNCHECKED": 1}));
    }
}
