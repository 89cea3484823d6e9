//! Configuration, read once at init from the environment. A bad value stops the function's
//! start with an error that names the variable, so a broken deployment fails loudly on its
//! first cold start instead of on some later batch.

use std::time::Duration;

use crate::batch::{Limits, check_index_id};

/// The largest `DelaySeconds` SQS accepts.
pub const MAX_SQS_DELAY_SECONDS: u32 = 900;

/// Step Functions' limit on the data passed between states, and the default
/// `MAX_RESULT_BYTES` below it (room for the state machine's own fields).
pub const STEP_FUNCTIONS_PAYLOAD_LIMIT: usize = 262_144;
pub const DEFAULT_MAX_RESULT_BYTES: usize = 245_760;

/// Below this margin the answer itself (building the result, sending, the runtime's POST)
/// would risk missing the deadline.
pub const MIN_DEADLINE_MARGIN_MS: u64 = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Index used when a batch names none (`KENDRA_INDEX_ID`).
    pub kendra_index_id: Option<String>,
    /// Rounds before unfinished documents become `TIMED_OUT` (`MAX_ATTEMPTS`).
    pub max_attempts: u64,
    /// The largest `maxAttempts` a batch may ask for (`MAX_ATTEMPTS_LIMIT`).
    pub max_attempts_limit: u64,
    /// Most documents in one batch, counted as given (`MAX_DOCUMENTS`).
    pub max_documents: usize,
    /// Status calls in flight at once, per invocation (`KENDRA_MAX_CONCURRENCY`).
    pub kendra_max_concurrency: usize,
    /// Optional cap on status calls per second, per process (`KENDRA_MAX_RPS`).
    pub kendra_max_rps: Option<f64>,
    /// Time kept back from the invocation's deadline to answer (`DEADLINE_MARGIN_MS`).
    pub deadline_margin: Duration,
    /// Timeout of one attempt of any AWS call (`CALL_TIMEOUT_MS`).
    pub call_timeout: Duration,
    /// Where unfinished SQS messages are republished (`RETRY_QUEUE_URL`).
    pub retry_queue_url: Option<String>,
    pub retry_delay_seconds: u32,
    pub retry_max_delay_seconds: u32,
    /// Where failure reports go (`FAILURE_QUEUE_URL`).
    pub failure_queue_url: Option<String>,
    /// Claim-check bucket and key prefix (`PAYLOAD_BUCKET`, `PAYLOAD_PREFIX`).
    pub payload_bucket: Option<String>,
    pub payload_prefix: String,
    /// Largest direct result or task output, in bytes of UTF-8 JSON (`MAX_RESULT_BYTES`).
    pub max_result_bytes: usize,
    /// EventBridge bus for completion events (`EVENT_BUS_NAME`).
    pub event_bus_name: Option<String>,
    pub metrics_namespace: String,
    /// The function's configured timeout, where the environment gives it
    /// (`AWS_LAMBDA_FUNCTION_TIMEOUT`, set by SAM CLI and cargo-lambda, not by Lambda): the
    /// budget of a round whose announced deadline cannot be right.
    pub function_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kendra_index_id: None,
            max_attempts: 60,
            max_attempts_limit: 10_000,
            max_documents: 5000,
            kendra_max_concurrency: 10,
            kendra_max_rps: None,
            deadline_margin: Duration::from_millis(1000),
            call_timeout: Duration::from_millis(5000),
            retry_queue_url: None,
            retry_delay_seconds: 30,
            retry_max_delay_seconds: 900,
            failure_queue_url: None,
            payload_bucket: None,
            payload_prefix: "kendra-waiter/".to_string(),
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            event_bus_name: None,
            metrics_namespace: "KendraWaiter".to_string(),
            function_timeout: None,
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

/// The environment, with empty (or blank) values counted as unset: that is what a SAM
/// parameter left empty produces.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A whole number in `min..=max`, or `default` when unset.
    fn whole(
        &self,
        variable: &'static str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(variable) else {
            return Ok(default);
        };
        match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(invalid(
                variable,
                &raw,
                format!("must be a whole number from {min} to {max}"),
            )),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(lookup);
        let mut config = Config::default();
        read_batch_rules(&env, &mut config)?;
        read_kendra(&env, &mut config)?;
        read_queues(&env, &mut config)?;
        read_payloads(&env, &mut config)?;
        config.event_bus_name = env.get("EVENT_BUS_NAME");
        if let Some(namespace) = env.get("METRICS_NAMESPACE") {
            check_namespace(&namespace)
                .map_err(|rule| invalid("METRICS_NAMESPACE", &namespace, rule))?;
            config.metrics_namespace = namespace;
        }
        // Not ours to validate: a value we cannot read just leaves the fallback unknown.
        config.function_timeout = env
            .get("AWS_LAMBDA_FUNCTION_TIMEOUT")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map(Duration::from_secs);
        Ok(config)
    }

    /// The limits every batch is validated against, whichever adapter it came through.
    pub fn batch_limits(&self) -> Limits<'_> {
        Limits {
            default_index_id: self.kendra_index_id.as_deref(),
            max_documents: self.max_documents,
            max_attempts: self.max_attempts,
            max_attempts_limit: self.max_attempts_limit,
        }
    }
}

fn read_batch_rules<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(id) = env.get("KENDRA_INDEX_ID") {
        check_index_id(&id).map_err(|rule| invalid("KENDRA_INDEX_ID", &id, rule))?;
        c.kendra_index_id = Some(id);
    }
    c.max_attempts = env.whole("MAX_ATTEMPTS", 1, u64::MAX, c.max_attempts)?;
    c.max_attempts_limit = env.whole(
        "MAX_ATTEMPTS_LIMIT",
        c.max_attempts,
        u64::MAX,
        c.max_attempts_limit.max(c.max_attempts),
    )?;
    c.max_documents =
        env.whole("MAX_DOCUMENTS", 1, u32::MAX.into(), c.max_documents as u64)? as usize;
    Ok(())
}

fn read_kendra<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    c.kendra_max_concurrency = env.whole(
        "KENDRA_MAX_CONCURRENCY",
        1,
        100_000,
        c.kendra_max_concurrency as u64,
    )? as usize;
    if let Some(raw) = env.get("KENDRA_MAX_RPS") {
        // The pacer spaces calls 1/rate apart: a rate whose interval does not fit a Duration
        // would overflow it.
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 && Duration::try_from_secs_f64(1.0 / v).is_ok() => {
                c.kendra_max_rps = Some(v)
            }
            _ => {
                return Err(invalid(
                    "KENDRA_MAX_RPS",
                    &raw,
                    "must be a positive number of calls per second (decimals allowed) whose interval 1/rate fits in a duration".to_string(),
                ));
            }
        }
    }
    c.deadline_margin = Duration::from_millis(env.whole(
        "DEADLINE_MARGIN_MS",
        MIN_DEADLINE_MARGIN_MS,
        900_000,
        c.deadline_margin.as_millis() as u64,
    )?);
    c.call_timeout = Duration::from_millis(env.whole(
        "CALL_TIMEOUT_MS",
        100,
        900_000,
        c.call_timeout.as_millis() as u64,
    )?);
    Ok(())
}

fn read_queues<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    c.retry_queue_url = env.get("RETRY_QUEUE_URL");
    if let Some(url) = c.retry_queue_url.as_deref().filter(|url| is_fifo(url)) {
        return Err(invalid(
            "RETRY_QUEUE_URL",
            url,
            "must be a standard queue: a FIFO queue cannot delay single messages; FIFO sources are retried through batchItemFailures".to_string(),
        ));
    }
    let max_delay = u64::from(MAX_SQS_DELAY_SECONDS);
    c.retry_delay_seconds = env.whole(
        "RETRY_DELAY_SECONDS",
        0,
        max_delay,
        c.retry_delay_seconds.into(),
    )? as u32;
    c.retry_max_delay_seconds = env.whole(
        "RETRY_MAX_DELAY_SECONDS",
        0,
        max_delay,
        c.retry_max_delay_seconds.into(),
    )? as u32;
    c.failure_queue_url = env.get("FAILURE_QUEUE_URL");
    Ok(())
}

fn read_payloads<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    c.payload_bucket = env.get("PAYLOAD_BUCKET");
    if let Some(bucket) = &c.payload_bucket
        && (bucket.contains('/') || bucket.len() < 3 || bucket.len() > 63)
    {
        return Err(invalid(
            "PAYLOAD_BUCKET",
            bucket,
            "must be a bucket name (3 to 63 characters, no slash), not a URI or ARN".to_string(),
        ));
    }
    if let Some(prefix) = env.get("PAYLOAD_PREFIX") {
        c.payload_prefix = prefix;
    }
    c.max_result_bytes = env.whole(
        "MAX_RESULT_BYTES",
        1024,
        STEP_FUNCTIONS_PAYLOAD_LIMIT as u64,
        c.max_result_bytes as u64,
    )? as usize;
    Ok(())
}

/// SQS names FIFO queues (and so their URLs and ARNs) with a `.fifo` suffix.
pub fn is_fifo(queue_url_or_arn: &str) -> bool {
    queue_url_or_arn.trim_end_matches('/').ends_with(".fifo")
}

/// CloudWatch's rule for a metric namespace. It rejects a bad one only when the EMF record
/// reaches it, long after the start, and silently: the metrics and their alarms would be lost.
fn check_namespace(namespace: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.len() > 255 || !namespace.chars().all(allowed) || namespace.starts_with("AWS/") {
        return Err("must be a CloudWatch namespace: at most 255 characters of letters, digits and . - _ / # : or space, not starting with AWS/".to_string());
    }
    Ok(())
}

fn invalid(variable: &'static str, value: &str, rule: String) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_string(),
        rule,
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
        assert_eq!(config.max_attempts_limit, 10_000);
        assert_eq!(config.call_timeout, Duration::from_millis(5000));
        assert_eq!(config.max_result_bytes, 245_760);
        assert_eq!(config.payload_prefix, "kendra-waiter/");
        assert_eq!((config.payload_bucket, config.event_bus_name), (None, None));
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
            ("MAX_ATTEMPTS_LIMIT", "50"),
            ("CALL_TIMEOUT_MS", "750"),
            ("PAYLOAD_BUCKET", "my-bucket"),
            ("PAYLOAD_PREFIX", "p/"),
            ("MAX_RESULT_BYTES", "4096"),
            ("EVENT_BUS_NAME", "default"),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"),
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
        assert_eq!(config.max_attempts_limit, 50);
        assert_eq!(config.call_timeout, Duration::from_millis(750));
        assert_eq!(config.payload_bucket.as_deref(), Some("my-bucket"));
        assert_eq!(config.payload_prefix, "p/");
        assert_eq!(config.max_result_bytes, 4096);
        assert_eq!(config.event_bus_name.as_deref(), Some("default"));
        assert_eq!(config.function_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_attempts_limit_follows_a_larger_max_attempts() {
        let config = read(&[("MAX_ATTEMPTS", "20000")]).unwrap();
        assert_eq!(config.max_attempts_limit, 20_000);
        let error = read(&[("MAX_ATTEMPTS", "70"), ("MAX_ATTEMPTS_LIMIT", "69")]).unwrap_err();
        assert_eq!(error.variable, "MAX_ATTEMPTS_LIMIT");
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
            ("DEADLINE_MARGIN_MS", "199"),
            ("DEADLINE_MARGIN_MS", "0"),
            ("KENDRA_MAX_RPS", "1e-300"),
            ("CALL_TIMEOUT_MS", "99"),
            ("CALL_TIMEOUT_MS", "900001"),
            ("MAX_RESULT_BYTES", "1023"),
            ("MAX_RESULT_BYTES", "262145"),
            ("PAYLOAD_BUCKET", "s3://bucket/prefix"),
            ("RETRY_DELAY_SECONDS", "901"),
            ("RETRY_MAX_DELAY_SECONDS", "1000"),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
            ("METRICS_NAMESPACE", "a\"b\\c"),
            ("METRICS_NAMESPACE", &"n".repeat(256)),
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
