//! The SQS adapter (event source mapping with `ReportBatchItemFailures`). Each message body is
//! one batch; all messages' documents are checked together; then each message is settled on
//! its own: acknowledged, republished to the retry queue with a delay, reported to the
//! failure queue, or listed in `batchItemFailures` so SQS delivers it again.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::Value;
use tokio::time::Instant;

use crate::batch::{Batch, DocumentKey, Limits, Operation};
use crate::checker::{Budget, Group, StatusSource, check};
use crate::classify::{Observation, fold_round};
use crate::config::{Config, is_fifo};
use crate::error::Error;
use crate::publish::{
    MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, OutgoingMessage, PublishError, Publisher,
};
use crate::telemetry::InvocationStats;

/// SendMessageBatch calls in flight at once while settling a standard queue's messages.
const MAX_SENDS_IN_FLIGHT: usize = 10;

/// Sends still unanswered this long before the invocation's deadline are given up (and their
/// messages reported), so the response always reaches Lambda in time.
const SEND_RESERVE: Duration = Duration::from_millis(100);

/// `DelaySeconds` for a republished message: `RETRY_DELAY_SECONDS * 2^attempt`, capped at
/// `RETRY_MAX_DELAY_SECONDS`; `attempt` is the message's attempt number before this round,
/// so the first retry waits `RETRY_DELAY_SECONDS`.
pub fn retry_delay_seconds(base: u32, max: u32, attempt: u64) -> u32 {
    let factor = 1u64.checked_shl(attempt.min(63) as u32).unwrap_or(u64::MAX);
    u64::from(base).saturating_mul(factor).min(u64::from(max)) as u32
}

/// Checks every record before anything is processed: an event that is not from SQS, or a
/// record without a messageId, fails the whole invocation (an empty `itemIdentifier` would
/// make Lambda fail the whole batch anyway, and silently).
fn validate_records(event: &SqsEvent) -> Result<bool, Error> {
    if event.records.is_empty() {
        return Err(Error::Validation(
            "Records is empty: an SQS event carries at least one record".to_string(),
        ));
    }
    for (i, record) in event.records.iter().enumerate() {
        if record.event_source.as_deref() != Some("aws:sqs") {
            return Err(Error::Validation(format!(
                "Records[{i}].eventSource is {:?}: only SQS events (\"aws:sqs\") and direct batches are handled",
                record.event_source.as_deref().unwrap_or("missing")
            )));
        }
        if record.message_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Validation(format!(
                "Records[{i}] has no messageId: SQS always sends one, and batchItemFailures needs it"
            )));
        }
    }
    Ok(event
        .records
        .iter()
        .any(|r| r.event_source_arn.as_deref().is_some_and(is_fifo)))
}

/// Parses a message's body as a batch, with the attempt number counting SQS's own
/// redeliveries (`ApproximateReceiveCount - 1`).
fn parse_message(record: &SqsMessage, limits: Limits<'_>) -> Result<Batch, Error> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| Error::Validation("the message has no body".to_string()))?;
    let value: Value = serde_json::from_str(body)
        .map_err(|e| Error::Validation(format!("the message body is not JSON: {e}")))?;
    let mut batch = Batch::parse(value, limits)?;
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    batch.attempt = batch.attempt.saturating_add(receive_count - 1);
    Ok(batch)
}

/// What to do with one message after the round.
enum Decision {
    Acknowledge,
    Report,
    /// Acknowledge once this message is sent; report if the send fails.
    Send(OutgoingMessage),
}

/// Handles an SQS event. The error is only for an event that is not a valid SQS event;
/// bad messages are reported one by one.
pub async fn handle_event<S: StatusSource, P: Publisher>(
    event: &SqsEvent,
    config: &Config,
    source: &S,
    publisher: &P,
    budget: &Budget,
) -> (Result<SqsBatchResponse, Error>, InvocationStats) {
    let mut stats = InvocationStats::default();
    let fifo = match validate_records(event) {
        Ok(fifo) => fifo,
        Err(error) => return (Err(error), stats),
    };
    let limits = config.batch_limits();
    let batches: Vec<Result<Batch, Error>> = event
        .records
        .iter()
        .map(|record| parse_message(record, limits))
        .collect();

    // Coalesce: one group per (index, operation), each document once.
    let mut group_of: HashMap<(&str, Operation), usize> = HashMap::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut lookups: Vec<HashMap<&DocumentKey, usize>> = Vec::new();
    let mut placement: Vec<Option<(usize, Vec<usize>)>> = Vec::with_capacity(batches.len());
    for batch in &batches {
        let Ok(batch) = batch else {
            placement.push(None);
            continue;
        };
        let g = *group_of
            .entry((batch.index_id.as_str(), batch.operation))
            .or_insert_with(|| {
                groups.push(Group {
                    index_id: &batch.index_id,
                    documents: Vec::new(),
                });
                lookups.push(HashMap::new());
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
        placement.push(Some((g, positions)));
    }
    let report = check(source, budget, &groups).await;
    stats.kendra_calls = report.calls;
    stats.kendra_throttled = report.throttled;
    // The groups borrow the batches, which settling consumes: keep only each group's index.
    let group_index: Vec<String> = groups.iter().map(|g| g.index_id.to_string()).collect();
    drop((groups, lookups, group_of));

    // Settle each message, in order.
    let mut decisions: Vec<Decision> = Vec::with_capacity(batches.len());
    for ((record, batch), placement) in event.records.iter().zip(batches).zip(placement) {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let (batch, (g, positions)) = match (batch, placement) {
            (Ok(batch), Some(placed)) => (batch, placed),
            (Err(error), _) => {
                tracing::error!(
                    message_id,
                    error = %error,
                    "message body is not a valid batch; reported as a batch item failure so the queue's redrive policy moves it to the dead-letter queue"
                );
                decisions.push(Decision::Report);
                continue;
            }
            // Every parsed batch was placed; report rather than lose it if that ever changes.
            (Ok(_), None) => {
                decisions.push(Decision::Report);
                continue;
            }
        };
        let checked = &report.groups[g];
        if let Some((code, message)) = &checked.rejection {
            tracing::error!(
                message_id,
                index_id = %group_index[g],
                code = %code,
                message = %message,
                "Kendra refused the index; the message is reported as a batch item failure and ends in the dead-letter queue after maxReceiveCount until the configuration is fixed"
            );
            stats.documents_pending += batch.documents.len() as u64;
            decisions.push(Decision::Report);
            continue;
        }
        let observations: Vec<&Observation> = positions
            .iter()
            .map(|&p| &checked.observations[p])
            .collect();
        let attempt_before = batch.attempt;
        let round = fold_round(batch, &observations);
        stats.documents_succeeded += round.succeeded;
        stats.documents_failed += round.failed;
        stats.documents_pending += round.pending;

        let decision = if round.is_finished() {
            if round.has_failures {
                let failed = round.result.get("failed").cloned().unwrap_or_default();
                tracing::error!(
                    message_id,
                    failed = %failed,
                    "documents failed"
                );
                match &config.failure_queue_url {
                    Some(queue_url) => {
                        let mut report = round.result;
                        report.insert("sourceMessageId".into(), message_id.into());
                        let fifo_queue = is_fifo(queue_url);
                        Decision::Send(OutgoingMessage {
                            queue_url: queue_url.clone(),
                            body: Value::Object(report).to_string(),
                            delay_seconds: None,
                            message_group_id: fifo_queue.then(|| {
                                message_group(record)
                                    .unwrap_or(group_index[g].as_str())
                                    .to_string()
                            }),
                            message_deduplication_id: fifo_queue.then(|| message_id.to_string()),
                        })
                    }
                    None => Decision::Acknowledge,
                }
            } else {
                Decision::Acknowledge
            }
        } else {
            match (&config.retry_queue_url, fifo) {
                (Some(queue_url), false) => Decision::Send(OutgoingMessage {
                    queue_url: queue_url.clone(),
                    body: Value::Object(round.result).to_string(),
                    delay_seconds: Some(retry_delay_seconds(
                        config.retry_delay_seconds,
                        config.retry_max_delay_seconds,
                        attempt_before,
                    )),
                    message_group_id: None,
                    message_deduplication_id: None,
                }),
                _ => Decision::Report,
            }
        };
        decisions.push(decision);
    }

    let sender = Sender {
        publisher,
        until: budget
            .deadline
            .map(|d| d.checked_sub(SEND_RESERVE).unwrap_or(d)),
    };
    let reported = if fifo {
        settle_in_order(event, decisions, &sender).await
    } else {
        settle_concurrently(event, decisions, &sender).await
    };
    let mut seen = HashSet::new();
    let batch_item_failures = event
        .records
        .iter()
        .zip(reported)
        .filter(|(_, reported)| *reported)
        .filter_map(|(record, _)| record.message_id.clone())
        .filter(|id| seen.insert(id.clone()))
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = batch_item_failures;
    (Ok(response), stats)
}

fn message_group(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

/// Sends messages, giving up on any not answered before `until`.
struct Sender<'p, P> {
    publisher: &'p P,
    until: Option<Instant>,
}

impl<P: Publisher> Sender<'_, P> {
    /// Sends one message; `false` (the message is to be reported) when it failed.
    async fn send(&self, message: OutgoingMessage, message_id: &str) -> bool {
        let sent = self.send_batch(vec![(message, message_id)]).await;
        sent.first().copied().unwrap_or(false)
    }

    /// Sends messages to one queue in one call; per message, whether it was sent.
    async fn send_batch(&self, batch: Vec<(OutgoingMessage, &str)>) -> Vec<bool> {
        let (messages, message_ids): (Vec<OutgoingMessage>, Vec<&str>) = batch.into_iter().unzip();
        let queue_url = messages
            .first()
            .map(|m| m.queue_url.clone())
            .unwrap_or_default();
        let count = messages.len();
        let sending = async {
            if count == 1 {
                let message = messages.into_iter().next();
                match message {
                    Some(message) => vec![self.publisher.send_message(message).await],
                    None => Vec::new(),
                }
            } else {
                self.publisher.send_message_batch(messages).await
            }
        };
        let results = match self.until {
            Some(until) => tokio::time::timeout_at(until, sending)
                .await
                .unwrap_or_else(|_| {
                    let error = PublishError {
                        queue_url,
                        reason: "no answer before the invocation's deadline".to_string(),
                    };
                    vec![Err(error); count]
                }),
            None => sending.await,
        };
        message_ids
            .into_iter()
            .zip(results.into_iter().chain(std::iter::repeat_with(|| {
                Err(PublishError {
                    queue_url: String::new(),
                    reason: "no result for this message".to_string(),
                })
            })))
            .map(|(message_id, result)| match result {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(message_id, error = %error, "send failed; the message is reported as a batch item failure so SQS delivers it again");
                    false
                }
            })
            .collect()
    }
}

/// Groups sends into `SendMessageBatch` calls: one queue per call, at most ten entries and
/// 256 KiB of bodies. A body too large to share a call goes alone (and SQS judges it).
fn plan_send_batches<T>(sends: Vec<(T, OutgoingMessage)>) -> Vec<Vec<(T, OutgoingMessage)>> {
    let mut batches: Vec<Vec<(T, OutgoingMessage)>> = Vec::new();
    let mut open: HashMap<String, (usize, usize)> = HashMap::new(); // queue -> (batch, bytes)
    for (tag, message) in sends {
        let size = message.body.len();
        let slot = open.get(&message.queue_url).copied().filter(|&(b, bytes)| {
            batches[b].len() < MAX_BATCH_ENTRIES && bytes + size <= MAX_BATCH_BYTES
        });
        match slot {
            Some((b, bytes)) => {
                open.insert(message.queue_url.clone(), (b, bytes + size));
                batches[b].push((tag, message));
            }
            None => {
                open.insert(message.queue_url.clone(), (batches.len(), size));
                batches.push(vec![(tag, message)]);
            }
        }
    }
    batches
}

/// Standard queues: sends go in batches, run concurrently; a failed send reports its message.
async fn settle_concurrently<P: Publisher>(
    event: &SqsEvent,
    decisions: Vec<Decision>,
    sender: &Sender<'_, P>,
) -> Vec<bool> {
    let mut reported: Vec<bool> = decisions
        .iter()
        .map(|d| matches!(d, Decision::Report))
        .collect();
    let sends: Vec<(usize, OutgoingMessage)> = decisions
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| match d {
            Decision::Send(message) => Some((i, message)),
            _ => None,
        })
        .collect();
    let results: Vec<Vec<(usize, bool)>> = stream::iter(plan_send_batches(sends))
        .map(|batch| async move {
            let (positions, batch): (Vec<usize>, Vec<(OutgoingMessage, &str)>) = batch
                .into_iter()
                .map(|(i, message)| {
                    let id = event.records[i].message_id.as_deref().unwrap_or_default();
                    (i, (message, id))
                })
                .unzip();
            positions
                .into_iter()
                .zip(sender.send_batch(batch).await)
                .collect()
        })
        .buffer_unordered(MAX_SENDS_IN_FLIGHT)
        .collect()
        .await;
    for (i, sent) in results.into_iter().flatten() {
        reported[i] = !sent;
    }
    reported
}

/// FIFO queues: messages are settled in order, and once a message of a message group is
/// reported, every later message of that group is reported too, unprocessed, so SQS
/// delivers the group again in its order.
async fn settle_in_order<P: Publisher>(
    event: &SqsEvent,
    decisions: Vec<Decision>,
    sender: &Sender<'_, P>,
) -> Vec<bool> {
    let mut blocked: HashSet<Option<&str>> = HashSet::new();
    let mut reported = Vec::with_capacity(decisions.len());
    for (record, decision) in event.records.iter().zip(decisions) {
        let group = message_group(record);
        let id = record.message_id.as_deref().unwrap_or_default();
        let report = if blocked.contains(&group) {
            tracing::warn!(
                message_id = id,
                message_group_id = group,
                "an earlier message of the group was reported; this one is reported too, unprocessed, to keep the group's order"
            );
            true
        } else {
            match decision {
                Decision::Acknowledge => false,
                Decision::Report => true,
                Decision::Send(message) => !sender.send(message, id).await,
            }
        };
        if report {
            blocked.insert(group);
        }
        reported.push(report);
    }
    reported
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{CallError, StatusAnswer, StatusEntry};
    use serde_json::json;
    use std::sync::Mutex;

    const INDEX: &str = "0123456789abcdef0123456789abcdef0123";
    const REFUSED: &str = "ffffffffffffffffffffffffffffffffffff";

    /// Kendra in memory: ids starting with "done" are INDEXED, "bad" FAILED, the rest
    /// PROCESSING; the index REFUSED is refused.
    struct FakeKendra;

    impl StatusSource for FakeKendra {
        async fn batch_get_document_status(
            &self,
            index_id: &str,
            documents: &[&DocumentKey],
        ) -> Result<StatusAnswer, CallError> {
            if index_id == REFUSED {
                return Err(CallError::Rejected {
                    code: "ResourceNotFoundException".into(),
                    message: "no such index".into(),
                });
            }
            let statuses = documents
                .iter()
                .map(|d| {
                    let status = match &d.document_id {
                        id if id.starts_with("done") => "INDEXED",
                        id if id.starts_with("bad") => "FAILED",
                        _ => "PROCESSING",
                    };
                    StatusEntry {
                        document_id: d.document_id.clone(),
                        status: Some(status.into()),
                        failure_code: None,
                        failure_reason: None,
                    }
                })
                .collect();
            Ok(StatusAnswer {
                statuses,
                errors: Vec::new(),
            })
        }
    }

    /// Records sends; sends to a URL containing "broken" fail.
    #[derive(Default)]
    struct FakeQueue(Mutex<Vec<OutgoingMessage>>);

    impl Publisher for FakeQueue {
        async fn send_message(&self, message: OutgoingMessage) -> Result<(), PublishError> {
            let broken = message.queue_url.contains("broken");
            let queue_url = message.queue_url.clone();
            self.0.lock().unwrap().push(message);
            if broken {
                return Err(PublishError {
                    queue_url,
                    reason: "scripted".into(),
                });
            }
            Ok(())
        }
    }

    fn record(id: &str, group: Option<&str>, receive_count: u32, body: Value) -> Value {
        let mut attributes = json!({"ApproximateReceiveCount": receive_count.to_string()});
        if let Some(group) = group {
            attributes["MessageGroupId"] = json!(group);
        }
        let arn = if group.is_some() {
            "arn:aws:sqs:us-east-1:1:q.fifo"
        } else {
            "arn:aws:sqs:us-east-1:1:q"
        };
        json!({"messageId": id, "body": body.as_str().map_or_else(|| body.to_string(), str::to_string),
               "attributes": attributes, "eventSource": "aws:sqs", "eventSourceARN": arn})
    }

    async fn run(config: &Config, records: Vec<Value>) -> (Vec<String>, Vec<OutgoingMessage>) {
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
        let queue = FakeQueue::default();
        let budget = Budget {
            max_concurrency: 4,
            max_rps: None,
            cutoff: None,
            deadline: None,
        };
        let (response, _) = handle_event(&event, config, &FakeKendra, &queue, &budget).await;
        let reported = response
            .unwrap()
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        (reported, queue.0.into_inner().unwrap())
    }

    fn batch(documents: Value) -> Value {
        json!({"indexId": INDEX, "documents": documents})
    }

    #[tokio::test]
    async fn outcome_rules_for_a_standard_queue() {
        let config = Config {
            retry_queue_url: Some("retry".into()),
            failure_queue_url: Some("failures".into()),
            ..Config::default()
        };
        let (reported, sent) = run(
            &config,
            vec![
                record("done", None, 1, batch(json!(["done-1"]))),
                record("pending", None, 3, batch(json!(["done-2", "wait-1"]))),
                record("failed", None, 1, batch(json!(["bad-1", "done-3"]))),
                record("poison", None, 1, json!("not json")),
                record(
                    "refused",
                    None,
                    1,
                    json!({"indexId": REFUSED, "documents": ["x"]}),
                ),
            ],
        )
        .await;
        assert_eq!(reported, ["poison", "refused"]);
        assert_eq!(sent.len(), 2);
        let retry = sent.iter().find(|m| m.queue_url == "retry").unwrap();
        // attempt before the round: 0 + (3 - 1) = 2, so 30 * 2^2 = 120 s.
        assert_eq!(retry.delay_seconds, Some(120));
        let body: Value = serde_json::from_str(&retry.body).unwrap();
        assert_eq!(
            (body["attempt"].clone(), body["documents"].clone()),
            (json!(3), json!(["wait-1"]))
        );
        assert_eq!(body["succeeded"], 1);
        let report = sent.iter().find(|m| m.queue_url == "failures").unwrap();
        let body: Value = serde_json::from_str(&report.body).unwrap();
        assert_eq!(body["status"], "FAILED");
        assert_eq!(body["sourceMessageId"], "failed");
        assert_eq!(body["failed"][0]["documentId"], "bad-1");
    }

    #[tokio::test]
    async fn without_queues_unfinished_messages_are_reported_and_failures_acknowledged() {
        let (reported, sent) = run(
            &Config::default(),
            vec![
                record("pending", None, 1, batch(json!(["wait-1"]))),
                record("failed", None, 1, batch(json!(["bad-1"]))),
            ],
        )
        .await;
        assert_eq!(reported, ["pending"]);
        assert!(sent.is_empty());
    }

    #[tokio::test]
    async fn a_failed_send_reports_its_message() {
        let config = Config {
            retry_queue_url: Some("broken-retry".into()),
            failure_queue_url: Some("broken-failures".into()),
            ..Config::default()
        };
        let (reported, sent) = run(
            &config,
            vec![
                record("pending", None, 1, batch(json!(["wait-1"]))),
                record("failed", None, 1, batch(json!(["bad-1"]))),
                record("done", None, 1, batch(json!(["done-1"]))),
            ],
        )
        .await;
        assert_eq!(reported, ["pending", "failed"]);
        assert_eq!(sent.len(), 2);
    }

    #[tokio::test]
    async fn fifo_groups_are_reported_from_their_first_failure_on() {
        let config = Config {
            retry_queue_url: Some("retry".into()),
            failure_queue_url: Some("broken-failures".into()),
            ..Config::default()
        };
        let (reported, sent) = run(
            &config,
            vec![
                record("a1", Some("a"), 1, batch(json!(["done-1"]))),
                record("a2", Some("a"), 1, batch(json!(["wait-1"]))),
                record("a3", Some("a"), 1, batch(json!(["done-2"]))),
                record("b1", Some("b"), 1, batch(json!(["bad-1"]))),
                record("b2", Some("b"), 1, batch(json!(["done-3"]))),
                record("c1", Some("c"), 1, batch(json!(["done-4"]))),
            ],
        )
        .await;
        // a2 is unfinished (no retry queue for FIFO), b1's failure report fails to send.
        assert_eq!(reported, ["a2", "a3", "b1", "b2"]);
        assert_eq!(
            sent.len(),
            1,
            "only b1's report was tried; nothing republished"
        );
        assert_eq!(
            sent[0].message_group_id.as_deref(),
            None,
            "a standard failure queue"
        );
    }

    #[tokio::test]
    async fn a_fifo_failure_queue_gets_group_and_deduplication_ids() {
        let config = Config {
            failure_queue_url: Some("failures.fifo".into()),
            ..Config::default()
        };
        let (reported, sent) = run(
            &config,
            vec![record("b1", Some("g"), 1, batch(json!(["bad-1"])))],
        )
        .await;
        assert!(reported.is_empty());
        assert_eq!(sent[0].message_group_id.as_deref(), Some("g"));
        assert_eq!(sent[0].message_deduplication_id.as_deref(), Some("b1"));
    }

    fn message(queue: &str, bytes: usize) -> OutgoingMessage {
        OutgoingMessage {
            queue_url: queue.to_string(),
            body: "x".repeat(bytes),
            delay_seconds: None,
            message_group_id: None,
            message_deduplication_id: None,
        }
    }

    #[test]
    fn sends_are_batched_per_queue_within_sqs_limits() {
        let sends: Vec<(usize, OutgoingMessage)> = (0..25)
            .map(|i| {
                (
                    i,
                    message(if i % 5 == 0 { "failures" } else { "retry" }, 100),
                )
            })
            .collect();
        let batches = plan_send_batches(sends);
        let sizes: Vec<(String, usize)> = batches
            .iter()
            .map(|b| (b[0].1.queue_url.clone(), b.len()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("failures".into(), 5),
                ("retry".into(), 10),
                ("retry".into(), 10)
            ]
        );
        assert!(
            batches
                .iter()
                .all(|b| b.iter().all(|(_, m)| m.queue_url == b[0].1.queue_url))
        );
        let mut tags: Vec<usize> = batches.concat().into_iter().map(|(i, _)| i).collect();
        tags.sort();
        assert_eq!(tags, (0..25).collect::<Vec<_>>());

        let big = plan_send_batches(vec![
            (0, message("q", 200_000)),
            (1, message("q", 100_000)),
            (2, message("q", 60_000)),
            (3, message("q", 300_000)),
        ]);
        let sizes: Vec<Vec<usize>> = big
            .iter()
            .map(|b| b.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(sizes, [vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn retry_delay_doubles_from_the_base_and_stops_at_the_cap() {
        assert_eq!(retry_delay_seconds(30, 900, 0), 30);
        assert_eq!(retry_delay_seconds(30, 900, 1), 60);
        assert_eq!(retry_delay_seconds(30, 900, 4), 480);
        assert_eq!(retry_delay_seconds(30, 900, 5), 900);
        assert_eq!(retry_delay_seconds(30, 900, 64), 900);
        assert_eq!(retry_delay_seconds(30, 900, u64::MAX), 900);
        assert_eq!(retry_delay_seconds(0, 900, 10), 0);
        assert_eq!(retry_delay_seconds(900, 10, 0), 10);
    }
}
