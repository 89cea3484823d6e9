//! The handler: builds the invocation's context (budget, claim check), recognises the event,
//! hands it to its adapter, and reports what happened.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::Instant;

use crate::batch::Batch;
use crate::checker::{Budget, StatusSource};
use crate::claim_check::ClaimCheck;
use crate::completion::EventSink;
use crate::config::Config;
use crate::error::Error;
use crate::invocation::{Invocation, recognise};
use crate::pacing::Pacer;
use crate::publish::Publisher;
use crate::s3::PayloadStore;
use crate::tasks::TaskNotifier;
use crate::telemetry::{self, InvocationStats};
use crate::xray::Tracer;
use crate::{ingest, sqs, step_functions};

/// The AWS services the function talks to, each behind its trait (fakes in `testing`).
pub struct Edges {
    pub kendra: Box<dyn StatusSource>,
    pub sqs: Box<dyn Publisher>,
    pub s3: Box<dyn PayloadStore>,
    pub tasks: Box<dyn TaskNotifier>,
    pub events: Box<dyn EventSink>,
}

/// The function: configuration, clients and the pacer, built once at init and shared by
/// every invocation.
pub struct App {
    config: Config,
    edges: Edges,
    pacer: Pacer,
    tracer: Tracer,
}

/// What the Runtime API says about one invocation.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub request_id: String,
    /// Lambda's `Lambda-Runtime-Deadline-Ms`: milliseconds since the Unix epoch; `None` means
    /// no limit.
    pub deadline_ms: Option<u64>,
    /// Lambda's `Lambda-Runtime-Trace-Id`: the invocation's X-Ray trace, if any.
    pub xray_trace_id: Option<String>,
}

impl Request {
    /// An invocation without a deadline (tests, tools).
    pub fn unbounded(request_id: &str) -> Request {
        Request {
            request_id: request_id.to_string(),
            deadline_ms: None,
            xray_trace_id: None,
        }
    }
}

/// Everything an adapter needs for one invocation.
pub struct Context<'a> {
    pub config: &'a Config,
    pub edges: &'a Edges,
    pub pacer: &'a Pacer,
    pub budget: Budget,
    pub request_id: &'a str,
}

impl Context<'_> {
    /// The claim check of this invocation (objects are keyed by its request id).
    pub fn claim_check(&self) -> ClaimCheck<'_> {
        ClaimCheck::new(
            self.edges.s3.as_ref(),
            self.config.payload_bucket.as_deref(),
            &self.config.payload_prefix,
            self.request_id,
        )
    }

    /// Reads a batch: claim-check references resolved, then every rule validated.
    pub async fn parse_batch(&self, value: Value) -> Result<Batch, Error> {
        let value = match value {
            Value::Object(mut object) => {
                self.claim_check().resolve(&mut object).await?;
                Value::Object(object)
            }
            other => other,
        };
        Batch::parse(value, self.config.batch_limits())
    }
}

impl App {
    pub fn new(config: Config, edges: Edges) -> App {
        let pacer = Pacer::new(config.kendra_max_rps);
        App {
            config,
            edges,
            pacer,
            tracer: Tracer::default(),
        }
    }

    /// Traces the invocations: the clients of `edges` must carry `tracer`'s interceptor.
    pub fn with_tracer(self, tracer: Tracer) -> App {
        App { tracer, ..self }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Handles one invocation.
    pub async fn handle(&self, event: Value, request: &Request) -> Result<Value, Error> {
        self.tracer.begin(request.xray_trace_id.as_deref());
        let ctx = Context {
            config: &self.config,
            edges: &self.edges,
            pacer: &self.pacer,
            budget: self.budget(request.deadline_ms),
            request_id: &request.request_id,
        };
        let (source, (result, mut stats)) = match recognise(event) {
            Ok(invocation) => (invocation.source(), dispatch(invocation, &ctx).await),
            Err(error) => ("unknown", (Err(error), InvocationStats::default())),
        };
        if let Err(error) = &result {
            tracing::error!(error_type = error.error_type(), error = %error, "invocation failed");
        }
        stats.kendra_call_rate = self.pacer.rate();
        telemetry::report(&self.config.metrics_namespace, source, &stats);
        self.tracer.finish();
        result
    }

    /// The round's budget: calls stop `DEADLINE_MARGIN_MS` before the deadline.
    fn budget(&self, deadline_ms: Option<u64>) -> Budget {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let deadline = match plausible_deadline(deadline_ms, now_ms, self.config.function_timeout) {
            Deadline::Known(remaining) => Some(remaining),
            Deadline::None => None,
            Deadline::Passed => {
                tracing::warn!(
                    deadline_ms,
                    now_ms,
                    "the invocation's deadline had already passed when it started; no call starts and every document stays UNCHECKED for the next round"
                );
                Some(Duration::ZERO)
            }
            Deadline::Implausible { why, fallback } => {
                tracing::warn!(
                    deadline_ms,
                    fallback_ms = fallback.map(|d| d.as_millis() as u64),
                    "the invocation's deadline {why}; it is treated as unknown and the round runs with {} (cargo-lambda's local runtime sends such a deadline)",
                    if fallback.is_some() {
                        "the function's configured timeout (AWS_LAMBDA_FUNCTION_TIMEOUT)"
                    } else {
                        "no cutoff"
                    }
                );
                fallback
            }
        };
        let deadline = deadline.map(|remaining| Instant::now() + remaining);
        Budget {
            max_concurrency: self.config.kendra_max_concurrency,
            cutoff: deadline.map(|d| d.checked_sub(self.config.deadline_margin).unwrap_or(d)),
            deadline,
        }
    }
}

async fn dispatch(
    invocation: Invocation,
    ctx: &Context<'_>,
) -> (Result<Value, Error>, InvocationStats) {
    match invocation {
        Invocation::Sqs(event) => sqs::handle(event, ctx).await,
        Invocation::Direct(batch) => step_functions::handle(batch, ctx).await,
        Invocation::Ingest(step) => ingest::handle(step, ctx).await,
    }
}

/// 2001-01-01T00:00:00Z in milliseconds: no real deadline is earlier.
const EARLIEST_PLAUSIBLE_DEADLINE_MS: u64 = 978_307_200_000;

/// What an announced deadline means for the round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Time left until the deadline.
    Known(Duration),
    /// No deadline was announced.
    None,
    /// The deadline had passed when the invocation started: no time for any call, so the
    /// round is PENDING with every document UNCHECKED (the contract's "no time left").
    Passed,
    /// A deadline before 2001 cannot be Lambda's (cargo-lambda's local runtime sends a
    /// duration there): the round runs for the configured timeout instead, if known.
    Implausible {
        why: &'static str,
        fallback: Option<Duration>,
    },
}

/// Reads `Lambda-Runtime-Deadline-Ms` at `now_ms`.
pub fn plausible_deadline(
    deadline_ms: Option<u64>,
    now_ms: u64,
    function_timeout: Option<Duration>,
) -> Deadline {
    let Some(deadline_ms) = deadline_ms else {
        return Deadline::None;
    };
    if deadline_ms < EARLIEST_PLAUSIBLE_DEADLINE_MS {
        Deadline::Implausible {
            why: "is before 2001 (a duration sent where Lambda sends an epoch timestamp)",
            fallback: function_timeout,
        }
    } else if deadline_ms <= now_ms {
        Deadline::Passed
    } else {
        Deadline::Known(Duration::from_millis(deadline_ms - now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn a_real_deadline_gives_the_time_left() {
        assert_eq!(
            plausible_deadline(Some(NOW + 3000), NOW, None),
            Deadline::Known(Duration::from_secs(3))
        );
        assert_eq!(plausible_deadline(None, NOW, None), Deadline::None);
    }

    #[test]
    fn cargo_lambdas_duration_is_not_a_deadline() {
        let timeout = Some(Duration::from_secs(30));
        assert_eq!(
            plausible_deadline(Some(600_000), NOW, timeout),
            Deadline::Implausible {
                why: "is before 2001 (a duration sent where Lambda sends an epoch timestamp)",
                fallback: timeout,
            }
        );
        assert!(matches!(
            plausible_deadline(Some(600_000), NOW, None),
            Deadline::Implausible { fallback: None, .. }
        ));
    }

    #[test]
    fn a_deadline_already_past_leaves_no_time() {
        let timeout = Some(Duration::from_secs(30));
        assert_eq!(
            plausible_deadline(Some(NOW - 1), NOW, timeout),
            Deadline::Passed
        );
        assert_eq!(plausible_deadline(Some(NOW), NOW, None), Deadline::Passed);
    }
}
