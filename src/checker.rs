//! The checker: turns the documents of one or more batches into `BatchGetDocumentStatus`
//! calls of at most ten, runs them under the invocation's budget (concurrency, pacing,
//! deadline), and reports one observation per document. One checker serves every adapter:
//! [`coalesce`] merges the documents of many batches (100 one-document SQS messages cost 10
//! calls), [`check`] runs the calls.
//!
//! A call is not always answered for all its documents at once: a throttled call goes back
//! into the round and is tried again, paced, until the cutoff; a call that Kendra refuses
//! with `ValidationException` is split in halves until each refused document stands alone.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::batch::{Batch, DocumentKey, Operation};
use crate::classify::Observation;
use crate::pacing::{Pace, Pacer};

/// Kendra's limit of `DocumentInfo` entries in one `BatchGetDocumentStatus` call.
pub const MAX_DOCUMENTS_PER_CALL: usize = 10;

/// Without a cutoff (an invocation with no known deadline) a throttled call is put back at
/// most this many times, so a Kendra that throttles for ever cannot hold the round for ever.
pub const MAX_REQUEUES_WITHOUT_CUTOFF: u32 = 5;

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
    /// `ThrottlingException` (or HTTP 429): the account's quota is used up for now. The
    /// checker, not the SDK, tries again: paced, and only while the round has time.
    #[error("ThrottlingException: {message}")]
    Throttled { message: String },
    /// 5xx, a timed-out attempt, a connection error, 408: may pass. The SDK has already
    /// retried; the documents stay pending for the next round.
    #[error("{message}")]
    Transient { message: String },
    /// `ValidationException`: Kendra refuses something in the call, most likely one of its
    /// documents. The checker splits the call until the culprit stands alone.
    #[error("ValidationException: {message}")]
    Invalid { message: String },
    /// Kendra refused the index itself (`ResourceNotFoundException`,
    /// `AccessDeniedException`, `ConflictException`, ...); trying again will not help.
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
}

/// One `BatchGetDocumentStatus` call. The AWS SDK implements it in `kendra.rs`; tests can
/// use an in-memory fake (`testing::FakeKendra`).
#[async_trait]
pub trait StatusSource: Send + Sync {
    async fn batch_get_document_status(
        &self,
        index_id: &str,
        documents: &[&DocumentKey],
    ) -> Result<StatusAnswer, CallError>;
}

/// How hard one invocation may drive Kendra, and until when.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_concurrency: usize,
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

/// Where one batch's documents sit among the coalesced groups: `positions[i]` is the index,
/// in `groups[group].documents`, of the batch's `documents[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub group: usize,
    pub positions: Vec<usize>,
}

/// The documents of several batches, merged into one group per index and operation, each
/// document once.
#[derive(Debug)]
pub struct Coalesced<'a> {
    pub groups: Vec<Group<'a>>,
    /// One entry per batch given to [`coalesce`]; `None` for a batch that was `None`.
    pub placements: Vec<Option<Placement>>,
}

/// Merges the documents of `batches` (a `None` stands for a message that is not a batch and
/// keeps its place). Two batches that name the same document of the same index and operation
/// share its observation: it is checked once.
pub fn coalesce<'a>(batches: impl IntoIterator<Item = Option<&'a Batch>>) -> Coalesced<'a> {
    let mut group_of: HashMap<(&str, Operation), usize> = HashMap::new();
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut lookups: Vec<HashMap<&DocumentKey, usize>> = Vec::new();
    let mut placements = Vec::new();
    for batch in batches {
        let Some(batch) = batch else {
            placements.push(None);
            continue;
        };
        let g = *group_of
            .entry((batch.index_id.as_str(), batch.operation))
            .or_insert_with(|| {
                groups.push(Group {
                    index_id: &batch.index_id,
                    documents: Vec::new(),
                });
                lookups.push(HashMap::with_capacity(batch.documents.len()));
                groups.len() - 1
            });
        let positions = batch
            .documents
            .iter()
            .map(|document| {
                *lookups[g].entry(&document.key).or_insert_with(|| {
                    groups[g].documents.push(&document.key);
                    groups[g].documents.len() - 1
                })
            })
            .collect();
        placements.push(Some(Placement {
            group: g,
            positions,
        }));
    }
    Coalesced { groups, placements }
}

/// What the checker learned about one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupReport {
    /// `observations[i]` is about `documents[i]` of the group.
    pub observations: Vec<Observation>,
    /// Calls Kendra answered (with statuses, or refusing some of their documents).
    pub calls_answered: u64,
    /// Attempts that failed: throttled, transient or refused.
    pub calls_failed: u64,
    /// Kendra refused the index: (code, message).
    pub rejection: Option<(String, String)>,
    pub last_error: Option<String>,
}

impl GroupReport {
    /// Observations of one batch's documents, in the batch's order.
    pub fn observations_of<'r>(&'r self, placement: &Placement) -> Vec<&'r Observation> {
        placement
            .positions
            .iter()
            .map(|&p| &self.observations[p])
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub groups: Vec<GroupReport>,
    /// Status calls made, each throttled retry and each half of a split included (the SDK's
    /// own retries are not counted again).
    pub calls: u64,
    /// Calls that ended in throttling.
    pub throttled: u64,
}

/// Splits documents into calls of at most ten with no DocumentId twice in one call (Kendra
/// answers by DocumentId, so the same id with other attributes must go in another call).
/// The n-th occurrence of an id goes in the n-th "lane"; each lane is cut in tens, so
/// distinct ids cost exactly ceil(n / 10) calls.
pub fn plan_calls(documents: &[&DocumentKey]) -> Vec<Vec<usize>> {
    let mut occurrences: HashMap<&str, usize> = HashMap::with_capacity(documents.len());
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

/// One call to make: some documents of one group.
#[derive(Clone, Debug)]
struct Call {
    group: usize,
    members: Vec<usize>,
    /// Times this call was put back after throttling.
    requeues: u32,
}

enum Outcome {
    /// Started, then cancelled at the cutoff.
    Cancelled,
    Done(Result<StatusAnswer, CallError>),
}

/// Runs every call of every group under one budget and reports per document. Calls start
/// when the pacer allows (never reserved ahead, so a throttle slows the very next call), at
/// most the pacer's window in flight, and none at or after the cutoff.
pub async fn check(
    source: &dyn StatusSource,
    pacer: &Pacer,
    budget: &Budget,
    groups: &[Group<'_>],
) -> CheckReport {
    let mut round = Round::new(groups, budget.cutoff.is_some());
    pacer.open(round.queue.len());
    let mut in_flight = FuturesUnordered::new();
    loop {
        let wake = start_calls(&mut round, &mut in_flight, source, pacer, budget, groups);
        if in_flight.is_empty() {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => break,
            }
            continue;
        }
        let wait = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = in_flight.next() => {
                if let Some((call, started, outcome)) = done {
                    round.record(call, outcome, started, pacer);
                }
            }
            () = wait => {}
        }
    }
    round.report
}

type InFlight<'f> =
    FuturesUnordered<std::pin::Pin<Box<dyn Future<Output = (Call, Instant, Outcome)> + Send + 'f>>>;

/// Starts every call the pacer allows now; when the next may start later, that instant.
fn start_calls<'f>(
    round: &mut Round<'_, '_>,
    in_flight: &mut InFlight<'f>,
    source: &'f dyn StatusSource,
    pacer: &Pacer,
    budget: &'f Budget,
    groups: &'f [Group<'f>],
) -> Option<Instant> {
    while in_flight.len() < pacer.window(budget.max_concurrency) && round.has_calls() {
        let now = Instant::now();
        let next = pacer.next_start(now);
        if budget.cutoff.is_some_and(|cutoff| next >= cutoff) {
            round.closed = true;
            return None;
        }
        if next > now {
            return Some(next);
        }
        let call = round.next_call()?;
        pacer.take(now);
        in_flight.push(Box::pin(run_call(source, budget, groups, call, now)));
    }
    None
}

async fn run_call(
    source: &dyn StatusSource,
    budget: &Budget,
    groups: &[Group<'_>],
    call: Call,
    started: Instant,
) -> (Call, Instant, Outcome) {
    let group = &groups[call.group];
    let documents: Vec<&DocumentKey> = call.members.iter().map(|&i| group.documents[i]).collect();
    let request = source.batch_get_document_status(group.index_id, &documents);
    let outcome = match budget.cutoff {
        Some(cutoff) => match tokio::time::timeout_at(cutoff, request).await {
            Ok(result) => Outcome::Done(result),
            Err(_) => Outcome::Cancelled,
        },
        None => Outcome::Done(request.await),
    };
    (call, started, outcome)
}

/// The state of one round: the calls still to make and what was learned so far.
struct Round<'g, 'a> {
    groups: &'g [Group<'a>],
    queue: VecDeque<Call>,
    refused: Vec<bool>,
    has_cutoff: bool,
    /// The pacer put the next slot past the cutoff: start nothing more.
    closed: bool,
    report: CheckReport,
}

impl<'g, 'a> Round<'g, 'a> {
    /// Plans the calls; documents whose attributes break Kendra's rules are refused here,
    /// on their own, and never sent.
    fn new(groups: &'g [Group<'a>], has_cutoff: bool) -> Round<'g, 'a> {
        let mut report = CheckReport::default();
        let mut queue = VecDeque::new();
        for (g, group) in groups.iter().enumerate() {
            let mut observations = vec![Observation::Unchecked; group.documents.len()];
            let mut sendable = Vec::with_capacity(group.documents.len());
            for (i, key) in group.documents.iter().enumerate() {
                match key.attribute_violation() {
                    Some(reason) => {
                        observations[i] = Observation::Refused {
                            code: "InvalidAttributes".to_string(),
                            reason,
                        }
                    }
                    None => sendable.push(i),
                }
            }
            let keys: Vec<&DocumentKey> = sendable.iter().map(|&i| group.documents[i]).collect();
            queue.extend(plan_calls(&keys).into_iter().map(|chunk| Call {
                group: g,
                members: chunk.into_iter().map(|k| sendable[k]).collect(),
                requeues: 0,
            }));
            report.groups.push(GroupReport {
                observations,
                ..GroupReport::default()
            });
        }
        Round {
            groups,
            queue,
            refused: vec![false; groups.len()],
            has_cutoff,
            closed: false,
            report,
        }
    }

    /// Whether a call may still be started.
    fn has_calls(&self) -> bool {
        !self.closed && !self.queue.is_empty()
    }

    /// The next call worth starting: none once the round is closed, and none for an index
    /// Kendra has refused.
    fn next_call(&mut self) -> Option<Call> {
        if self.closed {
            return None;
        }
        while let Some(call) = self.queue.pop_front() {
            if !self.refused[call.group] {
                return Some(call);
            }
        }
        None
    }

    fn record(&mut self, call: Call, outcome: Outcome, slot: Instant, pacer: &Pacer) {
        self.report.calls += 1;
        let Outcome::Done(result) = outcome else {
            return;
        };
        let pace = match result {
            Ok(answer) => {
                self.answered(&call, &answer);
                Pace::Answered
            }
            Err(CallError::Invalid { message }) => {
                self.split(call, message);
                Pace::Answered
            }
            Err(error) => {
                let throttled = matches!(error, CallError::Throttled { .. });
                self.failed(call, error);
                if throttled {
                    Pace::Throttled
                } else {
                    Pace::Neutral
                }
            }
        };
        pacer.record(slot, pace, Instant::now());
    }

    fn answered(&mut self, call: &Call, answer: &StatusAnswer) {
        let group = &mut self.report.groups[call.group];
        group.calls_answered += 1;
        for &i in &call.members {
            group.observations[i] =
                observe(answer, &self.groups[call.group].documents[i].document_id);
        }
    }

    /// `ValidationException`: halves go back to the front of the queue; a document refused
    /// alone fails on its own.
    fn split(&mut self, call: Call, message: String) {
        let group = &mut self.report.groups[call.group];
        group.calls_answered += 1;
        if let [only] = call.members[..] {
            group.observations[only] = Observation::Refused {
                code: "ValidationException".to_string(),
                reason: message,
            };
            return;
        }
        let (left, right) = call.members.split_at(call.members.len() / 2);
        for half in [right, left] {
            self.queue.push_front(Call {
                group: call.group,
                members: half.to_vec(),
                requeues: 0,
            });
        }
    }

    fn failed(&mut self, mut call: Call, error: CallError) {
        let group = &mut self.report.groups[call.group];
        group.calls_failed += 1;
        group.last_error = Some(error.to_string());
        for &i in &call.members {
            group.observations[i] = Observation::CallFailed;
        }
        match error {
            CallError::Throttled { .. } => {
                self.report.throttled += 1;
                if self.has_cutoff || call.requeues < MAX_REQUEUES_WITHOUT_CUTOFF {
                    call.requeues += 1;
                    self.queue.push_back(call);
                }
            }
            CallError::Rejected { code, message } => {
                group.rejection.get_or_insert((code, message));
                self.refused[call.group] = true;
            }
            CallError::Transient { .. } | CallError::Invalid { .. } => {}
        }
    }
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

    use crate::pacing::Pacer;
    use crate::testing::FakeKendra;

    fn budget() -> Budget {
        Budget {
            max_concurrency: 2,
            cutoff: None,
            deadline: None,
        }
    }

    async fn run(kendra: &FakeKendra, docs: &[DocumentKey], budget: Budget) -> CheckReport {
        let group = Group {
            index_id: crate::testing::INDEX,
            documents: docs.iter().collect(),
        };
        check(kendra, &Pacer::new(None), &budget, &[group]).await
    }

    #[tokio::test]
    async fn a_refused_call_is_split_until_the_refused_document_stands_alone() {
        let kendra = FakeKendra::default();
        let ids: Vec<String> = (0..10)
            .map(|i| {
                if i == 6 {
                    "reject-6".to_string()
                } else {
                    format!("done-{i}")
                }
            })
            .collect();
        let docs: Vec<DocumentKey> = ids.iter().map(DocumentKey::new).collect();
        let report = run(&kendra, &docs, budget()).await;
        let observations = &report.groups[0].observations;
        for (i, observation) in observations.iter().enumerate() {
            if i == 6 {
                assert!(
                    matches!(observation, Observation::Refused { code, reason } if code == "ValidationException" && reason.contains("reject-6")),
                    "{observation:?}"
                );
            } else {
                assert_eq!(observation, &Observation::status("INDEXED"), "{i}");
            }
        }
        // [0..10] refused -> [0..5] ok, [5..10] refused -> [5..7] refused, [7..10] ok ->
        // [5] ok, [6] refused alone: seven calls, every one counted.
        assert_eq!(report.calls, kendra.calls().len() as u64);
        assert_eq!(report.calls, 7);
        assert!(kendra.calls().iter().all(|c| c.len() <= 10));
        assert!(report.groups[0].rejection.is_none());
    }

    #[tokio::test]
    async fn documents_with_attributes_kendra_refuses_are_never_sent() {
        let kendra = FakeKendra::default();
        let docs = vec![
            DocumentKey::new("done-1"),
            DocumentKey {
                document_id: "done-2".into(),
                attributes: vec![("colour".into(), AttributeValue::String("red".into()))],
            },
        ];
        let report = run(&kendra, &docs, budget()).await;
        assert_eq!(kendra.calls(), vec![vec!["done-1".to_string()]]);
        assert!(matches!(
            &report.groups[0].observations[1],
            Observation::Refused { code, .. } if code == "InvalidAttributes"
        ));
    }

    /// Paced: the clock is tokio's paused clock, which jumps over the pacer's waits.
    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_goes_back_into_the_round() {
        let kendra = FakeKendra::default();
        kendra.fail_next(
            2,
            CallError::Throttled {
                message: "slow down".into(),
            },
        );
        let docs = keys(&["done-1", "done-2"]);
        let report = run(&kendra, &docs, budget()).await;
        assert_eq!((report.calls, report.throttled), (3, 2));
        assert!(
            report.groups[0]
                .observations
                .iter()
                .all(|o| o == &Observation::status("INDEXED"))
        );
        assert_eq!(report.groups[0].calls_answered, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cutoff_throttling_is_retried_a_bounded_number_of_times() {
        let kendra = FakeKendra::default();
        kendra.fail_next(
            100,
            CallError::Throttled {
                message: "slow down".into(),
            },
        );
        let report = run(&kendra, &keys(&["a"]), budget()).await;
        assert_eq!(report.calls, 1 + u64::from(MAX_REQUEUES_WITHOUT_CUTOFF));
        assert_eq!(report.groups[0].observations, vec![Observation::CallFailed]);
        assert_eq!(report.groups[0].calls_answered, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_calls_are_tried_again_until_the_cutoff_and_slow_down() {
        let kendra = FakeKendra::default();
        kendra.fail_next(
            1000,
            CallError::Throttled {
                message: "slow down".into(),
            },
        );
        let start = Instant::now();
        let budget = Budget {
            max_concurrency: 4,
            cutoff: Some(start + std::time::Duration::from_secs(30)),
            deadline: Some(start + std::time::Duration::from_secs(31)),
        };
        let pacer = Pacer::new(None);
        let docs = keys(&["a"]);
        let group = Group {
            index_id: crate::testing::INDEX,
            documents: docs.iter().collect(),
        };
        let report = check(&kendra, &pacer, &budget, &[group]).await;
        assert!(Instant::now() <= start + std::time::Duration::from_secs(30));
        assert_eq!(report.calls, report.throttled);
        assert!(
            report.calls > 5 && report.calls < 60,
            "paced, not hammered: {} calls in 30 s",
            report.calls
        );
        assert!(
            pacer.rate().is_some_and(|rate| rate < 1.0),
            "{:?}",
            pacer.rate()
        );
    }

    /// A cold process cannot tell whether it is alone; a big round opens wide at once (one
    /// call in flight per 50 it has to make), a small one a call at a time.
    #[tokio::test(start_paused = true)]
    async fn a_cold_round_opens_in_proportion_to_its_calls() {
        let budget = Budget {
            max_concurrency: 10,
            cutoff: None,
            deadline: None,
        };
        for (documents, opening) in [
            (5_000, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            (1_000, vec![1, 2]),
            (100, vec![1, 1]),
        ] {
            let kendra = FakeKendra::default();
            kendra.answer_after(std::time::Duration::from_millis(20));
            let ids: Vec<String> = (0..documents).map(|i| format!("done-{i}")).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let report = run(&kendra, &keys(&ids), budget).await;
            assert_eq!(report.calls as usize, documents / 10);
            let starts = kendra.in_flight_at_each_start();
            assert_eq!(starts[..opening.len()], opening, "{documents} documents");
        }
    }

    #[tokio::test]
    async fn a_rejected_index_stops_the_rounds_calls_for_it() {
        let kendra = FakeKendra::default();
        let docs: Vec<DocumentKey> = (0..30).map(|i| DocumentKey::new(format!("d{i}"))).collect();
        let group = Group {
            index_id: crate::testing::REFUSED_INDEX,
            documents: docs.iter().collect(),
        };
        let one_at_a_time = Budget {
            max_concurrency: 1,
            ..budget()
        };
        let report = check(&kendra, &Pacer::new(None), &one_at_a_time, &[group]).await;
        assert_eq!(report.calls, 1);
        assert_eq!(
            report.groups[0]
                .rejection
                .as_ref()
                .map(|(code, _)| code.as_str()),
            Some("ResourceNotFoundException")
        );
    }

    #[test]
    fn coalescing_merges_documents_per_index_and_operation() {
        use crate::batch::Limits;
        use serde_json::json;
        let limits = Limits {
            default_index_id: Some(crate::testing::INDEX),
            max_documents: 10,
            max_attempts: 5,
            max_attempts_limit: 5,
        };
        let parse = |value| Batch::parse(value, limits).unwrap();
        let a = parse(json!({"documents": ["x", "y"]}));
        let b = parse(json!({"documents": ["y", "z"]}));
        let c = parse(json!({"documents": ["x"], "operation": "DELETE"}));
        let coalesced = coalesce([Some(&a), None, Some(&b), Some(&c)]);
        assert_eq!(coalesced.groups.len(), 2);
        let ids: Vec<&str> = coalesced.groups[0]
            .documents
            .iter()
            .map(|d| d.document_id.as_str())
            .collect();
        assert_eq!(ids, ["x", "y", "z"]);
        assert_eq!(
            coalesced.placements[0],
            Some(Placement {
                group: 0,
                positions: vec![0, 1]
            })
        );
        assert_eq!(coalesced.placements[1], None);
        assert_eq!(
            coalesced.placements[2],
            Some(Placement {
                group: 0,
                positions: vec![1, 2]
            })
        );
        assert_eq!(
            coalesced.placements[3],
            Some(Placement {
                group: 1,
                positions: vec![0]
            })
        );
    }
}
