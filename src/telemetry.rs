//! Telemetry: the tracing subscriber, the one summary line and the CloudWatch Embedded
//! Metric Format (EMF) record of each invocation. The handler only counts; this module says
//! it.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// What one invocation did, for the summary line and the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvocationStats {
    pub documents_succeeded: u64,
    pub documents_failed: u64,
    pub documents_pending: u64,
    pub kendra_calls: u64,
    pub kendra_throttled: u64,
}

/// Where `lambda_runtime` opens the per-invocation span; that module logs nothing else.
const REQUEST_SPAN_DIRECTIVE: &str = "lambda_runtime::layers::trace=info";

/// Sets up `tracing` the way Lambda's advanced logging controls expect: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
/// else INFO. No timestamps: CloudWatch stamps every line. `lambda_runtime` runs each
/// invocation in an INFO span carrying the request id; that span stays enabled at every level
/// (a WARN or ERROR level would otherwise drop it, and the id with it), so every line logged
/// during an invocation, the runtime's own included, names the request.
pub fn init_tracing() {
    // Lambda's levels are upper case and include FATAL, which tracing calls ERROR.
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(level) if level.eq_ignore_ascii_case("fatal") => "error".to_string(),
        Ok(level) => level.to_ascii_lowercase(),
        Err(_) => std::env::var("RUST_LOG").unwrap_or_default(),
    };
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(level);
    if let Ok(directive) = REQUEST_SPAN_DIRECTIVE.parse() {
        filter = filter.add_directive(directive);
    }
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    // A subscriber already set (by a test harness) is fine: keep it.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// The EMF record for one invocation: one JSON line on stdout that CloudWatch turns into
/// metrics without any API call.
pub fn emf_record(namespace: &str, source: &str, stats: &InvocationStats) -> serde_json::Value {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let metric = |name: &str| json!({"Name": name, "Unit": "Count"});
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [
                    metric("DocumentsSucceeded"),
                    metric("DocumentsFailed"),
                    metric("DocumentsPending"),
                    metric("KendraCalls"),
                    metric("KendraThrottled"),
                ],
            }],
        },
        "source": source,
        "DocumentsSucceeded": stats.documents_succeeded,
        "DocumentsFailed": stats.documents_failed,
        "DocumentsPending": stats.documents_pending,
        "KendraCalls": stats.kendra_calls,
        "KendraThrottled": stats.kendra_throttled,
    })
}

/// Logs the summary line and prints the EMF record.
pub fn report(namespace: &str, source: &str, stats: &InvocationStats) {
    tracing::info!(
        source,
        documents_succeeded = stats.documents_succeeded,
        documents_failed = stats.documents_failed,
        documents_pending = stats.documents_pending,
        kendra_calls = stats.kendra_calls,
        kendra_throttled = stats.kendra_throttled,
        "invocation summary"
    );
    let line = emf_record(namespace, source, stats).to_string();
    let mut stdout = std::io::stdout().lock();
    // Losing a metric line must not fail the invocation.
    let _ = writeln!(stdout, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_record_declares_every_metric_it_carries() {
        let stats = InvocationStats {
            documents_succeeded: 1,
            documents_failed: 2,
            documents_pending: 3,
            kendra_calls: 4,
            kendra_throttled: 5,
        };
        let record = emf_record("Ns", "direct", &stats);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Ns");
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        let expected = [
            ("DocumentsSucceeded", 1),
            ("DocumentsFailed", 2),
            ("DocumentsPending", 3),
            ("KendraCalls", 4),
            ("KendraThrottled", 5),
        ];
        assert_eq!(names, expected.map(|(n, _)| n));
        for (name, value) in expected {
            assert_eq!(record[name], value, "{name}");
        }
        assert!(record["_aws"]["Timestamp"].as_u64().unwrap() > 0);
    }
}
