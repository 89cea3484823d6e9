//! The handler: recognises the event (SQS or a direct batch), hands it to its adapter under
//! the invocation's budget, and reports what happened.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::checker::{Budget, StatusSource};
use crate::config::Config;
use crate::error::Error;
use crate::publish::Publisher;
use crate::telemetry;
use crate::{sqs, step_functions};

/// The function: configuration and clients, built once at init and shared by every
/// invocation.
pub struct App<S, P> {
    config: Config,
    source: S,
    publisher: P,
}

impl<S: StatusSource, P: Publisher> App<S, P> {
    pub fn new(config: Config, source: S, publisher: P) -> App<S, P> {
        App {
            config,
            source,
            publisher,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Handles one invocation. `deadline_ms` is the invocation's deadline in milliseconds
    /// since the Unix epoch (Lambda's `Lambda-Runtime-Deadline-Ms`); `None` means no limit.
    pub async fn handle(&self, event: Value, deadline_ms: Option<u64>) -> Result<Value, Error> {
        let deadline = deadline_ms.map(instant_of);
        let budget = Budget {
            max_concurrency: self.config.kendra_max_concurrency,
            max_rps: self.config.kendra_max_rps,
            cutoff: deadline.map(|d| d.checked_sub(self.config.deadline_margin).unwrap_or(d)),
            deadline,
        };
        let (source, result, stats) = if event.get("Records").is_some() {
            let (result, stats) = match serde_json::from_value::<SqsEvent>(event) {
                Ok(event) => {
                    let (result, stats) = sqs::handle_event(
                        &event,
                        &self.config,
                        &self.source,
                        &self.publisher,
                        &budget,
                    )
                    .await;
                    let result = result.map(|response| {
                        let failures: Vec<Value> = response
                            .batch_item_failures
                            .iter()
                            .map(|f| json!({"itemIdentifier": f.item_identifier}))
                            .collect();
                        json!({ "batchItemFailures": failures })
                    });
                    (result, stats)
                }
                Err(error) => (
                    Err(Error::Validation(format!(
                        "the event has Records but is not an SQS event: {error}"
                    ))),
                    telemetry::InvocationStats::default(),
                ),
            };
            ("sqs", result, stats)
        } else {
            let (result, stats) = step_functions::handle_batch(
                event,
                self.config.batch_limits(),
                &self.source,
                &budget,
            )
            .await;
            ("direct", result, stats)
        };
        if let Err(error) = &result {
            tracing::error!(error_type = error.error_type(), error = %error, "invocation failed");
        }
        telemetry::report(&self.config.metrics_namespace, source, &stats);
        result
    }
}

/// The monotonic instant of a deadline given in milliseconds since the Unix epoch.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
