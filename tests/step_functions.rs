//! The direct-invocation path against kendra-local over the wire: the result loops until
//! SUCCEEDED or FAILED, errors carry the contract's names, and the budget holds.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use kendra_local::{FaultKind, Faults};
use kendra_waiter::Error;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_loops_until_succeeded() {
    let kendra = kendra_local(2).await;
    kendra.put_documents(INDEX, &["a", "b", "c"]);
    let app = app(&kendra, config());
    let batch = json!({"indexId": INDEX, "documents": ["a", {"documentId": "b", "attributes": {"version": 2}}, "c", "a"], "ticket": 7});

    let first = app.handle(batch).await.unwrap();
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["counts"], json!({"PROCESSING": 3}));
    assert_eq!(
        first["documents"],
        json!(["a", {"documentId": "b", "attributes": {"version": 2}}, "c"])
    );

    let (last, rounds) = run_to_end(&app, first, 10).await;
    assert_eq!(rounds, 2, "third status check sees INDEXED");
    assert_eq!(last["status"], "SUCCEEDED");
    assert_eq!(last["succeeded"], 3);
    assert_eq!(last["attempt"], 3);
    assert_eq!(last["documents"], json!([]));
    assert_eq!(last["failed"], json!([]));
    assert_eq!(last["ticket"], 7, "the caller's fields come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_document_ends_the_loop_as_failed() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["ok-1", "fail-1"]);
    let app = app(&kendra, config());
    let (last, _) = run_to_end(
        &app,
        json!({"indexId": INDEX, "documents": ["ok-1", "fail-1"]}),
        5,
    )
    .await;
    assert_eq!(last["status"], "FAILED");
    assert_eq!(last["succeeded"], 1);
    let failed = last["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["documentId"], "fail-1");
    assert_eq!(failed[0]["status"], "FAILED");
    assert!(failed[0]["code"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(failed[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_waits_for_not_found() {
    let kendra = kendra_local(1).await;
    kendra.put_documents(INDEX, &["x", "y"]);
    kendra.delete_documents(INDEX, &["x", "y"]);
    let app = app(&kendra, config());
    let batch =
        json!({"indexId": INDEX, "operation": "DELETE", "documents": ["x", "y", "never-there"]});
    let first = app.handle(batch).await.unwrap();
    assert_eq!(first["status"], "PENDING");
    assert_eq!(
        first["succeeded"], 1,
        "a document never indexed is NOT_FOUND at once"
    );
    let (last, _) = run_to_end(&app, first, 5).await;
    assert_eq!(last["status"], "SUCCEEDED");
    assert_eq!(last["succeeded"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_document_errors_and_unknown_statuses() {
    let kendra = kendra_local(0).await;
    let ids = ["error-invalid-1", "error-internal-1", "status-BRAND_NEW-1"];
    kendra.put_documents(INDEX, &ids);
    let app = app(&kendra, config());
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ids}))
        .await
        .unwrap();
    assert_eq!(result["status"], "PENDING");
    assert_eq!(result["counts"], json!({"BRAND_NEW": 1, "ERROR": 2}));
    assert_eq!(
        result["documents"],
        json!(["error-internal-1", "status-BRAND_NEW-1"])
    );
    assert_eq!(result["failed"][0]["status"], "INVALID_REQUEST");
    assert_eq!(result["failed"][0]["code"], "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_that_never_finish_time_out() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["stuck-1", "fine"]);
    let app = app(&kendra, config());
    let (last, rounds) = run_to_end(
        &app,
        json!({"indexId": INDEX, "documents": ["stuck-1", "fine"], "maxAttempts": 3}),
        10,
    )
    .await;
    assert_eq!(rounds, 3);
    assert_eq!(last["status"], "FAILED");
    assert_eq!(last["succeeded"], 1);
    assert_eq!(
        last["failed"],
        json!([{"documentId": "stuck-1", "status": "TIMED_OUT", "reason": "PROCESSING after 3 attempts"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_comes_from_the_configuration() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(OTHER_INDEX, &["a"]);
    let mut cfg = config();
    cfg.kendra_index_id = Some(OTHER_INDEX.to_string());
    let app = app(&kendra, cfg);
    let result = app.handle(json!({"documents": ["a"]})).await.unwrap();
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["indexId"], OTHER_INDEX);
    let calls = kendra.requests();
    assert_eq!(calls.last().unwrap().index_id.as_deref(), Some(OTHER_INDEX));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_index_is_a_kendra_request_error() {
    let kendra = kendra_local(0).await;
    let app = app(&kendra, config());
    let unknown = "ffffffffffffffffffffffffffffffffffff";
    let error = app
        .handle(json!({"indexId": unknown, "documents": ["a"]}))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "KendraRequestError");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
    let calls: Vec<_> = kendra
        .requests()
        .into_iter()
        .filter(|r| r.operation == "BatchGetDocumentStatus")
        .collect();
    assert_eq!(calls.len(), 1, "not retried by the SDK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_a_kendra_request_error() {
    let kendra = kendra_local(0).await;
    kendra.fail_next(1, FaultKind::AccessDenied);
    let app = app(&kendra, config());
    let error = app
        .handle(json!({"indexId": INDEX, "documents": ["a"]}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::KendraRequest { code, .. } if code == "AccessDeniedException"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_until_the_cutoff_is_kendra_unavailable() {
    let kendra = kendra_local(0).await;
    kendra.fail_next(1000, FaultKind::Throttling);
    let mut cfg = config();
    cfg.deadline_margin = Duration::from_millis(300);
    let app = app(&kendra, cfg);
    let now_ms = now_ms();
    let started = Instant::now();
    let error = app
        .handle_until(
            json!({"indexId": INDEX, "documents": ["a", "b"]}),
            now_ms + 6000,
        )
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "KendraUnavailable");
    assert!(
        started.elapsed() < Duration::from_millis(6000),
        "answered in time"
    );
    let calls = kendra.requests().len();
    assert!(
        (2..40).contains(&calls),
        "the throttled call was put back into the round and tried again, paced: {calls} calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_past_the_sdk_retries_are_kendra_unavailable() {
    let kendra = kendra_local(0).await;
    kendra.fail_next(100, FaultKind::InternalServer);
    let app = app(&kendra, config());
    let error = app
        .handle(json!({"indexId": INDEX, "documents": ["a"]}))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "KendraUnavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn some_calls_failing_transiently_leave_their_documents_pending() {
    let kendra = kendra_local(0).await;
    let ids: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    // With one call at a time, the first call takes all three 500s (its SDK attempts).
    kendra.fail_next(3, FaultKind::InternalServer);
    let mut cfg = config();
    cfg.kendra_max_concurrency = 1;
    let app = app(&kendra, cfg);
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ids}))
        .await
        .unwrap();
    assert_eq!(result["status"], "PENDING");
    assert_eq!(result["counts"], json!({"ERROR": 10, "INDEXED": 10}));
    assert_eq!(result["succeeded"], 10);
    assert_eq!(result["documents"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_at_most_ten_documents_and_respect_the_concurrency_limit() {
    let kendra = kendra_local(0).await;
    kendra.set_faults(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let ids: Vec<String> = (0..500).map(|i| format!("doc-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    let mut cfg = config();
    cfg.kendra_max_concurrency = 4;
    let app = app(&kendra, cfg);
    kendra.clear_requests();
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ids}))
        .await
        .unwrap();
    assert_eq!(result["succeeded"], 500);
    let calls = kendra.requests();
    assert_eq!(calls.len(), 50);
    assert!(calls.iter().all(|c| c.document_ids.len() == 10));
    let max_in_flight = calls.iter().map(|c| c.in_flight).max().unwrap();
    assert!(max_in_flight <= 4, "{max_in_flight} calls in flight");
    assert!(max_in_flight >= 2, "calls ran one at a time");
    let checked: HashSet<&String> = calls.iter().flat_map(|c| &c.document_ids).collect();
    assert_eq!(checked.len(), 500, "each document checked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_cap_spaces_call_starts() {
    let kendra = kendra_local(0).await;
    let ids: Vec<String> = (0..100).map(|i| format!("doc-{i}")).collect();
    let mut cfg = config();
    cfg.kendra_max_rps = Some(50.0);
    let app = app(&kendra, cfg);
    app.handle(json!({"indexId": INDEX, "documents": ids}))
        .await
        .unwrap();
    let calls = kendra.requests();
    assert_eq!(calls.len(), 10);
    let mut arrivals: Vec<Duration> = calls.iter().map(|c| c.arrived).collect();
    arrivals.sort();
    let span = arrivals[9] - arrivals[0];
    // Ten calls at 50 per second start over at least 9 intervals of 20 ms.
    assert!(
        span >= Duration::from_millis(170),
        "10 calls within {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_deadline_returns_in_time_with_documents_unchecked() {
    let kendra = kendra_local(0).await;
    kendra.set_faults(Faults {
        latency: Duration::from_millis(3000),
        ..Faults::default()
    });
    let mut cfg = config();
    cfg.deadline_margin = Duration::from_millis(300);
    let app = app(&kendra, cfg);
    let now_ms = now_ms();
    let deadline_ms = now_ms + 1500;
    let ids: Vec<String> = (0..25).map(|i| format!("doc-{i}")).collect();
    let started = Instant::now();
    let result = app
        .handle_until(json!({"indexId": INDEX, "documents": ids}), deadline_ms)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "answered after {elapsed:?}, past the deadline"
    );
    assert_eq!(result["status"], "PENDING");
    assert_eq!(result["counts"], json!({"UNCHECKED": 25}));
    assert_eq!(result["documents"].as_array().unwrap().len(), 25);
    assert_eq!(result["attempt"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_status_is_counted_under_its_name_cut_to_64_characters() {
    let kendra = kendra_local(0).await;
    let app = app(&kendra, config());
    let long = format!("status-{}", "Q".repeat(2000));
    kendra.put_documents(INDEX, &["status-ARCHIVED", &long]);
    let result = app
        .handle(json!({"indexId": INDEX, "documents": ["status-ARCHIVED", long]}))
        .await
        .unwrap();
    assert_eq!(result["status"], "PENDING", "unknown statuses are pending");
    let counts = result["counts"].as_object().unwrap();
    let keys: Vec<&str> = counts.keys().map(String::as_str).collect();
    let cut = format!("{}...", "Q".repeat(64));
    assert_eq!(keys, ["ARCHIVED", cut.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_already_past_is_no_time_left() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a", "b"]);
    kendra.clear_requests();
    let app = app(&kendra, config());
    let now_ms = now_ms();
    for deadline_ms in [now_ms, now_ms - 5_000] {
        let result = app
            .handle_until(
                json!({"indexId": INDEX, "documents": ["a", "b"]}),
                deadline_ms,
            )
            .await
            .unwrap();
        assert_eq!(result["status"], "PENDING");
        assert_eq!(result["counts"], json!({"UNCHECKED": 2}));
        assert_eq!(result["attempt"], 1);
    }
    assert!(kendra.requests().is_empty(), "no call started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_time_left_is_pending_with_every_document_unchecked() {
    let kendra = kendra_local(0).await;
    let app = app(&kendra, config());
    let now_ms = now_ms();
    let result = app
        .handle_until(
            json!({"indexId": INDEX, "documents": ["a", "b"]}),
            now_ms + 100,
        )
        .await
        .unwrap();
    assert_eq!(result["status"], "PENDING");
    assert_eq!(result["counts"], json!({"UNCHECKED": 2}));
    assert!(kendra.requests().is_empty(), "no call started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_make_no_call() {
    let kendra = kendra_local(0).await;
    let app = app(&kendra, config());
    for bad in [
        json!({"indexId": INDEX}),
        json!({"indexId": "short", "documents": ["a"]}),
        json!("just a string"),
        json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 0}),
    ] {
        let error = app.handle(bad.clone()).await.unwrap_err();
        assert_eq!(error.error_type(), "ValidationError", "{bad}");
    }
    assert!(kendra.requests().is_empty());
}

/// Many random batches (seeded), each run to its end: every document ends in exactly one
/// bucket, the one its id asks kendra-local for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_batches_lose_nothing() {
    let kendra = kendra_local(1).await;
    let mut rng = kendra_local::rng::SplitMix64::new(20261128);
    let mut cfg = config();
    cfg.kendra_max_concurrency = 3;
    let app = app(&kendra, cfg);
    for batch_no in 0..40 {
        let n = 1 + rng.below(40) as usize;
        let mut documents = Vec::new();
        let mut expected: BTreeMap<String, &str> = BTreeMap::new();
        for i in 0..n {
            let (prefix, bucket) = match rng.below(10) {
                0 => ("fail-", "FAILED"),
                1 => ("error-invalid-", "INVALID_REQUEST"),
                2 => ("stuck-", "TIMED_OUT"),
                3 => ("error-internal-", "TIMED_OUT"),
                _ => ("ok-", "succeeded"),
            };
            let id = format!("{prefix}{batch_no}-{i}");
            if rng.below(2) == 0 {
                kendra.put_documents(INDEX, &[id.as_str()]);
            } else if bucket == "succeeded" || prefix == "fail-" {
                // Never put: NOT_FOUND until the end, so it times out instead.
                expected.insert(id.clone(), "TIMED_OUT");
                documents.push(Value::String(id));
                continue;
            } else {
                kendra.put_documents(INDEX, &[id.as_str()]);
            }
            expected.insert(id.clone(), bucket);
            documents.push(Value::String(id.clone()));
            if rng.below(5) == 0 {
                documents.push(json!({"documentId": id})); // a duplicate
            }
        }
        let max_attempts = 2 + rng.below(3);
        let batch = json!({"indexId": INDEX, "documents": documents, "maxAttempts": max_attempts});
        let (last, _) = run_to_end(&app, batch, 10).await;

        let succeeded_expected = expected.values().filter(|b| **b == "succeeded").count();
        assert_eq!(
            last["succeeded"], succeeded_expected as u64,
            "batch {batch_no}"
        );
        let failed = last["failed"].as_array().unwrap();
        let mut seen = HashSet::new();
        for entry in failed {
            let id = entry["documentId"].as_str().unwrap();
            assert!(seen.insert(id.to_string()), "{id} failed twice");
            assert_eq!(entry["status"], expected[id], "batch {batch_no}: {entry}");
        }
        assert_eq!(
            failed.len() + succeeded_expected,
            expected.len(),
            "batch {batch_no}"
        );
        assert_eq!(last["documents"], json!([]));
    }
}
