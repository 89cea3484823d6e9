//! Configuration, read once at init from the environment. A bad value stops the function's
//! start with an error that names the variable, so a broken deployment fails loudly on its
//! first cold start instead of on some later batch.

use std::time::Duration;

use crate::batch::{Limits, check_index_id};

/// The largest `DelaySeconds` SQS accepts.
pub const MAX_SQS_DELAY_SECONDS: u32 = 900;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Index used when a batch names none (`KENDRA_INDEX_ID`).
    pub kendra_index_id: Option<String>,
    /// Rounds before unfinished documents become `TIMED_OUT` (`MAX_ATTEMPTS`).
    pub max_attempts: u64,
    /// Most documents in one batch, counted as given (`MAX_DOCUMENTS`).
    pub max_documents: usize,
    /// Status calls in flight at once, per invocation (`KENDRA_MAX_CONCURRENCY`).
    pub kendra_max_concurrency: usize,
    /// Optional cap on status calls per second, per invocation (`KENDRA_MAX_RPS`).
    pub kendra_max_rps: Option<f64>,
    /// Time kept back from the invocation's deadline to answer (`DEADLINE_MARGIN_MS`).
    pub deadline_margin: Duration,
    /// Where unfinished SQS messages are republished (`RETRY_QUEUE_URL`).
    pub retry_queue_url: Option<String>,
    pub retry_delay_seconds: u32,
    pub retry_max_delay_seconds: u32,
    /// Where failure reports go (`FAILURE_QUEUE_URL`).
    pub failure_queue_url: Option<String>,
    pub metrics_namespace: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kendra_index_id: None,
            max_attempts: 60,
            max_documents: 5000,
            kendra_max_concurrency: 10,
            kendra_max_rps: None,
            deadline_margin: Duration::from_millis(1000),
            retry_queue_url: None,
            retry_delay_seconds: 30,
            retry_max_delay_seconds: 900,
            failure_queue_url: None,
            metrics_namespace: "KendraWaiter".to_string(),
        }
    }
}

/// A variable of the environment with a value the function cannot run with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}={value:?}: {rule}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub rule: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process
    /// environment. An empty (or blank) value counts as unset: that is what a SAM parameter
    /// left empty produces.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let defaults = Config::default();

        let kendra_index_id = match get("KENDRA_INDEX_ID") {
            Some(id) => {
                check_index_id(&id).map_err(|rule| invalid("KENDRA_INDEX_ID", &id, rule))?;
                Some(id)
            }
            None => None,
        };
        let max_attempts = whole("MAX_ATTEMPTS", get("MAX_ATTEMPTS"), 1, u64::MAX)?
            .unwrap_or(defaults.max_attempts);
        let max_documents = whole("MAX_DOCUMENTS", get("MAX_DOCUMENTS"), 1, u32::MAX.into())?
            .map_or(defaults.max_documents, |v| v as usize);
        let kendra_max_concurrency = whole(
            "KENDRA_MAX_CONCURRENCY",
            get("KENDRA_MAX_CONCURRENCY"),
            1,
            100_000,
        )?
        .map_or(defaults.kendra_max_concurrency, |v| v as usize);
        let kendra_max_rps = match get("KENDRA_MAX_RPS") {
            Some(raw) => match raw.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                _ => {
                    return Err(invalid(
                        "KENDRA_MAX_RPS",
                        &raw,
                        "must be a positive number of calls per second".to_string(),
                    ));
                }
            },
            None => None,
        };
        let deadline_margin = whole("DEADLINE_MARGIN_MS", get("DEADLINE_MARGIN_MS"), 0, 900_000)?
            .map_or(defaults.deadline_margin, Duration::from_millis);

        let retry_queue_url = get("RETRY_QUEUE_URL");
        if let Some(url) = retry_queue_url.as_deref().filter(|url| is_fifo(url)) {
            return Err(invalid(
                "RETRY_QUEUE_URL",
                url,
                "must be a standard queue: a FIFO queue cannot delay single messages; FIFO sources are retried through batchItemFailures".to_string(),
            ));
        }
        let max_delay = u64::from(MAX_SQS_DELAY_SECONDS);
        let retry_delay_seconds = whole(
            "RETRY_DELAY_SECONDS",
            get("RETRY_DELAY_SECONDS"),
            0,
            max_delay,
        )?
        .map_or(defaults.retry_delay_seconds, |v| v as u32);
        let retry_max_delay_seconds = whole(
            "RETRY_MAX_DELAY_SECONDS",
            get("RETRY_MAX_DELAY_SECONDS"),
            0,
            max_delay,
        )?
        .map_or(defaults.retry_max_delay_seconds, |v| v as u32);

        Ok(Config {
            kendra_index_id,
            max_attempts,
            max_documents,
            kendra_max_concurrency,
            kendra_max_rps,
            deadline_margin,
            retry_queue_url,
            retry_delay_seconds,
            retry_max_delay_seconds,
            failure_queue_url: get("FAILURE_QUEUE_URL"),
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or(defaults.metrics_namespace),
        })
    }
}

impl Config {
    /// The limits every batch is validated against, whichever adapter it came through.
    pub fn batch_limits(&self) -> Limits<'_> {
        Limits {
            default_index_id: self.kendra_index_id.as_deref(),
            max_documents: self.max_documents,
            max_attempts: self.max_attempts,
        }
    }
}

/// SQS names FIFO queues (and so their URLs and ARNs) with a `.fifo` suffix.
pub fn is_fifo(queue_url_or_arn: &str) -> bool {
    queue_url_or_arn.trim_end_matches('/').ends_with(".fifo")
}

fn invalid(variable: &'static str, value: &str, rule: String) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_string(),
        rule,
    }
}

fn whole(
    variable: &'static str,
    raw: Option<String>,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(invalid(
            variable,
            &raw,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = read(&[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.max_attempts, 60);
        assert_eq!(config.max_documents, 5000);
        assert_eq!(config.kendra_max_concurrency, 10);
        assert_eq!(config.kendra_max_rps, None);
        assert_eq!(config.deadline_margin, Duration::from_millis(1000));
        assert_eq!(
            (config.retry_delay_seconds, config.retry_max_delay_seconds),
            (30, 900)
        );
        assert_eq!(config.metrics_namespace, "KendraWaiter");
    }

    #[test]
    fn reads_every_variable() {
        let config = read(&[
            ("KENDRA_INDEX_ID", "0123456789abcdef0123456789abcdef0123"),
            ("MAX_ATTEMPTS", "7"),
            ("MAX_DOCUMENTS", "20"),
            ("KENDRA_MAX_CONCURRENCY", "3"),
            ("KENDRA_MAX_RPS", "2.5"),
            ("DEADLINE_MARGIN_MS", "250"),
            (
                "RETRY_QUEUE_URL",
                "http://127.0.0.1:5000/123456789012/check",
            ),
            ("RETRY_DELAY_SECONDS", "5"),
            ("RETRY_MAX_DELAY_SECONDS", "60"),
            (
                "FAILURE_QUEUE_URL",
                "http://127.0.0.1:5000/123456789012/failures",
            ),
            ("METRICS_NAMESPACE", "Mine"),
        ])
        .unwrap();
        assert_eq!(
            config.kendra_index_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef0123")
        );
        assert_eq!(config.max_attempts, 7);
        assert_eq!(config.max_documents, 20);
        assert_eq!(config.kendra_max_concurrency, 3);
        assert_eq!(config.kendra_max_rps, Some(2.5));
        assert_eq!(config.deadline_margin, Duration::from_millis(250));
        assert_eq!(config.retry_delay_seconds, 5);
        assert_eq!(config.retry_max_delay_seconds, 60);
        assert!(config.retry_queue_url.is_some() && config.failure_queue_url.is_some());
        assert_eq!(config.metrics_namespace, "Mine");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = read(&[("KENDRA_MAX_RPS", ""), ("MAX_ATTEMPTS", "  ")]).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("MAX_ATTEMPTS", "0"),
            ("MAX_ATTEMPTS", "ten"),
            ("MAX_ATTEMPTS", "-1"),
            ("MAX_DOCUMENTS", "0"),
            ("KENDRA_MAX_CONCURRENCY", "0"),
            ("KENDRA_MAX_CONCURRENCY", "1.5"),
            ("KENDRA_MAX_RPS", "0"),
            ("KENDRA_MAX_RPS", "-3"),
            ("KENDRA_MAX_RPS", "NaN"),
            ("KENDRA_MAX_RPS", "inf"),
            ("DEADLINE_MARGIN_MS", "soon"),
            ("RETRY_DELAY_SECONDS", "901"),
            ("RETRY_MAX_DELAY_SECONDS", "1000"),
            ("KENDRA_INDEX_ID", "too-short"),
            ("KENDRA_INDEX_ID", "-123456789abcdef0123456789abcdef0123"),
            (
                "RETRY_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/check.fifo",
            ),
        ];
        for (variable, value) in cases {
            let error = read(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{variable}={value}");
            let text = error.to_string();
            assert!(text.contains(variable), "{text}");
        }
    }

    #[test]
    fn fifo_is_recognised_by_suffix() {
        assert!(is_fifo("arn:aws:sqs:us-east-1:123456789012:q.fifo"));
        assert!(is_fifo("https://sqs.us-east-1.amazonaws.com/1/q.fifo"));
        assert!(!is_fifo("https://sqs.us-east-1.amazonaws.com/1/fifo-q"));
    }
}
