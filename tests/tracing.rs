//! X-Ray: a sampled invocation sends one subsegment per AWS call attempt to the daemon,
//! under the function's segment; an unsampled one sends nothing.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use kendra_waiter::Request;
use kendra_waiter::kendra::KendraStatusSource;
use kendra_waiter::xray::Tracer;
use serde_json::{Value, json};

fn received(listener: &UdpSocket) -> Vec<Value> {
    listener
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut documents = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while let Ok(n) = listener.recv(&mut buffer) {
        let packet = std::str::from_utf8(&buffer[..n]).unwrap();
        let (header, document) = packet.split_once('\n').expect("header line");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        documents.push(serde_json::from_str(document).unwrap());
    }
    documents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_invocation_sends_a_subsegment_per_call() {
    let kendra = kendra_local(0).await;
    kendra.put_documents(INDEX, &["a"]);
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tracer = Tracer::to(Some(listener.local_addr().unwrap()));
    let source = KendraStatusSource::from_conf(
        kendra_config(&kendra.endpoint()).interceptor(tracer.interceptor()),
    );
    let app = app_with_kendra(source, config()).app.with_tracer(tracer);
    let ids: Vec<String> = (0..25).map(|i| format!("d{i}")).collect();
    let request = |sampled: u8| Request {
        request_id: "r".into(),
        deadline_ms: None,
        xray_trace_id: Some(format!(
            "Root=1-6b0d58a0-521c7622d0544453bbe78a00;Parent=7b1185bae79149d8;Sampled={sampled}"
        )),
    };

    app.handle(json!({"indexId": INDEX, "documents": ids}), &request(1))
        .await
        .unwrap();
    let documents = received(&listener);
    assert_eq!(documents.len(), 3, "one subsegment per call: {documents:?}");
    for document in &documents {
        assert_eq!(document["type"], "subsegment");
        assert_eq!(document["trace_id"], "1-6b0d58a0-521c7622d0544453bbe78a00");
        assert_eq!(document["parent_id"], "7b1185bae79149d8");
        assert_eq!(document["aws"]["operation"], "BatchGetDocumentStatus");
        assert_eq!(document["http"]["response"]["status"], 200);
        assert!(document["end_time"].as_f64() >= document["start_time"].as_f64());
    }

    app.handle(json!({"indexId": INDEX, "documents": ["a"]}), &request(0))
        .await
        .unwrap();
    assert!(received(&listener).is_empty(), "unsampled: nothing sent");
}
