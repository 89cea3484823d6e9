//! Contract part 2 at AWS's limits: results that never exceed MAX_RESULT_BYTES (claim check
//! to a real S3 protocol server, moto), the worst case of 5,000 ids of 2,048 characters, a
//! property test over random batches, and a hung Kendra call that costs one attempt.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_kendra::config::timeout::TimeoutConfig;
use common::*;
use kendra_local::FaultKind;
use kendra_local::rng::SplitMix64;
use kendra_waiter::claim_check::S3Uri;
use kendra_waiter::config::Config;
use kendra_waiter::s3::{PayloadStore, S3Store};
use serde_json::{Value, json};

/// Every list of a result with its references read back from `store`.
async fn resolved(store: &dyn PayloadStore, result: &Value, list: &str) -> Vec<Value> {
    if let Some(items) = result[list].as_array() {
        return items.clone();
    }
    let reference = &result[format!("{list}Ref")];
    let uri = S3Uri::parse(reference["s3Uri"].as_str().expect("a reference")).unwrap();
    let body = store
        .get(&uri.bucket, &uri.key)
        .await
        .expect("the object exists");
    let items: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(reference["count"], items.len(), "count matches");
    items
}

fn id_of(document: &Value) -> String {
    document
        .as_str()
        .or_else(|| document["documentId"].as_str())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_long_ids_timing_out_fit_through_the_claim_check() {
    let kendra = kendra_local(0).await;
    let ids: Vec<String> = (0..5000)
        .map(|i| format!("{i:05}-{}", "x".repeat(2042)))
        .collect();
    let mut cfg = config();
    cfg.payload_bucket = Some("payloads".into());
    let app = app(&kendra, cfg);
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ids, "maxAttempts": 1}))
        .await
        .expect("a result, not an error");
    let bytes = result.to_string().len();
    assert!(bytes <= 245_760, "{bytes} bytes");
    assert_eq!(result["status"], "FAILED");
    let failed = resolved(app.s3.as_ref(), &result, "failed").await;
    assert_eq!(failed.len(), 5000);
    assert!(failed.iter().all(|f| f["status"] == "TIMED_OUT"));

    // Without a bucket the same round is a ResultTooLarge the state machine can catch.
    let app = common::app(&kendra, config());
    let error = app
        .handle(json!({"indexId": INDEX, "documents": ids, "maxAttempts": 1}))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "ResultTooLarge");
    assert!(error.to_string().contains("PAYLOAD_BUCKET"), "{error}");
}

/// A random batch: long and short ids, attributes Kendra accepts or refuses, documents that
/// index, fail, stay processing or are refused; carried failures; a small result limit.
fn random_batch(rng: &mut SplitMix64) -> (Value, BTreeMap<String, &'static str>) {
    let mut documents = Vec::new();
    let mut expected = BTreeMap::new();
    for i in 0..1 + rng.below(300) {
        let length = [8, 200, 2000][rng.below(3) as usize];
        let (prefix, fate) = match rng.below(5) {
            0 => ("fail", "failed"),
            1 => ("stuck", "pending"),
            2 => ("reject", "failed"),
            _ => ("doc", "succeeded"),
        };
        let id = format!("{prefix}-{i:04}-{}", "y".repeat(length));
        let document = match rng.below(4) {
            0 => json!({"documentId": id, "attributes": {"version": "1"}}),
            1 if fate != "failed" => {
                expected.insert(id.clone(), "failed");
                documents.push(json!({"documentId": id, "attributes": {"colour": "red"}}));
                continue;
            }
            _ => json!(id),
        };
        expected.insert(id, fate);
        documents.push(document);
    }
    let carried: Vec<Value> = (0..rng.below(50))
        .map(|i| json!({"documentId": format!("old-{i}-{}", "z".repeat(500)), "status": "FAILED"}))
        .collect();
    for entry in &carried {
        expected.insert(id_of(&entry["documentId"]), "carried");
    }
    let batch = json!({"indexId": INDEX, "documents": documents, "failed": carried, "ref": "r"});
    (batch, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_batches_never_exceed_the_limit_and_lose_nothing() {
    let kendra = kendra_local(0).await;
    let mut rng = SplitMix64::new(20261130);
    for round in 0..12 {
        let (batch, expected) = random_batch(&mut rng);
        let ids: Vec<&str> = expected
            .keys()
            .map(String::as_str)
            .filter(|id| !id.starts_with("old"))
            .collect();
        kendra.put_documents(INDEX, &ids);
        let mut cfg = config();
        cfg.payload_bucket = Some("payloads".into());
        cfg.max_result_bytes = [4096, 20_000, 245_760][round % 3];
        cfg.max_documents = 10_000;
        let limit = cfg.max_result_bytes;
        let app = app(&kendra, cfg);
        let result = app
            .handle(batch)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            result.to_string().len() <= limit,
            "round {round}: over {limit}"
        );
        let pending: Vec<String> = resolved(app.s3.as_ref(), &result, "documents")
            .await
            .iter()
            .map(id_of)
            .collect();
        let failed: Vec<String> = resolved(app.s3.as_ref(), &result, "failed")
            .await
            .iter()
            .map(|f| id_of(&f["documentId"]))
            .collect();
        let succeeded = result["succeeded"].as_u64().unwrap() as usize;
        let want = |fate: &str| expected.values().filter(|f| **f == fate).count();
        assert_eq!(succeeded, want("succeeded"), "round {round}");
        assert_eq!(
            pending.len() + failed.len() + succeeded,
            expected.len(),
            "round {round}: every document in exactly one place"
        );
        for id in pending {
            assert_eq!(expected[&id], "pending", "{id}");
        }
        for id in failed {
            assert!(["failed", "carried"].contains(&expected[&id]), "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_check_objects_go_to_a_real_s3_and_come_back() {
    let moto = Moto::start();
    let s3_config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(&moto.endpoint)
        .force_path_style(true);
    aws_sdk_s3::Client::from_conf(s3_config.clone().build())
        .create_bucket()
        .bucket("payloads")
        .send()
        .await
        .expect("bucket created");
    let kendra = kendra_local(5).await;
    let ids: Vec<String> = (0..3000)
        .map(|i| format!("stuck-{i:04}-{}", "w".repeat(100)))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    let mut cfg = config();
    cfg.payload_bucket = Some("payloads".into());
    let mut app = app(&kendra, cfg.clone());
    app.app = kendra_waiter::App::new(
        cfg,
        kendra_waiter::Edges {
            kendra: Box::new(kendra_source(&kendra.endpoint())),
            sqs: Box::new(kendra_waiter::testing::RecordingPublisher::default()),
            s3: Box::new(S3Store::from_conf(s3_config.clone())),
            tasks: Box::new(kendra_waiter::testing::RecordingTasks::default()),
            events: Box::new(kendra_waiter::testing::RecordingEvents::default()),
        },
    );
    let first = app
        .handle(json!({"indexId": INDEX, "documents": ids}))
        .await
        .unwrap();
    assert!(first.to_string().len() <= 245_760);
    assert_eq!(
        first["documentsRef"]["count"],
        3000,
        "{}",
        &first.to_string()[..300]
    );
    let store = S3Store::from_conf(s3_config);
    let stored = resolved(&store, &first, "documents").await;
    assert_eq!(stored.len(), 3000);
    // The loop feeds the result back in: the next round reads the documents from S3.
    let second = app.handle(first.clone()).await.unwrap();
    assert_eq!(second["attempt"], 2);
    assert_ne!(
        second["documentsRef"]["s3Uri"], first["documentsRef"]["s3Uri"],
        "a new key per round"
    );
    assert_eq!(resolved(&store, &second, "documents").await, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_call_costs_one_attempt_not_the_invocation() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a", "b"]);
    kendra.clear_requests();
    kendra.fail_next(1, FaultKind::Hang);
    let source = kendra_waiter::kendra::KendraStatusSource::from_conf(
        kendra_config(&kendra.endpoint()).timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        ),
    );
    let app = app_with_kendra(source, Config::default());
    let started = Instant::now();
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ["a", "b"]}))
        .await
        .unwrap();
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let requests = kendra.requests();
    assert_eq!(requests.len(), 2, "the hung attempt, then the SDK's retry");
    assert_eq!(
        requests[0].error.as_deref(),
        Some(kendra_local::CLIENT_CLOSED)
    );
}
