//! The SQS path against kendra-local: coalescing, per-message outcomes, republishing, failure
//! reports, FIFO ordering. Sends go to a recording publisher here; `sqs_moto.rs` sends them
//! to a real SQS protocol server.

mod common;

use common::*;
use kendra_local::FaultKind;
use serde_json::{Value, json};

fn body(value: Value) -> String {
    value.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_one_document_messages_cost_ten_calls() {
    let kendra = kendra_local(0).await;
    let ids: Vec<String> = (0..100).map(|i| format!("doc-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    kendra.clear_requests();
    let app = app(&kendra, config());
    let records = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            sqs_record(
                &format!("m{i}"),
                &body(json!({"indexId": INDEX, "documents": [id]})),
                1,
                None,
            )
        })
        .collect();
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let calls = kendra.requests();
    assert_eq!(calls.len(), 10);
    assert!(calls.iter().all(|c| c.document_ids.len() == 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_document_in_two_messages_is_checked_once_and_groups_stay_apart() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a", "b"]);
    kendra.put_documents(OTHER_INDEX, &["a"]);
    kendra.clear_requests();
    let app = app(&kendra, config());
    let records = vec![
        sqs_record(
            "m1",
            &body(json!({"indexId": INDEX, "documents": ["a", "b"]})),
            1,
            None,
        ),
        sqs_record(
            "m2",
            &body(json!({"indexId": INDEX, "documents": ["a"]})),
            1,
            None,
        ),
        sqs_record(
            "m3",
            &body(json!({"indexId": OTHER_INDEX, "documents": ["a"]})),
            1,
            None,
        ),
        sqs_record(
            "m4",
            &body(json!({"indexId": INDEX, "operation": "DELETE", "documents": ["zzz"]})),
            1,
            None,
        ),
    ];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let mut calls: Vec<(Option<String>, Vec<String>)> = kendra
        .requests()
        .into_iter()
        .map(|c| (c.index_id, c.document_ids))
        .collect();
    calls.sort();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|(_, ids)| ids.contains(&"a".to_string()))
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_fails_alone() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a"]);
    let app = app(&kendra, config());
    let records = vec![
        sqs_record(
            "good",
            &body(json!({"indexId": INDEX, "documents": ["a"]})),
            1,
            None,
        ),
        sqs_record("not-json", "{oops", 1, None),
        sqs_record(
            "no-documents",
            &body(json!({"indexId": INDEX, "documents": []})),
            1,
            None,
        ),
        sqs_record(
            "bad-index",
            &body(json!({"indexId": "x", "documents": ["a"]})),
            1,
            None,
        ),
    ];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(
        failures(&response),
        ["not-json", "no-documents", "bad-index"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_messages_without_a_retry_queue_are_reported() {
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow"]);
    let app = app(&kendra, config());
    let records = vec![
        sqs_record(
            "pending",
            &body(json!({"indexId": INDEX, "documents": ["slow"]})),
            1,
            None,
        ),
        sqs_record(
            "done",
            &body(json!({"indexId": INDEX, "operation": "DELETE", "documents": ["gone"]})),
            1,
            None,
        ),
    ];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), ["pending"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_messages_are_republished_with_backoff() {
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow", "fail-x"]);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    cfg.retry_delay_seconds = 10;
    cfg.retry_max_delay_seconds = 100;
    let app = app(&kendra, cfg);
    let records = vec![
        // attempt before this round: 0 + (1 - 1) = 0 -> delay 10
        sqs_record(
            "first",
            &body(json!({"indexId": INDEX, "documents": ["slow"], "tag": "t1"})),
            1,
            None,
        ),
        // attempt before: 2 + (2 - 1) = 3 -> delay min(100, 80) = 80
        sqs_record(
            "later",
            &body(json!({"indexId": INDEX, "documents": ["slow", "ok", "fail-x"], "attempt": 2})),
            2,
            None,
        ),
        // attempt before: 4 -> min(100, 160) = 100
        sqs_record(
            "capped",
            &body(json!({"indexId": INDEX, "documents": ["slow"], "attempt": 4})),
            1,
            None,
        ),
    ];
    kendra.put_documents(INDEX, &["ok"]);
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let sent = app.sqs.sent();
    assert_eq!(sent.len(), 3);
    let by_tag = |attempt: u64| {
        sent.iter()
            .find(|m| serde_json::from_str::<Value>(&m.body).unwrap()["attempt"] == attempt)
            .unwrap_or_else(|| panic!("no republished message with attempt {attempt}: {sent:?}"))
            .clone()
    };
    let first = by_tag(1);
    assert_eq!(first.delay_seconds, Some(10));
    let first_body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(first_body["documents"], json!(["slow"]));
    assert_eq!(first_body["tag"], "t1");
    assert_eq!(first_body["status"], "PENDING");

    let later = by_tag(4);
    assert_eq!(later.delay_seconds, Some(80));
    let later_body: Value = serde_json::from_str(&later.body).unwrap();
    assert_eq!(
        later_body["documents"],
        json!(["slow", "ok", "fail-x"]),
        "still processing"
    );

    let capped = by_tag(5);
    assert_eq!(capped.delay_seconds, Some(100));
    assert!(
        sent.iter()
            .all(|m| m.queue_url == "http://sqs.local/123/check")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_republish_is_reported() {
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow"]);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/broken".into());
    let app = app(&kendra, cfg);
    let records = vec![sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["slow"]})),
        1,
        None,
    )];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), ["m1"]);
    assert_eq!(app.sqs.sent().len(), 1, "the send was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_count_redeliveries_and_report_failures() {
    let kendra = kendra_local(50).await;
    kendra.put_documents(INDEX, &["slow", "fail-now"]);
    let mut cfg = config();
    cfg.failure_queue_url = Some("http://sqs.local/123/failures".into());
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    let app = app(&kendra, cfg);
    // attempt 1 in the body, received 3 times: 3 rounds done; this is the 4th of 4.
    let records = vec![sqs_record(
        "m1",
        &body(
            json!({"indexId": INDEX, "documents": ["slow"], "attempt": 1, "maxAttempts": 4,
                      "failed": [{"documentId": "earlier", "status": "FAILED"}]}),
        ),
        3,
        None,
    )];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(
        failures(&response).is_empty(),
        "finished messages are acknowledged"
    );
    let sent = app.sqs.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].queue_url, "http://sqs.local/123/failures");
    assert_eq!(sent[0].delay_seconds, None);
    let report: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(report["status"], "FAILED");
    assert_eq!(report["sourceMessageId"], "m1");
    assert_eq!(report["attempt"], 4);
    assert_eq!(
        report["failed"],
        json!([
            {"documentId": "earlier", "status": "FAILED"},
            {"documentId": "slow", "status": "TIMED_OUT", "reason": "PROCESSING after 4 attempts"}
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_failure_report_is_reported() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["fail-1"]);
    let mut cfg = config();
    cfg.failure_queue_url = Some("http://sqs.local/123/broken-failures".into());
    let app = app(&kendra, cfg);
    let records = vec![sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["fail-1"]})),
        1,
        None,
    )];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), ["m1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_failures_without_a_failure_queue_are_acknowledged() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["fail-1"]);
    let app = app(&kendra, config());
    let records = vec![sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["fail-1"]})),
        1,
        None,
    )];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty());
    assert!(app.sqs.sent().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_index_reports_every_message_for_it() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a"]);
    let unknown = "ffffffffffffffffffffffffffffffffffff";
    let app = app(&kendra, config());
    let records = vec![
        sqs_record(
            "m1",
            &body(json!({"indexId": unknown, "documents": ["x"]})),
            1,
            None,
        ),
        sqs_record(
            "m2",
            &body(json!({"indexId": INDEX, "documents": ["a"]})),
            1,
            None,
        ),
        sqs_record(
            "m3",
            &body(json!({"indexId": unknown, "documents": ["y"]})),
            1,
            None,
        ),
    ];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), ["m1", "m3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_leave_messages_unfinished_not_failed() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a"]);
    // 500s: the SDK's own attempts, then the document stays pending (a throttled call would
    // be put back into the round instead: tests/step_functions.rs).
    kendra.fail_next(100, FaultKind::InternalServer);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    let app = app(&kendra, cfg);
    let records = vec![sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["a"]})),
        1,
        None,
    )];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty());
    let sent = app.sqs.sent();
    assert_eq!(sent.len(), 1, "republished for a later try");
    let republished: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(republished["counts"], json!({"ERROR": 1}));
    assert_eq!(republished["documents"], json!(["a"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_groups_stop_at_their_first_reported_message() {
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow"]);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    let app = app(&kendra, cfg);
    let fifo = |id: &str, group: &str, documents: Value| {
        sqs_record(
            id,
            &body(json!({"indexId": INDEX, "operation": "DELETE", "documents": documents})),
            1,
            Some(group),
        )
    };
    let mut slow = fifo("g1-m1", "g1", json!(["slow"]));
    slow["body"] = json!(body(json!({"indexId": INDEX, "documents": ["slow"]})));
    let records = vec![
        slow,                                   // unfinished: reported (no retry queue for FIFO)
        fifo("g1-m2", "g1", json!(["gone-1"])), // finished, but behind a reported message
        fifo("g2-m1", "g2", json!(["gone-2"])), // finished, own group: acknowledged
        fifo("g2-m2", "g2", json!("poison")),   // invalid body: reported
        fifo("g2-m3", "g2", json!(["gone-3"])), // behind it: reported
        fifo("g3-m1", "g3", json!(["gone-4"])),
    ];
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert_eq!(failures(&response), ["g1-m1", "g1-m2", "g2-m2", "g2-m3"]);
    assert!(
        app.sqs.sent().is_empty(),
        "RETRY_QUEUE_URL is not used for FIFO sources"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_are_not_sqs_fail_whole() {
    let kendra = kendra_local(0).await;
    let app = app(&kendra, config());
    let good = sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["a"]})),
        1,
        None,
    );
    let mut s3 = good.clone();
    s3["eventSource"] = json!("aws:s3");
    let mut no_id = good.clone();
    no_id.as_object_mut().unwrap().remove("messageId");
    let mut empty_id = good.clone();
    empty_id["messageId"] = json!("");
    for event in [
        sqs_event(vec![good.clone(), s3]),
        sqs_event(vec![good.clone(), no_id]),
        sqs_event(vec![empty_id]),
        sqs_event(vec![]),
        json!({"Records": "nope"}),
    ] {
        let error = app.handle(event.clone()).await.unwrap_err();
        assert_eq!(error.error_type(), "ValidationError", "{event}");
    }
    assert!(kendra.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_already_past_sends_every_batch_round_again_unchecked() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a"]);
    kendra.clear_requests();
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    let app = app(&kendra, cfg);
    let now_ms = now_ms();
    let records = vec![
        sqs_record(
            "m1",
            &body(json!({"indexId": INDEX, "documents": ["a"]})),
            1,
            None,
        ),
        sqs_record(
            "m2",
            &body(json!({"indexId": INDEX, "documents": ["b"]})),
            1,
            None,
        ),
    ];
    let response = app
        .handle_until(sqs_event(records), now_ms - 1_000)
        .await
        .unwrap();
    assert!(kendra.requests().is_empty(), "no call started");
    // Nothing was checked: both batches go round again, UNCHECKED (this queue answers at
    // once; one that did not would have them reported instead, as the next test shows).
    assert!(failures(&response).is_empty(), "{response}");
    let sent = app.sqs.sent();
    assert_eq!(sent.len(), 2);
    for message in &sent {
        let batch: Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(batch["counts"], json!({"UNCHECKED": 1}), "{batch}");
        assert_eq!(batch["attempt"], 1);
    }
}

/// A queue that never answers.
struct HangingPublisher;

#[async_trait::async_trait]
impl kendra_waiter::publish::Publisher for HangingPublisher {
    async fn send_message(
        &self,
        _: kendra_waiter::publish::OutgoingMessage,
    ) -> Result<(), kendra_waiter::publish::PublishError> {
        std::future::pending().await
    }

    async fn change_message_visibility(
        &self,
        _: &str,
        _: &str,
        _: u32,
    ) -> Result<(), kendra_waiter::publish::PublishError> {
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_never_answers_is_reported_before_the_deadline() {
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow"]);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    cfg.deadline_margin = std::time::Duration::from_millis(300);
    let app = app_with_sqs(&kendra, cfg, Some(Box::new(HangingPublisher)));
    let now_ms = now_ms();
    let started = std::time::Instant::now();
    let records = vec![sqs_record(
        "m1",
        &body(json!({"indexId": INDEX, "documents": ["slow"]})),
        1,
        None,
    )];
    let response = app
        .handle_until(sqs_event(records), now_ms + 1000)
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1000),
        "answered after the deadline"
    );
    assert_eq!(failures(&response), ["m1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishes_go_out_in_batches_of_ten() {
    let kendra = kendra_local(5).await;
    let ids: Vec<String> = (0..25).map(|i| format!("slow-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    let mut cfg = config();
    cfg.retry_queue_url = Some("http://sqs.local/123/check".into());
    let app = app(&kendra, cfg);
    let records = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            sqs_record(
                &format!("m{i}"),
                &body(json!({"indexId": INDEX, "documents": [id]})),
                1,
                None,
            )
        })
        .collect();
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let mut batches = app.sqs.batches();
    batches.sort();
    assert_eq!(batches, [5, 10, 10]);
    assert_eq!(app.sqs.sent().len(), 25);
}
