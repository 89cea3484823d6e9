//! Carrying out the SQS adapter's decisions (`sqs_outcome.rs`): heartbeats first, then each
//! effect shaped to AWS's size limits (claim check, or splitting), then sent. A message is
//! reported in `batchItemFailures` when its plan says so or when any of its effects failed,
//! so SQS delivers it again; nothing is acknowledged before everything it needs was sent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::claim_check::{ClaimCheck, List, json_len};
use crate::completion::{CompletionEvent, EventSink, MAX_ENTRIES_PER_CALL, MAX_EVENT_BYTES};
use crate::config::{Config, is_fifo};
use crate::error::Error;
use crate::publish::{
    MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, OutgoingMessage, PublishError, Publisher,
};
use crate::sizing::{SplitKind, keep_first_failures, split};
use crate::sqs_outcome::{Cause, Effect, Plan};
use crate::tasks::{MAX_CAUSE_CHARS, TaskError, TaskNotifier};
use crate::telemetry::first_ids;

/// Calls in flight at once while settling a standard queue's messages.
const MAX_CALLS_IN_FLIGHT: usize = 10;

/// Calls still unanswered this long before the invocation's deadline are given up (and their
/// messages reported), so the response always reaches Lambda in time.
pub const SEND_RESERVE: Duration = Duration::from_millis(100);

/// The record a plan belongs to, as far as settling needs it.
#[derive(Clone, Copy, Debug)]
pub struct MessageRef<'e> {
    pub message_id: &'e str,
    pub message_group_id: Option<&'e str>,
    pub receipt_handle: Option<&'e str>,
    pub source_arn: Option<&'e str>,
    /// The batch's index, the message group of its failure reports when it has none.
    pub index_id: Option<&'e str>,
}

/// Everything settling talks to.
pub struct Settler<'a> {
    pub config: &'a Config,
    pub sqs: &'a dyn Publisher,
    pub tasks: &'a dyn TaskNotifier,
    pub events: &'a dyn EventSink,
    pub claim_check: &'a ClaimCheck<'a>,
    /// No call is awaited past this instant.
    pub until: Option<Instant>,
}

/// One call to make for a message, its payload already within limits.
#[derive(Clone, Debug)]
enum Job {
    Send(OutgoingMessage),
    Succeed {
        token: String,
        output: String,
    },
    Fail {
        token: String,
        error: String,
        cause: String,
    },
    Event(CompletionEvent),
    Visibility(u32),
}

impl Settler<'_> {
    /// Settles every message; per message, whether it is reported. FIFO sources go in order,
    /// and once a message of a group is reported every later message of the group is too,
    /// unprocessed, so SQS delivers the group again in its order.
    pub async fn settle(
        &self,
        messages: &[MessageRef<'_>],
        plans: Vec<Plan>,
        fifo: bool,
    ) -> Vec<bool> {
        if fifo {
            return self.settle_in_order(messages, plans).await;
        }
        let prepared: Vec<(bool, Vec<Job>)> = stream::iter(messages.iter().zip(plans))
            .map(|(message, plan)| self.prepare(message, plan))
            .buffered(MAX_CALLS_IN_FLIGHT)
            .collect()
            .await;
        let mut reported: Vec<bool> = prepared.iter().map(|(report, _)| *report).collect();
        let jobs: Vec<(usize, Job)> = prepared
            .into_iter()
            .enumerate()
            .flat_map(|(i, (_, jobs))| jobs.into_iter().map(move |job| (i, job)))
            .collect();
        for i in self.run_jobs(messages, jobs).await {
            reported[i] = true;
        }
        reported
    }

    async fn settle_in_order(&self, messages: &[MessageRef<'_>], plans: Vec<Plan>) -> Vec<bool> {
        let mut blocked: HashSet<Option<&str>> = HashSet::new();
        let mut reported = Vec::with_capacity(plans.len());
        for (i, (message, plan)) in messages.iter().zip(plans).enumerate() {
            let group = message.message_group_id;
            let report = if blocked.contains(&group) {
                tracing::warn!(
                    message_id = message.message_id,
                    message_group_id = group,
                    "an earlier message of the group was reported; this one is reported too, unprocessed, to keep the group's order"
                );
                true
            } else {
                let (report, jobs) = self.prepare(message, plan).await;
                let jobs = jobs.into_iter().map(|job| (i, job)).collect();
                // The jobs run even when the message is reported already: a reported message's
                // visibility change (redelivery mode) is one of them.
                let failed = !self.run_jobs(messages, jobs).await.is_empty();
                report || failed
            };
            if report {
                blocked.insert(group);
            }
            reported.push(report);
        }
        reported
    }

    /// Heartbeat, then shape each effect: (reported already?, the jobs left to run).
    async fn prepare(&self, message: &MessageRef<'_>, plan: Plan) -> (bool, Vec<Job>) {
        let mut jobs = Vec::new();
        for effect in plan.effects {
            if let Effect::Heartbeat { token } = &effect {
                match self.call_task(message, self.tasks.heartbeat(token)).await {
                    TaskCall::Done => continue,
                    TaskCall::Gone => return (false, Vec::new()),
                    TaskCall::Failed => return (true, Vec::new()),
                }
            }
            match self.shape(message, effect).await {
                Ok(shaped) => jobs.extend(shaped),
                Err(error) => {
                    tracing::error!(message_id = message.message_id, error_type = error.error_type(), error = %error, "could not prepare what this message needs; reported so SQS delivers it again");
                    return (true, Vec::new());
                }
            }
        }
        (plan.report, jobs)
    }

    /// Runs jobs (sends batched per queue, events batched per call); the indexes of the
    /// messages whose jobs failed.
    async fn run_jobs(&self, messages: &[MessageRef<'_>], jobs: Vec<(usize, Job)>) -> Vec<usize> {
        let mut sends = Vec::new();
        let mut events = Vec::new();
        let mut others = Vec::new();
        for (i, job) in jobs {
            match job {
                Job::Send(message) => sends.push((i, message)),
                Job::Event(event) => events.push((i, event)),
                other => others.push((i, other)),
            }
        }
        let mut batches: Vec<Vec<(usize, Unit)>> = plan_send_batches(sends)
            .into_iter()
            .map(|b| b.into_iter().map(|(i, m)| (i, Unit::Send(m))).collect())
            .collect();
        batches.extend(events.chunks(MAX_ENTRIES_PER_CALL).map(|chunk| {
            chunk
                .iter()
                .map(|(i, e)| (*i, Unit::Event(e.clone())))
                .collect()
        }));
        batches.extend(
            others
                .into_iter()
                .map(|(i, job)| vec![(i, Unit::Other(job))]),
        );
        let failed: Vec<Vec<usize>> = stream::iter(batches)
            .map(|batch| self.run_batch(messages, batch))
            .buffer_unordered(MAX_CALLS_IN_FLIGHT)
            .collect()
            .await;
        failed.into_iter().flatten().collect()
    }

    /// One call: a `SendMessageBatch` (or a single send), a `PutEvents`, or one task or
    /// visibility call. The message indexes whose part failed.
    async fn run_batch(
        &self,
        messages: &[MessageRef<'_>],
        batch: Vec<(usize, Unit)>,
    ) -> Vec<usize> {
        let (indexes, units): (Vec<usize>, Vec<Unit>) = batch.into_iter().unzip();
        let ok: Vec<bool> = match units.first() {
            Some(Unit::Send(_)) => {
                let sends = units.into_iter().filter_map(Unit::into_send).collect();
                self.send(sends, &indexes, messages).await
            }
            Some(Unit::Event(_)) => {
                let events = units.into_iter().filter_map(Unit::into_event).collect();
                self.put_events(events, &indexes, messages).await
            }
            Some(Unit::Other(_)) => {
                let Some(Unit::Other(job)) = units.into_iter().next() else {
                    return Vec::new();
                };
                vec![self.run_other(&messages[indexes[0]], job).await]
            }
            None => Vec::new(),
        };
        indexes
            .into_iter()
            .zip(ok)
            .filter(|(_, ok)| !ok)
            .map(|(i, _)| i)
            .collect()
    }

    async fn run_other(&self, message: &MessageRef<'_>, job: Job) -> bool {
        match job {
            Job::Succeed { token, output } => {
                self.call_task(message, self.tasks.succeed(&token, output))
                    .await
                    != TaskCall::Failed
            }
            Job::Fail {
                token,
                error,
                cause,
            } => {
                self.call_task(message, self.tasks.fail(&token, &error, &cause))
                    .await
                    != TaskCall::Failed
            }
            Job::Visibility(seconds) => {
                self.delay_redelivery(message, seconds).await;
                true
            }
            Job::Send(_) | Job::Event(_) => false,
        }
    }

    /// Sets the visibility timeout of a reported message to the backoff delay. The message
    /// is reported either way; a failure here only means SQS uses the queue's own timeout.
    async fn delay_redelivery(&self, message: &MessageRef<'_>, seconds: u32) {
        let (Some(arn), Some(handle)) = (message.source_arn, message.receipt_handle) else {
            tracing::warn!(
                message_id = message.message_id,
                "no eventSourceARN or receiptHandle: the queue's visibility timeout applies"
            );
            return;
        };
        let change = self.sqs.change_message_visibility(arn, handle, seconds);
        match self.bounded(change).await {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                tracing::warn!(message_id = message.message_id, error = %error, "ChangeMessageVisibility failed: the queue's visibility timeout applies")
            }
            None => tracing::warn!(
                message_id = message.message_id,
                "ChangeMessageVisibility unanswered before the deadline"
            ),
        }
    }

    async fn call_task(
        &self,
        message: &MessageRef<'_>,
        call: impl Future<Output = Result<(), TaskError>>,
    ) -> TaskCall {
        match self.bounded(call).await {
            Some(Ok(())) => TaskCall::Done,
            Some(Err(TaskError::Gone {
                code,
                message: text,
            })) => {
                tracing::warn!(message_id = message.message_id, code = %code, reason = %text, "nobody waits for this task token any more; the message is acknowledged");
                TaskCall::Gone
            }
            Some(Err(TaskError::Failed(reason))) => {
                tracing::error!(message_id = message.message_id, reason = %reason, "a Step Functions task call failed; the message is reported so the next delivery tries again");
                TaskCall::Failed
            }
            None => {
                tracing::error!(
                    message_id = message.message_id,
                    "a Step Functions task call was unanswered before the deadline; the message is reported"
                );
                TaskCall::Failed
            }
        }
    }

    /// Awaits `call` until the settling deadline; `None` if it came first.
    async fn bounded<T>(&self, call: impl Future<Output = T>) -> Option<T> {
        match self.until {
            Some(until) => tokio::time::timeout_at(until, call).await.ok(),
            None => Some(call.await),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskCall {
    Done,
    /// Nobody waits for the token: the message is settled anyway.
    Gone,
    Failed,
}

/// A job as it travels in a batch of one kind.
enum Unit {
    Send(OutgoingMessage),
    Event(CompletionEvent),
    Other(Job),
}

impl Unit {
    fn into_send(self) -> Option<OutgoingMessage> {
        match self {
            Unit::Send(message) => Some(message),
            _ => None,
        }
    }

    fn into_event(self) -> Option<CompletionEvent> {
        match self {
            Unit::Event(event) => Some(event),
            _ => None,
        }
    }
}

/// Shaping: every payload within the limit of where it goes.
impl Settler<'_> {
    async fn shape(&self, message: &MessageRef<'_>, effect: Effect) -> Result<Vec<Job>, Error> {
        Ok(match effect {
            Effect::Heartbeat { .. } => Vec::new(),
            Effect::Republish {
                body,
                delay_seconds,
            } => self.republish(body, delay_seconds).await?,
            Effect::ReportFailures { body } => self.report_failures(message, body).await?,
            Effect::DelayRedelivery { seconds } => vec![Job::Visibility(seconds)],
            Effect::TaskSuccess { token, mut output } => {
                // The token is the waiting state's own; the execution gets the result.
                output.remove("taskToken");
                match self
                    .claim_check
                    .fit(&mut output, self.config.max_result_bytes, "task output")
                    .await
                {
                    Ok(()) => vec![Job::Succeed {
                        token,
                        output: Value::Object(output).to_string(),
                    }],
                    Err(error @ Error::ResultTooLarge { .. }) => vec![fail_job(token, &error)],
                    Err(error) => return Err(error),
                }
            }
            Effect::TaskFailure {
                token,
                error,
                cause,
            } => {
                let cause = match cause {
                    Cause::Message(text) => truncate_chars(&text, MAX_CAUSE_CHARS),
                    Cause::Failures(result) => self.failure_cause(result).await?,
                };
                vec![Job::Fail {
                    token,
                    error,
                    cause,
                }]
            }
            Effect::Completed {
                detail_type,
                detail,
            } => {
                let detail = self.fit_detail(detail, MAX_EVENT_BYTES).await?;
                let bus = self.config.event_bus_name.clone().unwrap_or_default();
                vec![Job::Event(CompletionEvent {
                    bus,
                    detail_type,
                    detail: Value::Object(detail).to_string(),
                })]
            }
        })
    }

    /// The unfinished batch, in one message or several that each fit the retry queue. A
    /// callback batch is never split (its parts would answer one task twice): without a
    /// bucket it fails its task with `ResultTooLarge` instead.
    async fn republish(
        &self,
        body: Map<String, Value>,
        delay_seconds: u32,
    ) -> Result<Vec<Job>, Error> {
        let Some(queue_url) = self.config.retry_queue_url.clone() else {
            return Ok(Vec::new());
        };
        let token = body
            .get("taskToken")
            .and_then(Value::as_str)
            .map(str::to_string);
        let parts = match (
            self.fit_queue(body, &queue_url, SplitKind::Pending).await,
            token,
        ) {
            (Ok(parts), _) => parts,
            (Err(error @ Error::ResultTooLarge { .. }), Some(token)) => {
                return Ok(vec![fail_job(token, &error)]);
            }
            (Err(error), _) => return Err(error),
        };
        Ok(parts
            .into_iter()
            .map(|part| {
                Job::Send(OutgoingMessage {
                    queue_url: queue_url.clone(),
                    body: Value::Object(part).to_string(),
                    delay_seconds: Some(delay_seconds),
                    message_group_id: None,
                    message_deduplication_id: None,
                })
            })
            .collect())
    }

    async fn report_failures(
        &self,
        message: &MessageRef<'_>,
        body: Map<String, Value>,
    ) -> Result<Vec<Job>, Error> {
        let Some(queue_url) = self.config.failure_queue_url.clone() else {
            return Ok(Vec::new());
        };
        let parts = self
            .fit_queue(body, &queue_url, SplitKind::Failures)
            .await?;
        let fifo_queue = is_fifo(&queue_url);
        let several = parts.len() > 1;
        Ok(parts
            .into_iter()
            .enumerate()
            .map(|(n, part)| {
                Job::Send(OutgoingMessage {
                    queue_url: queue_url.clone(),
                    body: Value::Object(part).to_string(),
                    delay_seconds: None,
                    message_group_id: fifo_queue.then(|| {
                        message
                            .message_group_id
                            .or(message.index_id)
                            .unwrap_or(message.message_id)
                            .to_string()
                    }),
                    message_deduplication_id: fifo_queue.then(|| match several {
                        true => format!("{}#{}", message.message_id, n + 1),
                        false => message.message_id.to_string(),
                    }),
                })
            })
            .collect())
    }

    /// One payload that fits the queue's `MaximumMessageSize`: as it is, shrunk by the claim
    /// check when there is a bucket, or split into several valid batches when there is not.
    async fn fit_queue(
        &self,
        mut body: Map<String, Value>,
        queue_url: &str,
        kind: SplitKind,
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let limit = self.sqs.maximum_message_size(queue_url).await;
        let bytes = json_len(&body);
        if bytes <= limit {
            return Ok(vec![body]);
        }
        if self.claim_check.has_bucket() {
            self.claim_check
                .fit(&mut body, limit, "SQS message")
                .await?;
            return Ok(vec![body]);
        }
        if body.contains_key("taskToken") {
            return Err(Error::ResultTooLarge {
                what: "SQS message",
                bytes,
                limit,
                lists_in_s3: false,
            });
        }
        let batch_id = body
            .get("batchId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        split(&body, limit, kind, &batch_id).map_err(|_| Error::ResultTooLarge {
            what: "SQS message",
            bytes,
            limit,
            lists_in_s3: false,
        })
    }

    /// The cause of a `DocumentsFailed` task failure: the final result without its (empty)
    /// documents, within Step Functions' 32,768 characters. When the failures do not all fit,
    /// the full list goes to S3 (`failedRef`, with a bucket) and the first ones stay inline.
    async fn failure_cause(&self, mut result: Map<String, Value>) -> Result<String, Error> {
        result.remove("documents");
        result.remove("taskToken");
        let failed = match result.get("failed") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let count = result
            .get("failedRef")
            .and_then(|r| r.get("count"))
            .and_then(Value::as_u64)
            .unwrap_or(failed.len() as u64);
        result.insert("failedCount".into(), json!(count));
        if json_len(&result) > MAX_CAUSE_CHARS && self.claim_check.has_bucket() {
            let reference = self.claim_check.write_list(List::Failed, &failed).await?;
            result.insert("failedRef".into(), reference);
        }
        if keep_first_failures(&mut result, MAX_CAUSE_CHARS).is_err() {
            result.retain(|key, _| {
                [
                    "status",
                    "batchId",
                    "succeeded",
                    "failedCount",
                    "failedRef",
                    "failedTruncated",
                ]
                .contains(&key.as_str())
            });
        }
        Ok(truncate_chars(
            &Value::Object(result).to_string(),
            MAX_CAUSE_CHARS,
        ))
    }

    /// A completion event's detail within EventBridge's limit: the failures go to S3 with a
    /// bucket, else only the first ones are kept (the failure queue and the log have all).
    async fn fit_detail(
        &self,
        mut detail: Map<String, Value>,
        limit: usize,
    ) -> Result<Map<String, Value>, Error> {
        if json_len(&detail) <= limit {
            return Ok(detail);
        }
        if self.claim_check.has_bucket() {
            self.claim_check.move_out(&mut detail, List::Failed).await?;
        }
        if json_len(&detail) > limit && keep_first_failures(&mut detail, limit).is_err() {
            detail.retain(|key, _| {
                [
                    "status",
                    "batchId",
                    "succeeded",
                    "failedCount",
                    "failedRef",
                    "failedTruncated",
                    "sourceMessageId",
                    "indexId",
                    "operation",
                ]
                .contains(&key.as_str())
            });
        }
        Ok(detail)
    }
}

fn fail_job(token: String, error: &Error) -> Job {
    Job::Fail {
        token,
        error: error.error_type().to_string(),
        cause: truncate_chars(&error.to_string(), MAX_CAUSE_CHARS),
    }
}

/// The first `max` characters of `text`.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// Sending: batched per queue, each call bounded by the settling deadline.
impl Settler<'_> {
    async fn send(
        &self,
        messages: Vec<OutgoingMessage>,
        indexes: &[usize],
        refs: &[MessageRef<'_>],
    ) -> Vec<bool> {
        let count = messages.len();
        let queue_url = messages
            .first()
            .map(|m| m.queue_url.clone())
            .unwrap_or_default();
        let sending = async {
            if count == 1 {
                match messages.into_iter().next() {
                    Some(message) => vec![self.sqs.send_message(message).await],
                    None => Vec::new(),
                }
            } else {
                self.sqs.send_message_batch(messages).await
            }
        };
        let results = self.bounded(sending).await.unwrap_or_else(|| {
            let error = PublishError {
                queue_url,
                reason: "no answer before the invocation's deadline".to_string(),
            };
            vec![Err(error); count]
        });
        outcomes(indexes, results, refs, "send")
    }

    async fn put_events(
        &self,
        events: Vec<CompletionEvent>,
        indexes: &[usize],
        refs: &[MessageRef<'_>],
    ) -> Vec<bool> {
        let count = events.len();
        let results = self
            .bounded(self.events.put_events(events))
            .await
            .unwrap_or_else(|| {
                vec![Err("no answer before the invocation's deadline".to_string()); count]
            });
        outcomes(indexes, results, refs, "PutEvents of its completion event")
    }
}

/// Per message of a batched call, whether its part succeeded; a failure (or a missing
/// result) is logged, and the message will be reported so SQS delivers it again.
fn outcomes<E: std::fmt::Display>(
    indexes: &[usize],
    results: Vec<Result<(), E>>,
    refs: &[MessageRef<'_>],
    what: &str,
) -> Vec<bool> {
    let mut results = results.into_iter();
    indexes
        .iter()
        .map(|&i| {
            let error = match results.next() {
                Some(Ok(())) => return true,
                Some(Err(error)) => error.to_string(),
                None => "no result".to_string(),
            };
            tracing::error!(message_id = refs[i].message_id, error = %error, "{what} failed; the message is reported as a batch item failure so SQS delivers it again");
            false
        })
        .collect()
}

/// Groups sends into `SendMessageBatch` calls: one queue per call, at most ten entries and
/// 256 KiB of bodies. A body too large to share a call goes alone.
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

/// Logs a finished batch's failures at ERROR: counts and the first ids, so the line stays
/// far below CloudWatch's 256 KB event limit however many failed.
pub fn log_failures(message_id: &str, result: &Map<String, Value>) {
    let failed = result
        .get("failed")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    tracing::error!(
        message_id,
        failed_count = failed.len(),
        first_failed = %first_ids(failed),
        "documents failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut tags: Vec<usize> = batches.concat().into_iter().map(|(i, _)| i).collect();
        tags.sort();
        assert_eq!(tags, (0..25).collect::<Vec<_>>());

        let big = plan_send_batches(vec![
            (0, message("q", 200_000)),
            (1, message("q", 100_000)),
            (2, message("q", 60_000)),
            (3, message("q", 300_000)),
        ]);
        let groups: Vec<Vec<usize>> = big
            .iter()
            .map(|b| b.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(groups, [vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("ééé", 2), "éé");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
