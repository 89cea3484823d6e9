//! Fitting a result into a size limit without S3: splitting it into several valid batches
//! (SQS messages) or keeping only the first failures (a task failure's cause, an event's
//! detail). Pure functions over JSON values; the claim check (`claim_check.rs`) is the other
//! way, used when a bucket is configured.

use serde_json::{Map, Value, json};

use crate::claim_check::json_len;

/// How many failures a shortened list keeps at most, however small they are: a cause or an
/// event is for reading, the full list is elsewhere.
pub const FIRST_FAILURES: usize = 100;

/// `payload` cannot be split into parts of the limit: one entry alone, or the fields every
/// part repeats, are too large.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot split into parts of {limit} bytes: {why}")]
pub struct CannotSplit {
    pub limit: usize,
    pub why: String,
}

/// What a split distributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    /// An unfinished batch to republish: the pending `documents` are shared out; `succeeded`,
    /// `failed` and `counts` stay with the first part, so totals still add up.
    Pending,
    /// A finished batch's failure report: the `failed` entries are shared out; `succeeded`
    /// and `counts` stay with the first part.
    Failures,
}

/// Splits `payload` into parts of at most `limit` bytes each. Every part keeps the
/// correlation fields and gets `batchId` = `"{batch_id}#{n}"` (n from 1), so a consumer can
/// tell the parts of one batch apart from a duplicate.
pub fn split(
    payload: &Map<String, Value>,
    limit: usize,
    kind: SplitKind,
    batch_id: &str,
) -> Result<Vec<Map<String, Value>>, CannotSplit> {
    let shared = match kind {
        SplitKind::Pending => "documents",
        SplitKind::Failures => "failed",
    };
    let items = payload
        .get(shared)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut first = payload.clone();
    first.insert(shared.to_string(), json!([]));
    let mut rest = first.clone();
    rest.insert("succeeded".into(), json!(0));
    rest.insert("counts".into(), json!({}));
    if kind == SplitKind::Pending {
        rest.insert("failed".into(), json!([]));
    }
    let mut parts = vec![first];
    for item in items {
        let placed = parts
            .last_mut()
            .is_some_and(|part| try_push(part, shared, &item, limit, batch_id));
        if !placed {
            let mut part = rest.clone();
            if !try_push(&mut part, shared, &item, limit, batch_id) {
                return Err(CannotSplit {
                    limit,
                    why: "one entry with the fields every part carries is larger".to_string(),
                });
            }
            parts.push(part);
        }
    }
    number_parts(&mut parts, batch_id);
    if kind == SplitKind::Pending
        && parts
            .iter()
            .any(|p| p[shared].as_array().is_none_or(Vec::is_empty))
    {
        return Err(CannotSplit {
            limit,
            why: "the first part's own fields (failed, counts, correlation data) leave no room for a document".to_string(),
        });
    }
    match parts.iter().find(|part| json_len(part) > limit) {
        Some(_) => Err(CannotSplit {
            limit,
            why: "the first part's own fields (failed, counts, correlation data) are larger"
                .to_string(),
        }),
        None => Ok(parts),
    }
}

/// Appends `item` to `part[field]` if the part (with its final `batchId`) stays in `limit`.
fn try_push(
    part: &mut Map<String, Value>,
    field: &str,
    item: &Value,
    limit: usize,
    batch_id: &str,
) -> bool {
    let Some(Value::Array(list)) = part.get_mut(field) else {
        return false;
    };
    list.push(item.clone());
    // The longest batchId a part can get (`#` and up to 20 digits).
    part.insert("batchId".into(), json!(format!("{batch_id}#{}", u64::MAX)));
    if json_len(part) <= limit {
        return true;
    }
    if let Some(Value::Array(list)) = part.get_mut(field) {
        list.pop();
    }
    false
}

fn number_parts(parts: &mut [Map<String, Value>], batch_id: &str) {
    for (n, part) in parts.iter_mut().enumerate() {
        part.insert("batchId".into(), json!(format!("{batch_id}#{}", n + 1)));
    }
}

/// Keeps only as many of `payload`'s failures as fit in `limit` bytes (at most
/// [`FIRST_FAILURES`]), adding `failedCount` and `failedTruncated` so a reader knows the list
/// is partial. Returns whether anything was dropped; `Err` if not even the other fields fit.
pub fn keep_first_failures(
    payload: &mut Map<String, Value>,
    limit: usize,
) -> Result<bool, CannotSplit> {
    let failed = match payload.remove("failed") {
        Some(Value::Array(failed)) => failed,
        other => {
            if let Some(other) = other {
                payload.insert("failed".into(), other);
            }
            Vec::new()
        }
    };
    let total = failed.len();
    payload.insert("failed".into(), json!([]));
    if !payload.contains_key("failedCount") {
        payload.insert("failedCount".into(), json!(total));
    }
    let mut kept = 0;
    for item in failed.into_iter().take(FIRST_FAILURES) {
        if !try_push_plain(payload, item, limit) {
            break;
        }
        kept += 1;
    }
    let truncated = kept < total;
    if truncated {
        payload.insert("failedTruncated".into(), json!(true));
    }
    if json_len(payload) > limit {
        return Err(CannotSplit {
            limit,
            why: "the fields besides the failures are larger".to_string(),
        });
    }
    Ok(truncated)
}

fn try_push_plain(payload: &mut Map<String, Value>, item: Value, limit: usize) -> bool {
    let Some(Value::Array(list)) = payload.get_mut("failed") else {
        return false;
    };
    list.push(item);
    // Room for `"failedTruncated":true` if it comes to that.
    if json_len(payload) + 24 <= limit {
        return true;
    }
    if let Some(Value::Array(list)) = payload.get_mut("failed") {
        list.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn ids(parts: &[Map<String, Value>], field: &str) -> Vec<String> {
        parts
            .iter()
            .flat_map(|p| p[field].as_array().cloned().unwrap_or_default())
            .map(|v| {
                v.as_str()
                    .map_or_else(|| v["documentId"].to_string(), str::to_string)
            })
            .collect()
    }

    #[test]
    fn a_pending_batch_splits_into_valid_parts_that_add_up() {
        let documents: Vec<Value> = (0..40).map(|i| json!(format!("document-{i:03}"))).collect();
        let payload = object(json!({
            "indexId": "i", "operation": "PUT", "documents": documents, "attempt": 2,
            "succeeded": 7, "failed": [{"documentId": "x", "status": "FAILED"}],
            "counts": {"PROCESSING": 40}, "status": "PENDING", "requestId": "r-1",
        }));
        let parts = split(&payload, 400, SplitKind::Pending, "m-1").unwrap();
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| json_len(p) <= 400));
        assert_eq!(
            ids(&parts, "documents"),
            ids(std::slice::from_ref(&payload), "documents")
        );
        let succeeded: u64 = parts.iter().map(|p| p["succeeded"].as_u64().unwrap()).sum();
        assert_eq!(succeeded, 7);
        assert_eq!(ids(&parts, "failed").len(), 1);
        for (n, part) in parts.iter().enumerate() {
            assert_eq!(part["batchId"], json!(format!("m-1#{}", n + 1)));
            assert_eq!(part["requestId"], "r-1");
            assert!(!part["documents"].as_array().unwrap().is_empty());
        }
    }

    #[test]
    fn a_failure_report_splits_its_failures() {
        let failed: Vec<Value> = (0..30)
            .map(|i| json!({"documentId": format!("bad-{i:03}"), "status": "FAILED"}))
            .collect();
        let payload =
            object(json!({"documents": [], "failed": failed, "succeeded": 3, "status": "FAILED"}));
        let parts = split(&payload, 500, SplitKind::Failures, "m").unwrap();
        assert!(parts.len() > 1 && parts.iter().all(|p| json_len(p) <= 500));
        assert_eq!(ids(&parts, "failed").len(), 30);
        assert_eq!(parts[1]["succeeded"], 0);
    }

    #[test]
    fn an_entry_larger_than_the_limit_cannot_be_split() {
        let payload = object(json!({"documents": ["x".repeat(600)], "failed": []}));
        assert!(split(&payload, 500, SplitKind::Pending, "m").is_err());
    }

    #[test]
    fn first_failures_fit_and_say_they_are_partial() {
        let failed: Vec<Value> = (0..500)
            .map(|i| json!({"documentId": format!("bad-{i:05}"), "status": "FAILED"}))
            .collect();
        let mut payload = object(json!({"status": "FAILED", "failed": failed}));
        assert!(keep_first_failures(&mut payload, 4000).unwrap());
        assert!(json_len(&payload) <= 4000);
        assert_eq!(payload["failedCount"], 500);
        assert_eq!(payload["failedTruncated"], true);
        assert_eq!(payload["failed"][0]["documentId"], "bad-00000");

        let mut small = object(json!({"failed": [{"documentId": "a"}]}));
        assert!(!keep_first_failures(&mut small, 4000).unwrap());
        assert!(small.get("failedTruncated").is_none());
    }
}
