//! The ingest adapter: the three steps of `statemachine/wait-for-ingest.asl.json` that need
//! the function. An ingest names a manifest in S3 of any size; no list of documents ever
//! passes between states, only S3 references and counts.
//!
//! - `plan`: streams the manifest, writes one batch object per `batchSize` documents and one
//!   items object (a JSON array of batches, each with `documentsRef`) that the Distributed
//!   Map reads with its `ItemReader`.
//! - `record`: stores one batch's final outcome (counts, `failed` or `failedRef`).
//! - `summarise`: reads every recorded outcome, writes one object listing every failed
//!   document, and returns the ingest's result.
//!
//! Objects live under `s3://PAYLOAD_BUCKET/PAYLOAD_PREFIX/ingest/<ingestId>/`; the ingest id
//! is the execution's name, so a new ingest never touches another's objects.

use futures_util::StreamExt;
use futures_util::stream::{self, FuturesUnordered};
use serde_json::{Map, Value, json};

use crate::batch::{Batch, check_index_id};
use crate::claim_check::{ClaimCheck, S3Uri};
use crate::error::Error;
use crate::handler::Context;
use crate::manifest::{ManifestFormat, ManifestSplitter};
use crate::s3::{PayloadStore, StoreError};
use crate::telemetry::InvocationStats;

/// S3 requests in flight at once while planning or summarising.
const MAX_OBJECTS_IN_FLIGHT: usize = 32;

/// The field that marks a batch of an ingest, holding the ingest's id: the wait loop ends
/// such a batch with its result whatever its status, and the `record` step files it under it.
pub const INGEST_MARKER: &str = "kendraWaiterIngest";

/// Fields of an ingest request the plan reads itself; the rest is the caller's correlation
/// data and goes into every batch.
const PLAN_FIELDS: [&str; 4] = ["manifest", "indexId", "operation", "maxAttempts"];

/// One step of an ingest, as the state machine sends it.
#[derive(Clone, Debug, PartialEq)]
pub enum IngestStep {
    Plan {
        ingest_id: String,
        batch_size: usize,
        request: Map<String, Value>,
    },
    Record {
        ingest_id: String,
        batch_number: u64,
        result: Map<String, Value>,
    },
    Summarise {
        ingest_id: String,
        batch_count: u64,
        total: u64,
    },
}

impl IngestStep {
    /// Reads `{"ingestStep": "plan" | "record" | "summarise", ...}`.
    pub fn parse(event: Value) -> Result<IngestStep, Error> {
        let Value::Object(mut event) = event else {
            return Err(Error::validation(
                "the ingest step",
                "must be a JSON object",
            ));
        };
        let ingest_id = ingest_id(&event)?;
        match event.get("ingestStep").and_then(Value::as_str) {
            Some("plan") => Ok(IngestStep::Plan {
                ingest_id,
                batch_size: whole(&event, "batchSize")? as usize,
                request: object(event.remove("request"), "request")?,
            }),
            Some("record") => Ok(IngestStep::Record {
                ingest_id,
                batch_number: whole(&event, "batchNumber")?,
                result: object(event.remove("result"), "result")?,
            }),
            Some("summarise") => Ok(IngestStep::Summarise {
                ingest_id,
                batch_count: whole(&event, "batchCount")?,
                total: whole(&event, "total")?,
            }),
            _ => Err(Error::validation(
                "ingestStep",
                "must be \"plan\", \"record\" or \"summarise\"",
            )),
        }
    }
}

fn ingest_id(event: &Map<String, Value>) -> Result<String, Error> {
    match event.get("ingestId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 256 && !id.contains('/') => Ok(id.to_string()),
        _ => Err(Error::validation(
            "ingestId",
            "must be a non-empty string of at most 256 characters without '/' (the execution's name)",
        )),
    }
}

fn whole(event: &Map<String, Value>, name: &str) -> Result<u64, Error> {
    event
        .get(name)
        .and_then(Value::as_u64)
        .filter(|&n| n >= 1)
        .ok_or_else(|| Error::validation(name, "must be an integer >= 1"))
}

fn object(value: Option<Value>, name: &str) -> Result<Map<String, Value>, Error> {
    match value {
        Some(Value::Object(object)) => Ok(object),
        _ => Err(Error::validation(name, "must be a JSON object")),
    }
}

/// Runs one ingest step.
pub async fn handle(
    step: IngestStep,
    ctx: &Context<'_>,
) -> (Result<Value, Error>, InvocationStats) {
    let result = match ctx.config.payload_bucket.as_deref() {
        None => Err(Error::validation(
            "PAYLOAD_BUCKET",
            "is not set: an ingest keeps its batches and outcomes in the claim-check bucket",
        )),
        Some(bucket) => {
            let place = Place {
                store: ctx.edges.s3.as_ref(),
                bucket,
                prefix: &ctx.config.payload_prefix,
            };
            match step {
                IngestStep::Plan {
                    ingest_id,
                    batch_size,
                    request,
                } => plan(&place, ctx, &ingest_id, batch_size, request).await,
                IngestStep::Record {
                    ingest_id,
                    batch_number,
                    result,
                } => record(&place, &ingest_id, batch_number, result).await,
                IngestStep::Summarise {
                    ingest_id,
                    batch_count,
                    total,
                } => summarise(&place, ctx, &ingest_id, batch_count, total).await,
            }
        }
    };
    (result, InvocationStats::default())
}

/// Where an ingest's objects live.
struct Place<'a> {
    store: &'a dyn PayloadStore,
    bucket: &'a str,
    prefix: &'a str,
}

impl Place<'_> {
    fn uri(&self, ingest_id: &str, name: &str) -> S3Uri {
        S3Uri {
            bucket: self.bucket.to_string(),
            key: format!("{}ingest/{ingest_id}/{name}", self.prefix),
        }
    }

    async fn put_json(&self, uri: &S3Uri, value: &Value) -> Result<(), Error> {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.store
            .put(&uri.bucket, &uri.key, body)
            .await
            .map_err(|error| unavailable(uri, error))
    }
}

fn unavailable(uri: &S3Uri, error: StoreError) -> Error {
    Error::PayloadUnavailable {
        uri: uri.to_string(),
        reason: error.to_string(),
    }
}

fn batch_name(batch_number: u64) -> String {
    format!("{batch_number:06}")
}

/// The plan: reads the manifest as it streams in, writes a batch object per `batch_size`
/// documents (while later ones are still being read), then the items object. Memory holds
/// one chunk, the batches being written and the items, never the manifest.
async fn plan(
    place: &Place<'_>,
    ctx: &Context<'_>,
    ingest_id: &str,
    batch_size: usize,
    mut request: Map<String, Value>,
) -> Result<Value, Error> {
    if batch_size > ctx.config.max_documents {
        return Err(Error::validation(
            "batchSize",
            format!(
                "must be at most MAX_DOCUMENTS ({}), got {batch_size}",
                ctx.config.max_documents
            ),
        ));
    }
    let manifest = manifest_uri(&request)?;
    let mut planner = Planner {
        place,
        ctx,
        ingest_id,
        batch_size,
        template: batch_template(&mut request, ctx)?,
        items: Vec::new(),
        total: 0,
        writes: FuturesUnordered::new(),
    };
    planner.read(&manifest).await?;
    let Planner { items, total, .. } = planner;
    let items_uri = place.uri(ingest_id, "items.json");
    let batch_count = items.len();
    place.put_json(&items_uri, &Value::Array(items)).await?;
    tracing::info!(ingest_id, total, batches = batch_count, manifest = %manifest, "ingest planned");
    Ok(json!({
        "ingestId": ingest_id,
        "total": total,
        "batchCount": batch_count,
        "itemsBucket": items_uri.bucket,
        "itemsKey": items_uri.key,
    }))
}

type Write<'p> = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'p>>;

/// The plan while the manifest streams in.
struct Planner<'p> {
    place: &'p Place<'p>,
    ctx: &'p Context<'p>,
    ingest_id: &'p str,
    batch_size: usize,
    template: Map<String, Value>,
    items: Vec<Value>,
    /// Documents planned (duplicates within a batch counted once, as the batch will).
    total: u64,
    writes: FuturesUnordered<Write<'p>>,
}

impl<'p> Planner<'p> {
    async fn read(&mut self, manifest: &S3Uri) -> Result<(), Error> {
        let mut stream = self
            .place
            .store
            .open(&manifest.bucket, &manifest.key)
            .await
            .map_err(|error| match error {
                StoreError::Refused { code, message } => Error::validation(
                    "manifest",
                    format!("{manifest} cannot be read: {code}: {message}"),
                ),
                StoreError::Transient(reason) => Error::PayloadUnavailable {
                    uri: manifest.to_string(),
                    reason,
                },
            })?;
        let mut splitter: Option<ManifestSplitter> = None;
        while let Some(chunk) = stream
            .next_chunk()
            .await
            .map_err(|error| unavailable(manifest, error))?
        {
            let splitter = splitter.get_or_insert_with(|| {
                let format = ManifestFormat::from_key(&manifest.key)
                    .unwrap_or_else(|| ManifestFormat::sniff(&chunk));
                ManifestSplitter::new(format, self.batch_size)
            });
            for documents in splitter
                .push(&chunk)
                .map_err(|e| Error::validation("manifest", e.to_string()))?
            {
                self.add(documents).await?;
            }
        }
        if let Some(splitter) = splitter {
            for documents in splitter
                .finish()
                .map_err(|e| Error::validation("manifest", e.to_string()))?
            {
                self.add(documents).await?;
            }
        }
        while let Some(written) = self.writes.next().await {
            written?;
        }
        if self.items.is_empty() {
            return Err(Error::validation(
                "manifest",
                format!("{manifest} lists no documents"),
            ));
        }
        Ok(())
    }

    /// Validates one batch, starts writing it, and lists it as an item.
    async fn add(&mut self, documents: Vec<Value>) -> Result<(), Error> {
        let number = self.items.len() as u64 + 1;
        let first = (number - 1) * self.batch_size as u64 + 1;
        let batch = Batch::parse(
            with_documents(&self.template, documents.clone()),
            self.ctx.config.batch_limits(),
        )
        .map_err(|error| {
            Error::validation(
                format!("manifest batch {number}"),
                format!(
                    "(documents {first} to {}): {error}",
                    first + documents.len() as u64 - 1
                ),
            )
        })?;
        self.total += batch.documents.len() as u64;
        let uri = self.place.uri(
            self.ingest_id,
            &format!("batches/{}.json", batch_name(number)),
        );
        let mut item = self.template.clone();
        item.insert(
            "documentsRef".into(),
            json!({"s3Uri": uri.to_string(), "count": documents.len()}),
        );
        // Namespaced, not `ingestId`: the wait loop ends a batch that carries it with Succeed
        // even when FAILED, and a user's own batch may well have an `ingestId` of its own.
        item.insert(INGEST_MARKER.into(), json!(self.ingest_id));
        item.insert("batchNumber".into(), json!(number));
        self.items.push(Value::Object(item));
        let place = self.place;
        self.writes.push(Box::pin(async move {
            place.put_json(&uri, &Value::Array(documents)).await
        }));
        while self.writes.len() >= MAX_OBJECTS_IN_FLIGHT {
            if let Some(written) = self.writes.next().await {
                written?;
            }
        }
        Ok(())
    }
}

fn manifest_uri(request: &Map<String, Value>) -> Result<S3Uri, Error> {
    request
        .get("manifest")
        .and_then(Value::as_str)
        .and_then(S3Uri::parse)
        .ok_or_else(|| {
            Error::validation(
                "manifest",
                "must be s3://bucket/key of a JSON array, JSON Lines or CSV file",
            )
        })
}

/// The fields every batch of the ingest carries: index, operation, attempts, correlation
/// data. Index and operation are checked now, before any object is written.
fn batch_template(
    request: &mut Map<String, Value>,
    ctx: &Context<'_>,
) -> Result<Map<String, Value>, Error> {
    let index_id = match request
        .get("indexId")
        .and_then(Value::as_str)
        .or(ctx.config.kendra_index_id.as_deref())
    {
        Some(id) => {
            check_index_id(id).map_err(|rule| Error::validation("indexId", rule))?;
            id.to_string()
        }
        None => {
            return Err(Error::validation(
                "indexId",
                "is missing and KENDRA_INDEX_ID is not set",
            ));
        }
    };
    let mut template: Map<String, Value> = request
        .iter()
        .filter(|(key, _)| !PLAN_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    template.insert("indexId".into(), json!(index_id));
    template.insert(
        "operation".into(),
        request.get("operation").cloned().unwrap_or(json!("PUT")),
    );
    if let Some(max_attempts) = request.get("maxAttempts").filter(|v| !v.is_null()) {
        template.insert("maxAttempts".into(), max_attempts.clone());
    }
    // Validate the shared fields once, with a stand-in document.
    Batch::parse(
        with_documents(&template, vec![json!("x")]),
        ctx.config.batch_limits(),
    )?;
    Ok(template)
}

fn with_documents(template: &Map<String, Value>, documents: Vec<Value>) -> Value {
    let mut batch = template.clone();
    batch.insert("documents".into(), Value::Array(documents));
    Value::Object(batch)
}

/// Stores one batch's outcome: `{"status", "succeeded", "failedCount", "failed" | "failedRef"}`.
async fn record(
    place: &Place<'_>,
    ingest_id: &str,
    batch_number: u64,
    result: Map<String, Value>,
) -> Result<Value, Error> {
    let succeeded = result
        .get("succeeded")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::validation("result.succeeded", "must be an integer >= 0"))?;
    let mut outcome = json!({
        "batchNumber": batch_number,
        "status": result.get("status").cloned().unwrap_or(Value::Null),
        "succeeded": succeeded,
    });
    match (result.get("failed"), result.get("failedRef")) {
        (_, Some(reference)) if reference.is_object() => {
            outcome["failedRef"] = reference.clone();
            outcome["failedCount"] = reference.get("count").cloned().unwrap_or(Value::Null);
        }
        (Some(Value::Array(failed)), _) => {
            outcome["failedCount"] = json!(failed.len());
            outcome["failed"] = json!(failed);
        }
        (None, None) => {
            outcome["failedCount"] = json!(0);
            outcome["failed"] = json!([]);
        }
        _ => {
            return Err(Error::validation(
                "result.failed",
                "must be a list (or failedRef a reference)",
            ));
        }
    }
    let uri = place.uri(
        ingest_id,
        &format!("results/{}.json", batch_name(batch_number)),
    );
    place.put_json(&uri, &outcome).await?;
    Ok(json!({"ingestId": ingest_id, "batchNumber": batch_number, "recorded": uri.to_string()}))
}

/// How many unrecorded batch numbers a summary names.
const NAMED_UNRECORDED: usize = 20;

/// Merges every batch's outcome into the ingest's result. A batch without a recorded
/// outcome (its wait ended in an error) leaves its documents unaccounted: the summary says
/// so (`status` `INCOMPLETE`, `unrecordedBatches`), and the state machine, which compares
/// `succeeded + failedCount` with the plan's total, fails the ingest with
/// `IngestIncomplete` instead of reporting success.
async fn summarise(
    place: &Place<'_>,
    ctx: &Context<'_>,
    ingest_id: &str,
    batch_count: u64,
    total: u64,
) -> Result<Value, Error> {
    let claim_check = ctx.claim_check();
    let outcomes: Vec<Result<Option<Recorded>, Error>> = stream::iter(1..=batch_count)
        .map(|n| read_outcome(place, &claim_check, ingest_id, n))
        .buffered(MAX_OBJECTS_IN_FLIGHT)
        .collect()
        .await;
    let (mut succeeded, mut failed, mut unrecorded) = (0u64, Vec::new(), Vec::new());
    for (n, outcome) in (1..).zip(outcomes) {
        match outcome? {
            Some((batch_succeeded, batch_failed)) => {
                succeeded += batch_succeeded;
                failed.extend(batch_failed);
            }
            None => unrecorded.push(n),
        }
    }
    let failed_uri = place.uri(ingest_id, "failed.json");
    place
        .put_json(&failed_uri, &Value::Array(failed.clone()))
        .await?;
    let accounted = succeeded + failed.len() as u64;
    let status = match (
        accounted == total && unrecorded.is_empty(),
        failed.is_empty(),
    ) {
        (false, _) => "INCOMPLETE",
        (true, true) => "SUCCEEDED",
        (true, false) => "FAILED",
    };
    tracing::info!(
        ingest_id,
        total,
        succeeded,
        failed = failed.len(),
        unrecorded = unrecorded.len(),
        status,
        "ingest summarised"
    );
    let mut summary = json!({
        "status": status,
        "total": total,
        "succeeded": succeeded,
        "failedCount": failed.len(),
        "failedRef": {"s3Uri": failed_uri.to_string(), "count": failed.len()},
    });
    if !unrecorded.is_empty() {
        summary["unrecordedCount"] = json!(unrecorded.len());
        summary["unrecordedBatches"] =
            json!(unrecorded.iter().take(NAMED_UNRECORDED).collect::<Vec<_>>());
    }
    Ok(summary)
}

/// A batch's recorded outcome: documents succeeded, and the failures.
type Recorded = (u64, Vec<Value>);

/// One batch's recorded outcome, or `None` when none was recorded.
async fn read_outcome(
    place: &Place<'_>,
    claim_check: &ClaimCheck<'_>,
    ingest_id: &str,
    n: u64,
) -> Result<Option<Recorded>, Error> {
    let uri = place.uri(ingest_id, &format!("results/{}.json", batch_name(n)));
    let body = match place.store.get(&uri.bucket, &uri.key).await {
        Ok(body) => body,
        Err(StoreError::Refused { code, .. }) if code == "NoSuchKey" => return Ok(None),
        Err(error) => return Err(unavailable(&uri, error)),
    };
    let outcome: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::validation(uri.to_string(), format!("is not JSON: {e}")))?;
    let succeeded = outcome
        .get("succeeded")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let failed = match (outcome.get("failedRef"), outcome.get("failed")) {
        (Some(reference), _) => claim_check.read_list(reference, "failedRef").await?,
        (None, Some(Value::Array(failed))) => failed.clone(),
        _ => Vec::new(),
    };
    Ok(Some((succeeded, failed)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::INGEST_MARKER;

    use crate::config::Config;
    use crate::handler::{App, Edges, Request};
    use crate::testing::*;

    fn fakes(bucket: Option<&str>) -> (App, Arc<MemoryStore>) {
        let s3 = Arc::new(MemoryStore::default());
        let edges = Edges {
            kendra: Box::new(FakeKendra::default()),
            sqs: Box::new(RecordingPublisher::default()),
            s3: Box::new(s3.clone()),
            tasks: Box::new(RecordingTasks::default()),
            events: Box::new(RecordingEvents::default()),
        };
        let config = Config {
            payload_bucket: bucket.map(str::to_string),
            ..Config::default()
        };
        (App::new(config, edges), s3)
    }

    async fn step(app: &App, event: Value) -> Result<Value, crate::Error> {
        app.handle(event, &Request::unbounded("ingest-test")).await
    }

    fn plan(manifest: &str) -> Value {
        json!({"ingestStep": "plan", "ingestId": "exec-1", "batchSize": 2,
               "request": {"indexId": INDEX, "manifest": manifest, "ref": "r-1", "ingestId": "theirs"}})
    }

    #[tokio::test]
    async fn plan_record_and_summarise_account_for_every_document() {
        let (app, s3) = fakes(Some("bucket"));
        s3.insert_bytes(
            "in",
            "m.jsonl",
            b"\"a\"\n\"b\"\n{\"documentId\": \"c\"}\n\"a\"\n\"d\"\n".to_vec(),
        );
        let planned = step(&app, plan("s3://in/m.jsonl")).await.unwrap();
        assert_eq!(
            (planned["total"].clone(), planned["batchCount"].clone()),
            (json!(5), json!(3))
        );
        let items = s3
            .json(&format!(
                "s3://bucket/{}",
                planned["itemsKey"].as_str().unwrap()
            ))
            .unwrap();
        assert_eq!(items[0]["documentsRef"]["count"], 2);
        assert_eq!(
            (items[0]["ref"].clone(), items[0]["batchNumber"].clone()),
            (json!("r-1"), json!(1))
        );
        assert_eq!(items[0][INGEST_MARKER], "exec-1");
        assert_eq!(
            items[0]["ingestId"], "theirs",
            "a user's ingestId stays theirs"
        );
        assert_eq!(
            s3.json(items[2]["documentsRef"]["s3Uri"].as_str().unwrap())
                .unwrap(),
            json!(["d"])
        );

        let outcomes = [
            json!({"status": "SUCCEEDED", "succeeded": 2, "failed": []}),
            json!({"status": "FAILED", "succeeded": 1, "failed": [{"documentId": "a", "status": "FAILED"}]}),
            json!({"status": "SUCCEEDED", "succeeded": 1, "failed": []}),
        ];
        for (n, result) in (1..).zip(outcomes) {
            let event = json!({"ingestStep": "record", "ingestId": "exec-1", "batchNumber": n, "result": result});
            step(&app, event).await.unwrap();
        }
        let summary = step(
            &app,
            json!({"ingestStep": "summarise", "ingestId": "exec-1", "batchCount": 3, "total": 5}),
        )
        .await
        .unwrap();
        assert_eq!(summary["status"], "FAILED");
        assert_eq!(
            (summary["succeeded"].clone(), summary["failedCount"].clone()),
            (json!(4), json!(1))
        );
        let mut fields: Vec<&str> = summary
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["failedCount", "failedRef", "status", "succeeded", "total"],
            "the contract's result, nothing else"
        );
        let failed = s3
            .json(summary["failedRef"]["s3Uri"].as_str().unwrap())
            .unwrap();
        assert_eq!(failed, json!([{"documentId": "a", "status": "FAILED"}]));
    }

    #[tokio::test]
    async fn a_batch_without_an_outcome_makes_the_summary_incomplete() {
        let (app, _) = fakes(Some("bucket"));
        let event = json!({"ingestStep": "record", "ingestId": "exec-2", "batchNumber": 1,
                           "result": {"status": "SUCCEEDED", "succeeded": 2, "failed": []}});
        step(&app, event).await.unwrap();
        let summary = step(
            &app,
            json!({"ingestStep": "summarise", "ingestId": "exec-2", "batchCount": 2, "total": 4}),
        )
        .await
        .unwrap();
        assert_eq!(summary["status"], "INCOMPLETE");
        assert_eq!(summary["unrecordedBatches"], json!([2]));
        assert_eq!(summary["succeeded"], 2);
    }

    #[tokio::test]
    async fn bad_plans_are_validation_errors_naming_the_field() {
        let (app, s3) = fakes(Some("bucket"));
        s3.insert_bytes("in", "empty.json", b"[]".to_vec());
        s3.insert_bytes("in", "bad.csv", b"name\nx\n".to_vec());
        s3.insert_bytes(
            "in",
            "long.json",
            format!("[\"{}\"]", "x".repeat(3000)).into_bytes(),
        );
        let cases = [
            (plan("in/m.jsonl"), "manifest"),
            (plan("s3://in/missing.json"), "manifest"),
            (plan("s3://in/empty.json"), "manifest"),
            (plan("s3://in/bad.csv"), "manifest"),
            (plan("s3://in/long.json"), "manifest batch 1"),
            (
                json!({"ingestStep": "plan", "ingestId": "e", "batchSize": 0, "request": {}}),
                "batchSize",
            ),
            (
                json!({"ingestStep": "plan", "ingestId": "a/b", "batchSize": 1, "request": {}}),
                "ingestId",
            ),
            (
                json!({"ingestStep": "merge", "ingestId": "e"}),
                "ingestStep",
            ),
        ];
        for (event, expected) in cases {
            match step(&app, event.clone()).await {
                Err(crate::Error::Validation { field, .. }) => {
                    assert_eq!(field, expected, "{event}")
                }
                other => panic!("{event}: {other:?}"),
            }
        }
        let (no_bucket, _) = fakes(None);
        let error = step(&no_bucket, plan("s3://in/m.jsonl")).await.unwrap_err();
        assert!(
            matches!(error, crate::Error::Validation { ref field, .. } if field == "PAYLOAD_BUCKET"),
            "{error}"
        );
    }
}
