//! Every file in `events/` is parsed with the handler's own types and run through the handler
//! against kendra-local; `events/expectations.json` says what the contract answers to each.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_lambda_events::event::sqs::SqsEvent;
use common::*;
use kendra_waiter::batch::{Batch, Limits};
use serde_json::Value;

const DEMO_INDEX: &str = "11111111-2222-3333-4444-555555555555";

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("event file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn expectations() -> BTreeMap<String, Value> {
    serde_json::from_value(read("expectations.json")).expect("expectations map")
}

#[test]
fn every_event_file_has_an_expectation_and_parses_with_the_handlers_types() {
    let expected = expectations();
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "expectations.json" && n != "env.json")
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let limits = Limits {
        default_index_id: Some(DEMO_INDEX),
        max_documents: 5000,
        max_attempts: 60,
        max_attempts_limit: 10_000,
    };
    for name in &files {
        let expectation = expected
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no expectation"));
        let event = read(name);
        match expectation["kind"].as_str() {
            Some("sqs") => {
                let sqs: SqsEvent =
                    serde_json::from_value(event).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    sqs.records.len() as u64,
                    expectation["messages"].as_u64().unwrap(),
                    "{name}"
                );
                let poison: Vec<&str> = expectation["batchItemFailures"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for record in &sqs.records {
                    let id = record.message_id.as_deref().unwrap();
                    let body: Result<Value, _> =
                        serde_json::from_str(record.body.as_deref().unwrap_or(""));
                    let parsed = body.ok().map(|b| Batch::parse(b, limits));
                    let valid = matches!(parsed, Some(Ok(_)));
                    assert_eq!(valid, !poison.contains(&id), "{name}: message {id}");
                    if let Some(Ok(batch)) = parsed {
                        assert_kendra_accepts(&batch, name);
                    }
                }
            }
            Some("direct") => {
                let batch = Batch::parse(event, limits).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_kendra_accepts(&batch, name);
                assert_eq!(
                    batch.operation.as_str(),
                    expectation["operation"].as_str().unwrap(),
                    "{name}"
                );
            }
            _ => assert_eq!(expectation["errorType"], "ValidationError", "{name}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_file_gets_the_contracts_answer_from_the_handler() {
    let kendra = kendra_local::start(kendra_local::Config {
        indexes: vec![DEMO_INDEX.to_string()],
        ..kendra_local::Config::default()
    })
    .await
    .unwrap();
    let mut cfg = config();
    cfg.kendra_index_id = Some(DEMO_INDEX.to_string());
    let app = app(&kendra, cfg);

    for (name, expectation) in expectations() {
        let event = read(&name);
        // Put every document any event names, so PUT batches can finish at once.
        for id in document_ids(&event) {
            kendra.put_documents(DEMO_INDEX, &[id.as_str()]);
        }
        let result = app.handle(event.clone()).await;
        match expectation["kind"].as_str() {
            Some("direct") => {
                let result = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(result["attempt"], expectation["attempt"], "{name}");
                assert_eq!(result["operation"], expectation["operation"], "{name}");
                for (key, value) in expectation["keeps"].as_object().unwrap() {
                    assert_eq!(&result[key], value, "{name}: {key}");
                }
                assert!(
                    ["PENDING", "SUCCEEDED", "FAILED"]
                        .contains(&result["status"].as_str().unwrap())
                );
            }
            Some("sqs") => {
                let result = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let reported = failures(&result);
                if let Some(ids) = expectation["batchItemFailures"].as_array() {
                    for id in ids {
                        assert!(
                            reported.contains(&id.as_str().unwrap().to_string()),
                            "{name}: {reported:?}"
                        );
                    }
                }
                assert!(reported.iter().all(|id| !id.is_empty()));
            }
            _ => {
                let error = result.expect_err(&name);
                assert_eq!(
                    error.error_type(),
                    expectation["errorType"].as_str().unwrap(),
                    "{name}"
                );
                if let Some(field) = expectation["mentions"].as_str() {
                    assert!(error.to_string().contains(field), "{name}: {error}");
                }
            }
        }
    }
}

/// A sample event a user tries against their own index must pass Kendra's attribute rules
/// (only version, datasourceId and jobExecutionId; the last two together).
fn assert_kendra_accepts(batch: &Batch, name: &str) {
    for document in &batch.documents {
        assert_eq!(
            document.key.attribute_violation(),
            None,
            "{name}: {}",
            document.key.document_id
        );
    }
}

/// The document ids an event names, direct or inside SQS bodies.
fn document_ids(event: &Value) -> Vec<String> {
    let batches: Vec<Value> = match event.get("Records").and_then(Value::as_array) {
        Some(records) => records
            .iter()
            .filter_map(|r| r["body"].as_str())
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect(),
        None => vec![event.clone()],
    };
    batches
        .iter()
        .filter_map(|b| b["documents"].as_array())
        .flatten()
        .filter_map(|d| d.as_str().or_else(|| d["documentId"].as_str()))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}
