//! The checker: turns the documents of one or more batches into `BatchGetDocumentStatus`
//! calls of at most ten, runs them under the invocation's budget (concurrency, rate,
//! deadline), and reports one observation per document. One checker serves both adapters;
//! the SQS adapter hands it every message's documents at once, which is how 100 one-document
//! messages cost 10 calls.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use crate::batch::DocumentKey;
use crate::classify::Observation;

/// Kendra's limit of `DocumentInfo` entries in one `BatchGetDocumentStatus` call.
pub const MAX_DOCUMENTS_PER_CALL: usize = 10;

/// Kendra's answer to one call, in plain types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusAnswer {
    pub statuses: Vec<StatusEntry>,
    pub errors: Vec<DocumentErrorEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    pub document_id: String,
    pub status: Option<String>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentErrorEntry {
    pub document_id: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Why a whole call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Throttling, 5xx, timeouts, connection errors: worth trying again later. The SDK has
    /// already retried.
    #[error("{message}")]
    Transient { throttled: bool, message: String },
    /// Kendra refused the call itself; trying again will not help.
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
}

/// One `BatchGetDocumentStatus` call. The AWS SDK implements it in `kendra.rs`; tests can
/// use an in-memory fake.
pub trait StatusSource: Sync {
    fn batch_get_document_status(
        &self,
        index_id: &str,
        documents: &[&DocumentKey],
    ) -> impl Future<Output = Result<StatusAnswer, CallError>> + Send;
}

/// How hard one invocation may drive Kendra.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_concurrency: usize,
    pub max_rps: Option<f64>,
    /// No call starts at or after this instant, and calls still running then are cancelled:
    /// the time after it is kept for answering.
    pub cutoff: Option<Instant>,
    /// The invocation's deadline itself.
    pub deadline: Option<Instant>,
}

/// Documents of one index (and operation) to check; unique within the group.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    pub index_id: &'a str,
    pub documents: Vec<&'a DocumentKey>,
}

/// What the checker learned about one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupReport {
    /// `observations[i]` is about `documents[i]` of the group.
    pub observations: Vec<Observation>,
    pub calls_answered: u64,
    pub calls_failed: u64,
    /// Kendra refused a call of this group: (code, message).
    pub rejection: Option<(String, String)>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub groups: Vec<GroupReport>,
    /// Status calls made (the SDK's own retries are not counted again).
    pub calls: u64,
    /// Calls that still ended in throttling.
    pub throttled: u64,
}

/// Splits documents into calls of at most ten with no DocumentId twice in one call (Kendra
/// answers by DocumentId, so the same id with other attributes must go in another call).
/// The n-th occurrence of an id goes in the n-th "lane"; each lane is cut in tens, so
/// distinct ids cost exactly ceil(n / 10) calls.
pub fn plan_calls(documents: &[&DocumentKey]) -> Vec<Vec<usize>> {
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for (i, document) in documents.iter().enumerate() {
        let seen = occurrences
            .entry(document.document_id.as_str())
            .or_insert(0);
        if lanes.len() <= *seen {
            lanes.push(Vec::new());
        }
        lanes[*seen].push(i);
        *seen += 1;
    }
    lanes
        .into_iter()
        .flat_map(|lane| {
            lane.chunks(MAX_DOCUMENTS_PER_CALL)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Paces call starts to at most `rps` per second: each call takes the next free slot.
struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    fn new(rps: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rps),
            next: Mutex::new(None),
        }
    }

    fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut next = match self.next.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }
}

enum CallOutcome {
    /// Not started: the deadline, or a refusal of the group, came first.
    NotStarted,
    /// Started, then cancelled at the cutoff.
    Cancelled,
    Done(Result<StatusAnswer, CallError>),
}

/// Runs every call of every group under one budget and reports per document.
pub async fn check<S: StatusSource>(
    source: &S,
    budget: &Budget,
    groups: &[Group<'_>],
) -> CheckReport {
    let limiter = budget.max_rps.map(RateLimiter::new);
    let refused: Vec<AtomicBool> = groups.iter().map(|_| AtomicBool::new(false)).collect();
    let calls = groups.iter().enumerate().flat_map(|(g, group)| {
        plan_calls(&group.documents)
            .into_iter()
            .map(move |chunk| (g, chunk))
    });

    let outcomes: Vec<(usize, Vec<usize>, CallOutcome)> = stream::iter(calls)
        .map(|(g, chunk)| {
            let limiter = limiter.as_ref();
            let refused = &refused;
            async move {
                let outcome = run_call(source, budget, limiter, refused, groups, g, &chunk).await;
                (g, chunk, outcome)
            }
        })
        .buffer_unordered(budget.max_concurrency.max(1))
        .collect()
        .await;

    let mut report = CheckReport {
        groups: groups
            .iter()
            .map(|group| GroupReport {
                observations: vec![Observation::Unchecked; group.documents.len()],
                ..GroupReport::default()
            })
            .collect(),
        calls: 0,
        throttled: 0,
    };
    for (g, chunk, outcome) in outcomes {
        let group = &mut report.groups[g];
        match outcome {
            CallOutcome::NotStarted => {}
            CallOutcome::Cancelled => report.calls += 1,
            CallOutcome::Done(Ok(answer)) => {
                report.calls += 1;
                group.calls_answered += 1;
                for &i in &chunk {
                    group.observations[i] = observe(&answer, &groups[g].documents[i].document_id);
                }
            }
            CallOutcome::Done(Err(error)) => {
                report.calls += 1;
                group.calls_failed += 1;
                group.last_error = Some(error.to_string());
                for &i in &chunk {
                    group.observations[i] = Observation::CallFailed;
                }
                match error {
                    CallError::Transient { throttled, .. } => {
                        report.throttled += u64::from(throttled);
                    }
                    CallError::Rejected { code, message } => {
                        group.rejection.get_or_insert((code, message));
                    }
                }
            }
        }
    }
    report
}

async fn run_call<S: StatusSource>(
    source: &S,
    budget: &Budget,
    limiter: Option<&RateLimiter>,
    refused: &[AtomicBool],
    groups: &[Group<'_>],
    g: usize,
    chunk: &[usize],
) -> CallOutcome {
    let past_cutoff = |at: Instant| budget.cutoff.is_some_and(|cutoff| at >= cutoff);
    if past_cutoff(Instant::now()) || refused[g].load(Ordering::Relaxed) {
        return CallOutcome::NotStarted;
    }
    if let Some(limiter) = limiter {
        let slot = limiter.reserve();
        if past_cutoff(slot) {
            return CallOutcome::NotStarted;
        }
        tokio::time::sleep_until(slot).await;
    }
    let group = &groups[g];
    let documents: Vec<&DocumentKey> = chunk.iter().map(|&i| group.documents[i]).collect();
    let call = source.batch_get_document_status(group.index_id, &documents);
    let result = match budget.cutoff {
        Some(cutoff) => match tokio::time::timeout_at(cutoff, call).await {
            Ok(result) => result,
            Err(_) => return CallOutcome::Cancelled,
        },
        None => call.await,
    };
    if let Err(CallError::Rejected { .. }) = &result {
        refused[g].store(true, Ordering::Relaxed);
    }
    CallOutcome::Done(result)
}

/// What Kendra's answer says about one document: a per-document error wins over a status,
/// and a document the answer does not mention is `Missing`.
fn observe(answer: &StatusAnswer, document_id: &str) -> Observation {
    if let Some(error) = answer.errors.iter().find(|e| e.document_id == document_id) {
        return Observation::DocumentError {
            code: error.code.clone().unwrap_or_else(|| "Unknown".to_string()),
            message: error.message.clone().unwrap_or_default(),
        };
    }
    match answer
        .statuses
        .iter()
        .find(|s| s.document_id == document_id)
    {
        Some(StatusEntry {
            status: Some(status),
            failure_code,
            failure_reason,
            ..
        }) => Observation::Status {
            status: status.clone(),
            failure_code: failure_code.clone(),
            failure_reason: failure_reason.clone(),
        },
        _ => Observation::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::AttributeValue;

    fn keys(ids: &[&str]) -> Vec<DocumentKey> {
        ids.iter().map(|id| DocumentKey::new(*id)).collect()
    }

    #[test]
    fn distinct_ids_cost_ceil_n_over_ten_calls() {
        for n in [1usize, 9, 10, 11, 100, 101] {
            let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
            let docs: Vec<DocumentKey> = ids.iter().map(DocumentKey::new).collect();
            let refs: Vec<&DocumentKey> = docs.iter().collect();
            let plan = plan_calls(&refs);
            assert_eq!(plan.len(), n.div_ceil(10), "n = {n}");
            assert!(plan.iter().all(|c| !c.is_empty() && c.len() <= 10));
            let mut all: Vec<usize> = plan.concat();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn one_id_never_appears_twice_in_a_call() {
        let mut docs = keys(&["a", "b", "c"]);
        for v in 0..12 {
            docs.push(DocumentKey {
                document_id: "a".into(),
                attributes: vec![("v".into(), AttributeValue::Long(v))],
            });
        }
        let refs: Vec<&DocumentKey> = docs.iter().collect();
        let plan = plan_calls(&refs);
        for call in &plan {
            let mut ids: Vec<&str> = call.iter().map(|&i| refs[i].document_id.as_str()).collect();
            let before = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), before, "{call:?}");
        }
        assert_eq!(plan.concat().len(), docs.len());
    }

    #[test]
    fn a_document_error_wins_and_an_absent_document_is_missing() {
        let answer = StatusAnswer {
            statuses: vec![StatusEntry {
                document_id: "a".into(),
                status: Some("INDEXED".into()),
                failure_code: None,
                failure_reason: None,
            }],
            errors: vec![DocumentErrorEntry {
                document_id: "a".into(),
                code: Some("InvalidRequest".into()),
                message: Some("bad".into()),
            }],
        };
        assert_eq!(
            observe(&answer, "a"),
            Observation::DocumentError {
                code: "InvalidRequest".into(),
                message: "bad".into()
            }
        );
        assert_eq!(observe(&answer, "b"), Observation::Missing);
    }
}
