//! The claim check: lists too long for a Step Functions state, an SQS message or a task
//! output go to S3, and the payload carries `documentsRef` / `failedRef`
//! (`{"s3Uri": "s3://bucket/key", "count": N}`) instead. Batches are resolved when read and
//! results shrunk when written, so the rest of the function only ever sees inline lists.
//!
//! Objects are written before the payload naming them leaves the function, under a new key
//! each time (the invocation's request id and a counter), so no payload ever points at an
//! object that a later round changed.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::s3::{PayloadStore, StoreError};

/// Where claim-check objects go, and the store that writes them; one per invocation.
pub struct ClaimCheck<'a> {
    store: &'a dyn PayloadStore,
    bucket: Option<&'a str>,
    prefix: &'a str,
    request_id: &'a str,
    written: AtomicUsize,
}

/// An `s3://bucket/key` location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    pub fn parse(uri: &str) -> Option<S3Uri> {
        let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
        (!bucket.is_empty() && !key.is_empty()).then(|| S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The two lists a payload may carry by reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Documents,
    Failed,
}

impl List {
    pub fn field(self) -> &'static str {
        match self {
            List::Documents => "documents",
            List::Failed => "failed",
        }
    }

    pub fn ref_field(self) -> &'static str {
        match self {
            List::Documents => "documentsRef",
            List::Failed => "failedRef",
        }
    }
}

impl<'a> ClaimCheck<'a> {
    pub fn new(
        store: &'a dyn PayloadStore,
        bucket: Option<&'a str>,
        prefix: &'a str,
        request_id: &'a str,
    ) -> ClaimCheck<'a> {
        ClaimCheck {
            store,
            bucket,
            prefix,
            request_id,
            written: AtomicUsize::new(0),
        }
    }

    pub fn has_bucket(&self) -> bool {
        self.bucket.is_some()
    }

    pub fn store(&self) -> &'a dyn PayloadStore {
        self.store
    }

    /// Replaces `documentsRef` and `failedRef` of a batch object by the lists they name
    /// (`failedRef` before any inline `failed`), so that parsing sees one form only.
    pub async fn resolve(&self, object: &mut Map<String, Value>) -> Result<(), Error> {
        self.resolve_list(object, List::Documents).await?;
        self.resolve_list(object, List::Failed).await
    }

    async fn resolve_list(&self, object: &mut Map<String, Value>, list: List) -> Result<(), Error> {
        let Some(reference) = object.remove(list.ref_field()).filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let inline = object.get(list.field()).filter(|v| !v.is_null());
        if list == List::Documents && inline.is_some() {
            return Err(Error::validation(
                "documentsRef",
                "cannot be given together with documents: give one of them",
            ));
        }
        let mut items = self.read_list(&reference, list.ref_field()).await?;
        if let Some(Value::Array(inline)) = object.remove(list.field()) {
            items.extend(inline);
        }
        object.insert(list.field().to_string(), Value::Array(items));
        Ok(())
    }

    /// Reads the JSON array a reference names; its `count`, when given, must match.
    pub async fn read_list(&self, reference: &Value, field: &str) -> Result<Vec<Value>, Error> {
        let (uri, count) = parse_reference(reference, field)?;
        let body = self
            .store
            .get(&uri.bucket, &uri.key)
            .await
            .map_err(|error| read_error(field, &uri, error))?;
        let items: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
            Error::validation(
                field,
                format!("names {uri}, which is not a JSON array: {e}"),
            )
        })?;
        if let Some(count) = count.filter(|&c| c != items.len() as u64) {
            return Err(Error::validation(
                format!("{field}.count"),
                format!("is {count} but {uri} holds {} entries", items.len()),
            ));
        }
        Ok(items)
    }

    /// Writes `items` as a new object and returns the reference to put in their place.
    pub async fn write_list(&self, list: List, items: &[Value]) -> Result<Value, Error> {
        let Some(bucket) = self.bucket else {
            return Err(Error::validation(
                "PAYLOAD_BUCKET",
                "is not set: nowhere to write a claim-check object",
            ));
        };
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        // The request id alone is not unique enough: Lambda retries an asynchronous
        // invocation under the same id, and tools invoke with fixed ones. The clock makes a
        // second write of the "same" object a new key.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let uri = S3Uri {
            bucket: bucket.to_string(),
            key: format!(
                "{}results/{}/{nanos:x}-{n}-{}.json",
                self.prefix,
                self.request_id,
                list.field()
            ),
        };
        let body = serde_json::to_vec(items).unwrap_or_default();
        self.store
            .put(&uri.bucket, &uri.key, body)
            .await
            .map_err(|error| write_error(&uri, error))?;
        Ok(json!({"s3Uri": uri.to_string(), "count": items.len()}))
    }

    /// Moves `list` of `payload` to S3 (when it is there and not empty).
    pub async fn move_out(
        &self,
        payload: &mut Map<String, Value>,
        list: List,
    ) -> Result<bool, Error> {
        let items = match payload.get(list.field()) {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => return Ok(false),
        };
        let reference = self.write_list(list, items).await?;
        payload.remove(list.field());
        payload.insert(list.ref_field().to_string(), reference);
        Ok(true)
    }

    /// Shrinks `payload` until its JSON fits in `limit` bytes: `failed` goes to S3 first,
    /// then `documents`. Without a bucket, or when even that is not enough, the payload is
    /// [`Error::ResultTooLarge`]: nothing larger than the limit ever leaves the function.
    pub async fn fit(
        &self,
        payload: &mut Map<String, Value>,
        limit: usize,
        what: &'static str,
    ) -> Result<(), Error> {
        for list in [List::Failed, List::Documents] {
            let bytes = json_len(payload);
            if bytes <= limit {
                return Ok(());
            }
            if !self.has_bucket() {
                return Err(Error::ResultTooLarge {
                    what,
                    bytes,
                    limit,
                    lists_in_s3: false,
                });
            }
            self.move_out(payload, list).await?;
        }
        let bytes = json_len(payload);
        if bytes <= limit {
            Ok(())
        } else {
            Err(Error::ResultTooLarge {
                what,
                bytes,
                limit,
                lists_in_s3: true,
            })
        }
    }
}

/// Bytes of `value` as compact UTF-8 JSON.
pub fn json_len(value: &Map<String, Value>) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parse_reference(reference: &Value, field: &str) -> Result<(S3Uri, Option<u64>), Error> {
    let rule = "must be {\"s3Uri\": \"s3://bucket/key\", \"count\": N}";
    let Value::Object(object) = reference else {
        return Err(Error::validation(field, rule));
    };
    let uri = object
        .get("s3Uri")
        .and_then(Value::as_str)
        .and_then(S3Uri::parse)
        .ok_or_else(|| Error::validation(format!("{field}.s3Uri"), "must be s3://bucket/key"))?;
    let count = match object.get("count") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            Error::validation(format!("{field}.count"), "must be an integer >= 0")
        })?),
    };
    Ok((uri, count))
}

fn read_error(field: &str, uri: &S3Uri, error: StoreError) -> Error {
    match error {
        StoreError::Refused { code, message } => Error::validation(
            field,
            format!("names {uri}, which cannot be read: {code}: {message}"),
        ),
        StoreError::Transient(reason) => Error::PayloadUnavailable {
            uri: uri.to_string(),
            reason,
        },
    }
}

/// A refused write is a deployment problem (bucket missing, IAM); both kinds are retryable
/// from the caller's view, since the same batch succeeds once S3 lets the function write.
fn write_error(uri: &S3Uri, error: StoreError) -> Error {
    Error::PayloadUnavailable {
        uri: uri.to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn s3_uris_parse_and_print() {
        let uri = S3Uri::parse("s3://bucket/a/b.json").unwrap();
        assert_eq!(
            (uri.bucket.as_str(), uri.key.as_str()),
            ("bucket", "a/b.json")
        );
        assert_eq!(uri.to_string(), "s3://bucket/a/b.json");
        for bad in ["bucket/key", "s3://bucket", "s3:///key", "s3://bucket/"] {
            assert_eq!(S3Uri::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_payload_that_fits_is_left_alone() {
        let store = MemoryStore::default();
        let check = ClaimCheck::new(&store, Some("b"), "p/", "req");
        let mut payload = object(json!({"documents": ["a"], "failed": [{"documentId": "x"}]}));
        let before = payload.clone();
        check.fit(&mut payload, 1000, "result").await.unwrap();
        assert_eq!(payload, before);
        assert!(store.keys().is_empty());
    }

    #[tokio::test]
    async fn failed_goes_first_then_documents() {
        let store = MemoryStore::default();
        let check = ClaimCheck::new(&store, Some("b"), "p/", "req");
        let documents: Vec<Value> = (0..50).map(|i| json!(format!("doc-{i:04}"))).collect();
        let failed: Vec<Value> = (0..50)
            .map(|i| json!({"documentId": format!("bad-{i:04}"), "status": "FAILED"}))
            .collect();
        let mut payload = object(json!({"documents": documents, "failed": failed, "k": 1}));
        let limit = json_len(&payload) - 100;
        check.fit(&mut payload, limit, "result").await.unwrap();
        assert!(payload.get("failed").is_none() && payload.get("documents").is_some());
        assert_eq!(payload["failedRef"]["count"], 50);
        assert!(json_len(&payload) <= limit);

        let mut payload = object(json!({"documents": documents, "failed": failed}));
        check.fit(&mut payload, 300, "result").await.unwrap();
        assert_eq!(payload["documentsRef"]["count"], 50);
        assert!(json_len(&payload) <= 300);
        // Every write got its own key under the prefix and the request id.
        let keys = store.keys();
        assert_eq!(keys.len(), 3);
        assert!(
            keys.iter().all(|k| k.starts_with("b/p/results/req/")),
            "{keys:?}"
        );
        let read = check
            .read_list(&payload["documentsRef"], "documentsRef")
            .await
            .unwrap();
        assert_eq!(read, documents);
    }

    #[tokio::test]
    async fn without_a_bucket_a_large_payload_is_result_too_large() {
        let store = MemoryStore::default();
        let check = ClaimCheck::new(&store, None, "p/", "req");
        let mut payload = object(json!({"documents": ["a".repeat(2000)]}));
        let error = check.fit(&mut payload, 1024, "result").await.unwrap_err();
        assert_eq!(error.error_type(), "ResultTooLarge");
        assert!(error.to_string().contains("set PAYLOAD_BUCKET"), "{error}");
        assert!(store.keys().is_empty());
    }

    #[tokio::test]
    async fn with_a_bucket_what_stays_too_large_says_the_lists_are_out_already() {
        let store = MemoryStore::default();
        let check = ClaimCheck::new(&store, Some("b"), "p/", "req");
        let mut payload = object(json!({"documents": ["a"], "ref": "r".repeat(2000)}));
        let error = check.fit(&mut payload, 1024, "result").await.unwrap_err();
        assert_eq!(error.error_type(), "ResultTooLarge");
        assert!(error.to_string().contains("in S3 already"), "{error}");
        assert!(payload.contains_key("documentsRef"));
    }

    #[tokio::test]
    async fn references_resolve_into_lists() {
        let store = MemoryStore::default();
        store.insert("in", "docs.json", json!(["a", {"documentId": "b"}]));
        store.insert(
            "in",
            "failed.json",
            json!([{"documentId": "x", "status": "FAILED"}]),
        );
        let check = ClaimCheck::new(&store, None, "p/", "req");
        let mut batch = object(json!({
            "documentsRef": {"s3Uri": "s3://in/docs.json", "count": 2},
            "failedRef": {"s3Uri": "s3://in/failed.json"},
            "failed": [{"documentId": "y", "status": "TIMED_OUT"}],
        }));
        check.resolve(&mut batch).await.unwrap();
        assert_eq!(batch["documents"], json!(["a", {"documentId": "b"}]));
        assert_eq!(batch["failed"][0]["documentId"], "x");
        assert_eq!(batch["failed"][1]["documentId"], "y");
        assert!(batch.get("documentsRef").is_none() && batch.get("failedRef").is_none());
    }

    #[tokio::test]
    async fn bad_references_are_validation_errors_naming_the_field() {
        let store = MemoryStore::default();
        store.insert("in", "docs.json", json!(["a"]));
        store.insert("in", "scalar.json", json!(7));
        let check = ClaimCheck::new(&store, None, "p/", "req");
        let cases = [
            (json!({"documentsRef": "s3://in/docs.json"}), "documentsRef"),
            (
                json!({"documentsRef": {"s3Uri": "in/docs.json"}}),
                "documentsRef.s3Uri",
            ),
            (
                json!({"documentsRef": {"s3Uri": "s3://in/docs.json", "count": 3}}),
                "documentsRef.count",
            ),
            (
                json!({"documentsRef": {"s3Uri": "s3://in/missing.json"}}),
                "documentsRef",
            ),
            (
                json!({"documentsRef": {"s3Uri": "s3://in/scalar.json"}}),
                "documentsRef",
            ),
            (
                json!({"documents": ["a"], "documentsRef": {"s3Uri": "s3://in/docs.json"}}),
                "documentsRef",
            ),
        ];
        for (value, expected) in cases {
            match check.resolve(&mut object(value.clone())).await {
                Err(Error::Validation { field, .. }) => assert_eq!(field, expected, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_transient_read_is_payload_unavailable() {
        let store = MemoryStore::default();
        store.fail_transiently(true);
        let check = ClaimCheck::new(&store, None, "p/", "req");
        let mut batch = object(json!({"documentsRef": {"s3Uri": "s3://in/docs.json"}}));
        let error = check.resolve(&mut batch).await.unwrap_err();
        assert_eq!(error.error_type(), "PayloadUnavailable");
    }
}
