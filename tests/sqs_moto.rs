//! Republishing and failure reports against a real SQS protocol server (moto, started here
//! on 127.0.0.1): what a consumer receives is asserted by receiving it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kendra_waiter::publish::SqsPublisher;
use serde_json::{Value, json};

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue created")
        .queue_url()
        .expect("queue url")
        .to_string()
}

async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait_seconds: i32) -> Vec<Value> {
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    output
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or("null")).expect("JSON body"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republished_and_reported_messages_arrive_as_the_contract_says() {
    let moto = Moto::start();
    let sqs = sqs_client(&moto.endpoint);
    let check_queue = create_queue(&sqs, "kendra-waiter-check").await;
    let delayed_queue = create_queue(&sqs, "kendra-waiter-delayed").await;
    let failure_queue = create_queue(&sqs, "kendra-waiter-failures").await;

    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["stuck-1", "done", "fail-1"]);

    // Round 1: base delay 0, so the republished message is visible at once.
    let mut cfg = config();
    cfg.retry_queue_url = Some(check_queue.clone());
    cfg.retry_delay_seconds = 0;
    cfg.failure_queue_url = Some(failure_queue.clone());
    let publisher = Arc::new(RecordingSqs {
        inner: SqsPublisher::new(sqs.clone()),
        sent: Mutex::new(Vec::new()),
    });
    let app = app_with_sqs(&kendra, cfg, Some(Box::new(publisher.clone())));
    let event = sqs_event(vec![sqs_record(
        "m1",
        &json!({"indexId": INDEX, "documents": ["stuck-1", "done"], "operation": "PUT",
                "failed": [{"documentId": "old", "status": "FAILED"}], "attempt": 1, "ref": "r-1"})
        .to_string(),
        2,
        None,
    )]);
    let response = app.handle(event).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(publisher.sent.lock().unwrap()[0].delay_seconds, Some(0));

    let received = receive(&sqs, &check_queue, 1).await;
    assert_eq!(received.len(), 1);
    let body = &received[0];
    // attempt before the round: 1 + (2 - 1) = 2; after: 3.
    assert_eq!(body["attempt"], 3);
    assert_eq!(body["documents"], json!(["stuck-1"]));
    assert_eq!(body["succeeded"], 1);
    assert_eq!(
        body["failed"],
        json!([{"documentId": "old", "status": "FAILED"}])
    );
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["ref"], "r-1");

    // Round 2, from the received body: a delay of 2 s (base 1, attempt 1) keeps it hidden.
    let mut cfg = config();
    cfg.retry_queue_url = Some(delayed_queue.clone());
    cfg.retry_delay_seconds = 1;
    let app2 = common::app_with_sqs(&kendra, cfg, Some(Box::new(SqsPublisher::new(sqs.clone()))));
    let event = sqs_event(vec![sqs_record(
        "m2",
        &json!({"indexId": INDEX, "documents": ["stuck-1"], "attempt": 1}).to_string(),
        1,
        None,
    )]);
    assert!(failures(&app2.handle(event).await.unwrap()).is_empty());
    assert!(
        receive(&sqs, &delayed_queue, 0).await.is_empty(),
        "a delayed message is not visible at once"
    );
    let later = receive(&sqs, &delayed_queue, 5).await;
    assert_eq!(later.len(), 1, "the delayed message arrives");
    assert_eq!(later[0]["attempt"], 2);

    // A finished batch with failures: one report in the failure queue, original acknowledged.
    let event = sqs_event(vec![sqs_record(
        "m3",
        &json!({"indexId": INDEX, "documents": ["fail-1"]}).to_string(),
        1,
        None,
    )]);
    let response = app.handle(event).await.unwrap();
    assert!(failures(&response).is_empty(), "acknowledged once reported");
    let reports = receive(&sqs, &failure_queue, 1).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["status"], "FAILED");
    assert_eq!(reports[0]["sourceMessageId"], "m3");
    assert_eq!(reports[0]["failed"][0]["documentId"], "fail-1");
    assert!(
        receive(&sqs, &failure_queue, 0).await.is_empty(),
        "reported once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_missing_queue_becomes_a_batch_item_failure() {
    let moto = Moto::start();
    let sqs = sqs_client(&moto.endpoint);
    let kendra = kendra_local(5).await;
    kendra.put_documents(INDEX, &["slow"]);
    let mut cfg = config();
    cfg.retry_queue_url = Some(format!("{}/123456789012/no-such-queue", moto.endpoint));
    let app = app_with_sqs(&kendra, cfg, Some(Box::new(SqsPublisher::new(sqs.clone()))));
    let event = sqs_event(vec![
        sqs_record(
            "m1",
            &json!({"indexId": INDEX, "documents": ["slow"]}).to_string(),
            1,
            None,
        ),
        sqs_record(
            "m2",
            &json!({"indexId": INDEX, "operation": "DELETE", "documents": ["gone"]}).to_string(),
            1,
            None,
        ),
        sqs_record(
            "m3",
            &json!({"indexId": INDEX, "documents": ["slow"], "n": 3}).to_string(),
            1,
            None,
        ),
    ]);
    let response = tokio::time::timeout(Duration::from_secs(60), app.handle(event))
        .await
        .expect("answers")
        .unwrap();
    assert_eq!(
        failures(&response),
        ["m1", "m3"],
        "a failed batch send reports each of its messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_republished_messages_arrives_whole() {
    let moto = Moto::start();
    let sqs = sqs_client(&moto.endpoint);
    let check_queue = create_queue(&sqs, "kendra-waiter-batch").await;
    let kendra = kendra_local(0).await;
    let ids: Vec<String> = (0..12).map(|i| format!("stuck-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    let mut cfg = config();
    cfg.retry_queue_url = Some(check_queue.clone());
    cfg.retry_delay_seconds = 0;
    let app = app_with_sqs(&kendra, cfg, Some(Box::new(SqsPublisher::new(sqs.clone()))));
    let records = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let body = json!({"indexId": INDEX, "documents": [id], "n": i}).to_string();
            sqs_record(&format!("m{i}"), &body, 1, None)
        })
        .collect();
    let response = app.handle(sqs_event(records)).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let mut received = Vec::new();
    for _ in 0..5 {
        received.extend(receive(&sqs, &check_queue, 1).await);
        if received.len() >= 12 {
            break;
        }
    }
    let mut numbers: Vec<u64> = received.iter().map(|b| b["n"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (0..12).collect::<Vec<u64>>());
    assert!(
        received
            .iter()
            .all(|b| b["attempt"] == 1 && b["status"] == "PENDING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_queue_receives_only_parts_that_fit_each_document_once() {
    let moto = Moto::start();
    let sqs = sqs_client(&moto.endpoint);
    let small = sqs
        .create_queue()
        .queue_name("kendra-waiter-small")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1024",
        )
        .send()
        .await
        .expect("queue created")
        .queue_url()
        .unwrap()
        .to_string();
    let failures_queue = create_queue(&sqs, "kendra-waiter-failures-small").await;
    let kendra = kendra_local(5).await;
    let ids: Vec<String> = (0..120).map(|i| format!("stuck-{i:03}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    kendra.put_documents(INDEX, &refs);
    let mut cfg = config();
    cfg.retry_queue_url = Some(small.clone());
    cfg.retry_delay_seconds = 0;
    cfg.failure_queue_url = Some(failures_queue.clone());
    let app = app_with_sqs(&kendra, cfg, Some(Box::new(SqsPublisher::new(sqs.clone()))));
    let big = json!({"indexId": INDEX, "documents": ids, "ref": "big"}).to_string();
    let bad = json!({"indexId": INDEX, "documents": [
        {"documentId": "stuck-bad", "attributes": {"colour": "red"}}
    ]})
    .to_string();
    let healthy =
        json!({"indexId": INDEX, "documents": ["stuck-000"], "ref": "healthy"}).to_string();
    let response = app
        .handle(sqs_event(vec![
            sqs_record("big", &big, 1, None),
            sqs_record("bad-attribute", &bad, 1, None),
            sqs_record("healthy", &healthy, 1, None),
        ]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let mut parts = Vec::new();
    for _ in 0..20 {
        let got = receive(&sqs, &small, 1).await;
        if got.is_empty() && parts.len() > 2 {
            break;
        }
        parts.extend(got);
    }
    assert!(parts.iter().all(|p| p.to_string().len() <= 1024));
    let mut seen: Vec<String> = parts
        .iter()
        .filter(|p| p["ref"] == "big")
        .flat_map(|p| p["documents"].as_array().unwrap().clone())
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(
        seen, ids,
        "each pending document of the big batch exactly once"
    );
    assert!(parts.iter().any(|p| p["ref"] == "healthy"));
    let report = receive(&sqs, &failures_queue, 1).await;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0]["sourceMessageId"], "bad-attribute");
    assert_eq!(report[0]["failed"][0]["code"], "InvalidAttributes");
}
