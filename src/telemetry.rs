//! Telemetry: the tracing subscriber, the one summary line and the CloudWatch Embedded
//! Metric Format (EMF) record of each invocation. The handler only counts; this module says
//! it.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// What one invocation did, for the summary line and the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InvocationStats {
    pub documents_succeeded: u64,
    pub documents_failed: u64,
    pub documents_pending: u64,
    pub kendra_calls: u64,
    pub kendra_throttled: u64,
    /// The status calls per second the process is paced at after this invocation (the rate
    /// it adapted to throttling), if it is paced at all.
    pub kendra_call_rate: Option<f64>,
}

/// How many ids a log line names before it says "and N more".
pub const LOGGED_IDS: usize = 5;

/// The first few document ids of a list of documents or failures, and how many more there
/// are: a log line stays far below CloudWatch's 256 KB event limit whatever the list's size.
pub fn first_ids(items: &[serde_json::Value]) -> String {
    let ids: Vec<String> = items
        .iter()
        .take(LOGGED_IDS)
        .map(|item| {
            let id = item
                .as_str()
                .or_else(|| item.get("documentId").and_then(serde_json::Value::as_str))
                .unwrap_or("?");
            // Ids may be 2,048 characters: keep each one short too.
            let short: String = id.chars().take(100).collect();
            if short.len() < id.len() {
                format!("{short}…")
            } else {
                short
            }
        })
        .collect();
    let more = items.len().saturating_sub(LOGGED_IDS);
    match more {
        0 => ids.join(", "),
        n => format!("{} and {n} more", ids.join(", ")),
    }
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
    let mut record = json!({
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
    });
    if let Some(rate) = stats.kendra_call_rate {
        if let Some(metrics) = record["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut() {
            metrics.push(json!({"Name": "KendraCallRate", "Unit": "Count/Second"}));
        }
        record["KendraCallRate"] = json!((rate * 1000.0).round() / 1000.0);
    }
    record
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
        kendra_call_rate = stats.kendra_call_rate,
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
            kendra_call_rate: None,
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
        assert!(record.get("KendraCallRate").is_none());
    }

    #[test]
    fn the_adapted_rate_is_a_metric_when_the_process_is_paced() {
        let stats = InvocationStats {
            kendra_call_rate: Some(12.3456),
            ..InvocationStats::default()
        };
        let record = emf_record("Ns", "sqs", &stats);
        let names: Vec<&str> = record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names.last(), Some(&"KendraCallRate"));
        assert_eq!(record["KendraCallRate"], 12.346);
    }

    #[test]
    fn logged_ids_are_few_and_short() {
        let items: Vec<serde_json::Value> = (0..1000)
            .map(|i| json!({"documentId": format!("{i}-{}", "x".repeat(3000))}))
            .collect();
        let line = first_ids(&items);
        assert!(line.ends_with("and 995 more"), "{line}");
        assert!(line.len() < 1000, "{}", line.len());
        assert_eq!(first_ids(&[json!("a"), json!("b")]), "a, b");
    }
}
