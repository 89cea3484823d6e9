//! What happens to one SQS message after the round: a pure decision over plain values (the
//! message's facts, what the round made of its batch, the configuration), tested without a
//! queue or a clock. `settle.rs` carries the decision out.

use serde_json::{Map, Value, json};

use crate::classify::{BatchStatus, Round};
use crate::completion::{DETAIL_TYPE_FAILED, DETAIL_TYPE_INDEXED};
use crate::config::Config;
use crate::error::Error;

/// What the decision needs to know about a message besides its batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFacts {
    pub message_id: String,
    /// The source queue is FIFO: no republishing, order kept by reporting.
    pub fifo: bool,
    /// The batch's `taskToken` (callback mode), when its body has one.
    pub task_token: Option<String>,
    /// The message's attempt number before this round (`attempt` + redeliveries).
    pub attempt_before: u64,
}

/// What the round made of a message.
#[derive(Debug)]
pub enum MessageOutcome {
    /// The body is not a valid batch: it never will be.
    Invalid(Error),
    /// Its claim-check objects could not be read just now (`PayloadUnavailable`).
    Unavailable(Error),
    /// Kendra refused its index (`KendraRequestError`).
    Refused(Error),
    /// The round ran.
    Checked(Round),
}

/// Why a task failure is sent: a refusal (its message is the cause), or failed documents
/// (the cause is built from the final result, within Step Functions' limit).
#[derive(Clone, Debug, PartialEq)]
pub enum Cause {
    Message(String),
    Failures(Map<String, Value>),
}

/// One thing to do for a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Heartbeat {
        token: String,
    },
    /// Send the unfinished batch to `RETRY_QUEUE_URL` with a delay.
    Republish {
        body: Map<String, Value>,
        delay_seconds: u32,
    },
    /// Send the finished batch's failures to `FAILURE_QUEUE_URL`.
    ReportFailures {
        body: Map<String, Value>,
    },
    /// Redelivery mode: SQS delivers the reported message again after `seconds`.
    DelayRedelivery {
        seconds: u32,
    },
    TaskSuccess {
        token: String,
        output: Map<String, Value>,
    },
    TaskFailure {
        token: String,
        error: String,
        cause: Cause,
    },
    /// A completion event on `EVENT_BUS_NAME`.
    Completed {
        detail_type: &'static str,
        detail: Map<String, Value>,
    },
}

/// The decision: effects to carry out, in order, and whether the message is reported in
/// `batchItemFailures` whatever they do. A message that is not reported is acknowledged only
/// when every effect succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub report: bool,
    pub effects: Vec<Effect>,
}

/// `DelaySeconds` (or the visibility timeout) before a message's next round:
/// `RETRY_DELAY_SECONDS * 2^attempt`, capped at `RETRY_MAX_DELAY_SECONDS`; `attempt` is the
/// message's attempt number before this round, so the first retry waits
/// `RETRY_DELAY_SECONDS`.
pub fn retry_delay_seconds(base: u32, max: u32, attempt: u64) -> u32 {
    let factor = 1u64.checked_shl(attempt.min(63) as u32).unwrap_or(u64::MAX);
    u64::from(base).saturating_mul(factor).min(u64::from(max)) as u32
}

/// Decides what happens to one message.
pub fn decide(facts: &MessageFacts, outcome: MessageOutcome, config: &Config) -> Plan {
    match outcome {
        MessageOutcome::Invalid(error) | MessageOutcome::Refused(error) => refused(facts, error),
        MessageOutcome::Unavailable(_) => Plan {
            report: true,
            effects: Vec::new(),
        },
        MessageOutcome::Checked(round) => checked(facts, round, config),
    }
}

/// A batch that is refused for good: a waiting execution is told at once (and the message
/// acknowledged, so the execution decides, not the dead-letter queue); otherwise the message
/// is reported and the redrive policy moves it to the dead-letter queue.
fn refused(facts: &MessageFacts, error: Error) -> Plan {
    match &facts.task_token {
        Some(token) => Plan {
            report: false,
            effects: vec![Effect::TaskFailure {
                token: token.clone(),
                error: error.error_type().to_string(),
                cause: Cause::Message(error.to_string()),
            }],
        },
        None => Plan {
            report: true,
            effects: Vec::new(),
        },
    }
}

fn checked(facts: &MessageFacts, round: Round, config: &Config) -> Plan {
    let mut result = round.result;
    result
        .entry("batchId")
        .or_insert_with(|| json!(facts.message_id));
    let mut effects: Vec<Effect> = facts
        .task_token
        .iter()
        .map(|token| Effect::Heartbeat {
            token: token.clone(),
        })
        .collect();
    let delay = retry_delay_seconds(
        config.retry_delay_seconds,
        config.retry_max_delay_seconds,
        facts.attempt_before,
    );
    if round.status == BatchStatus::Pending {
        let republish = config.retry_queue_url.is_some() && !facts.fifo;
        effects.push(if republish {
            Effect::Republish {
                body: result,
                delay_seconds: delay,
            }
        } else {
            Effect::DelayRedelivery { seconds: delay }
        });
        return Plan {
            report: !republish,
            effects,
        };
    }
    effects.extend(finished(facts, result, round.status, config));
    Plan {
        report: false,
        effects,
    }
}

/// A finished batch: its failures reported, its completion announced, its waiting execution
/// told.
fn finished(
    facts: &MessageFacts,
    result: Map<String, Value>,
    status: BatchStatus,
    config: &Config,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut report = result.clone();
    report.insert("sourceMessageId".into(), json!(facts.message_id));
    // A task token completes its task for whoever holds it: it goes only to Step Functions
    // (and with the batch while it still waits), never onto an event bus or a failure queue.
    report.remove("taskToken");
    if status == BatchStatus::Failed && config.failure_queue_url.is_some() {
        effects.push(Effect::ReportFailures {
            body: report.clone(),
        });
    }
    if config.event_bus_name.is_some() {
        let mut detail = report;
        detail.remove("documents");
        detail.remove("documentsRef");
        effects.push(Effect::Completed {
            detail_type: if status == BatchStatus::Succeeded {
                DETAIL_TYPE_INDEXED
            } else {
                DETAIL_TYPE_FAILED
            },
            detail,
        });
    }
    if let Some(token) = &facts.task_token {
        effects.push(if status == BatchStatus::Succeeded {
            Effect::TaskSuccess {
                token: token.clone(),
                output: result,
            }
        } else {
            Effect::TaskFailure {
                token: token.clone(),
                error: "DocumentsFailed".to_string(),
                cause: Cause::Failures(result),
            }
        });
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, Limits};
    use crate::classify::{Observation, fold_round};

    fn facts(token: Option<&str>, fifo: bool, attempt_before: u64) -> MessageFacts {
        MessageFacts {
            message_id: "m-1".into(),
            fifo,
            task_token: token.map(str::to_string),
            attempt_before,
        }
    }

    /// A round over one document seen as `status`.
    fn round(status: &str, extra: Value) -> Round {
        let mut value =
            json!({"indexId": "0123456789abcdef0123456789abcdef0123", "documents": ["d"]});
        if let (Value::Object(v), Value::Object(e)) = (&mut value, extra) {
            v.extend(e);
        }
        let limits = Limits {
            default_index_id: None,
            max_documents: 10,
            max_attempts: 60,
            max_attempts_limit: 100,
        };
        let batch = Batch::parse(value, limits).unwrap();
        fold_round(batch, &[&Observation::status(status)])
    }

    fn queues() -> Config {
        Config {
            retry_queue_url: Some("retry".into()),
            failure_queue_url: Some("failures".into()),
            event_bus_name: Some("bus".into()),
            ..Config::default()
        }
    }

    fn kinds(plan: &Plan) -> Vec<&'static str> {
        plan.effects
            .iter()
            .map(|e| match e {
                Effect::Heartbeat { .. } => "heartbeat",
                Effect::Republish { .. } => "republish",
                Effect::ReportFailures { .. } => "report-failures",
                Effect::DelayRedelivery { .. } => "delay-redelivery",
                Effect::TaskSuccess { .. } => "task-success",
                Effect::TaskFailure { .. } => "task-failure",
                Effect::Completed { .. } => "completed",
            })
            .collect()
    }

    #[test]
    fn an_unfinished_message_is_republished_with_its_batch_id_and_backoff() {
        let plan = decide(
            &facts(None, false, 2),
            MessageOutcome::Checked(round("PROCESSING", json!({}))),
            &queues(),
        );
        assert!(!plan.report);
        let Effect::Republish {
            body,
            delay_seconds,
        } = &plan.effects[0]
        else {
            panic!("{plan:?}")
        };
        assert_eq!(*delay_seconds, 120);
        assert_eq!(body["batchId"], "m-1");
        assert_eq!(body["attempt"], 1);
    }

    #[test]
    fn a_batch_keeps_the_batch_id_it_arrived_with() {
        let plan = decide(
            &facts(None, false, 0),
            MessageOutcome::Checked(round("PROCESSING", json!({"batchId": "first"}))),
            &queues(),
        );
        let Effect::Republish { body, .. } = &plan.effects[0] else {
            panic!()
        };
        assert_eq!(body["batchId"], "first");
    }

    #[test]
    fn redelivery_mode_reports_and_delays_the_message() {
        for (config, fifo) in [(Config::default(), false), (queues(), true)] {
            let plan = decide(
                &facts(None, fifo, 1),
                MessageOutcome::Checked(round("PROCESSING", json!({}))),
                &config,
            );
            assert!(plan.report);
            assert_eq!(plan.effects, vec![Effect::DelayRedelivery { seconds: 60 }]);
        }
    }

    #[test]
    fn a_finished_batch_reports_failures_and_announces_itself() {
        let plan = decide(
            &facts(None, false, 0),
            MessageOutcome::Checked(round("FAILED", json!({}))),
            &queues(),
        );
        assert!(!plan.report);
        assert_eq!(kinds(&plan), ["report-failures", "completed"]);
        let Effect::ReportFailures { body } = &plan.effects[0] else {
            panic!()
        };
        assert_eq!(
            (body["sourceMessageId"].clone(), body["batchId"].clone()),
            (json!("m-1"), json!("m-1"))
        );
        let Effect::Completed {
            detail_type,
            detail,
        } = &plan.effects[1]
        else {
            panic!()
        };
        assert_eq!(*detail_type, "Kendra Documents Failed");
        assert!(detail.get("documents").is_none());
        assert_eq!(detail["failed"][0]["documentId"], "d");

        let plan = decide(
            &facts(None, false, 0),
            MessageOutcome::Checked(round("INDEXED", json!({}))),
            &queues(),
        );
        assert_eq!(kinds(&plan), ["completed"]);
        let plan = decide(
            &facts(None, false, 0),
            MessageOutcome::Checked(round("INDEXED", json!({}))),
            &Config::default(),
        );
        assert!(plan.effects.is_empty() && !plan.report);
    }

    #[test]
    fn callback_batches_heartbeat_every_round_and_tell_the_execution_at_the_end() {
        let token = Some("t");
        let pending = decide(
            &facts(token, false, 0),
            MessageOutcome::Checked(round("PROCESSING", json!({}))),
            &queues(),
        );
        assert_eq!(kinds(&pending), ["heartbeat", "republish"]);
        let done = decide(
            &facts(token, false, 0),
            MessageOutcome::Checked(round("INDEXED", json!({}))),
            &Config::default(),
        );
        assert_eq!(kinds(&done), ["heartbeat", "task-success"]);
        let failed = decide(
            &facts(token, false, 0),
            MessageOutcome::Checked(round("FAILED", json!({}))),
            &Config::default(),
        );
        assert_eq!(kinds(&failed), ["heartbeat", "task-failure"]);
        let Effect::TaskFailure {
            error,
            cause: Cause::Failures(result),
            ..
        } = &failed.effects[1]
        else {
            panic!()
        };
        assert_eq!(error, "DocumentsFailed");
        assert_eq!(result["status"], "FAILED");
    }

    #[test]
    fn a_task_token_stays_out_of_failure_reports_and_events() {
        let plan = decide(
            &facts(Some("t"), false, 0),
            MessageOutcome::Checked(round("FAILED", json!({"taskToken": "t", "ref": "r"}))),
            &queues(),
        );
        assert_eq!(
            kinds(&plan),
            ["heartbeat", "report-failures", "completed", "task-failure"]
        );
        let Effect::ReportFailures { body } = &plan.effects[1] else {
            panic!()
        };
        let Effect::Completed { detail, .. } = &plan.effects[2] else {
            panic!()
        };
        for payload in [body, detail] {
            assert!(payload.get("taskToken").is_none(), "{payload:?}");
            assert_eq!(payload["ref"], "r", "other correlation fields stay");
        }
    }

    #[test]
    fn refused_batches_fail_the_task_at_once_or_go_to_the_dead_letter_queue() {
        let error = Error::validation("documents", "is required");
        let plan = decide(
            &facts(Some("t"), false, 0),
            MessageOutcome::Invalid(error.clone()),
            &queues(),
        );
        assert!(!plan.report);
        assert_eq!(
            plan.effects,
            vec![Effect::TaskFailure {
                token: "t".into(),
                error: "ValidationError".into(),
                cause: Cause::Message("documents is required".into()),
            }]
        );
        let plan = decide(
            &facts(None, false, 0),
            MessageOutcome::Invalid(error.clone()),
            &queues(),
        );
        assert!(plan.report && plan.effects.is_empty());
        let unavailable = Error::PayloadUnavailable {
            uri: "s3://b/k".into(),
            reason: "slow".into(),
        };
        let plan = decide(
            &facts(Some("t"), false, 0),
            MessageOutcome::Unavailable(unavailable),
            &queues(),
        );
        assert!(
            plan.report && plan.effects.is_empty(),
            "a passing S3 failure is retried, not told"
        );
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
