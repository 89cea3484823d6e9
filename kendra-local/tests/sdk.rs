//! Every operation, validation error and fault, driven through the real `aws-sdk-kendra`
//! client pointed at the emulator; asserts the SDK sees typed errors and retries exactly as
//! it would against Kendra (the request log counts the attempts).

mod common;

use aws_sdk_kendra::Client;
use aws_sdk_kendra::error::ProvideErrorMetadata;
use aws_sdk_kendra::operation::RequestId;
use aws_sdk_kendra::operation::batch_get_document_status::BatchGetDocumentStatusError;
use aws_sdk_kendra::primitives::Blob;
use aws_sdk_kendra::types::{
    ContentType, Document, DocumentAttribute, DocumentAttributeValue, DocumentInfo, DocumentStatus,
    IndexEdition, IndexStatus, S3Path,
};
use common::*;
use kendra_local::{Config, FaultKind, Faults};
use std::time::{Duration, Instant};

fn doc(id: &str) -> Document {
    Document::builder()
        .id(id)
        .title(format!("title of {id}"))
        .blob(Blob::new(format!("content of {id}")))
        .content_type(ContentType::PlainText)
        .build()
        .unwrap()
}

fn info(id: &str) -> DocumentInfo {
    DocumentInfo::builder().document_id(id).build().unwrap()
}

#[derive(Debug, Default)]
struct Statuses {
    /// (id, status, failure code, failure reason)
    list: Vec<(String, String, Option<String>, Option<String>)>,
    /// (id, error code, message)
    errors: Vec<(String, String, String)>,
}

impl Statuses {
    fn of(&self, id: &str) -> &str {
        self.list
            .iter()
            .find(|s| s.0 == id)
            .map(|s| s.1.as_str())
            .unwrap_or_else(|| panic!("{id} not in {:?}", self.list))
    }
}

async fn get(c: &Client, index: &str, ids: &[&str]) -> Statuses {
    let out = c
        .batch_get_document_status()
        .index_id(index)
        .set_document_info_list(Some(ids.iter().map(|id| info(id)).collect()))
        .send()
        .await
        .unwrap();
    Statuses {
        list: out
            .document_status_list()
            .iter()
            .map(|s| {
                (
                    s.document_id().unwrap().to_owned(),
                    s.document_status().unwrap().as_str().to_owned(),
                    s.failure_code().map(str::to_owned),
                    s.failure_reason().map(str::to_owned),
                )
            })
            .collect(),
        errors: out
            .errors()
            .iter()
            .map(|e| {
                (
                    e.document_id().unwrap().to_owned(),
                    e.error_code().unwrap().as_str().to_owned(),
                    e.error_message().unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

async fn put(c: &Client, index: &str, docs: Vec<Document>) -> Vec<(String, String, String)> {
    c.batch_put_document()
        .index_id(index)
        .set_documents(Some(docs))
        .send()
        .await
        .unwrap()
        .failed_documents()
        .iter()
        .map(|f| {
            (
                f.id().unwrap().to_owned(),
                f.error_code().unwrap().as_str().to_owned(),
                f.error_message().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn delete(c: &Client, index: &str, ids: &[&str]) -> Vec<(String, String)> {
    c.batch_delete_document()
        .index_id(index)
        .set_document_id_list(Some(ids.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .unwrap()
        .failed_documents()
        .iter()
        .map(|f| {
            (
                f.id().unwrap().to_owned(),
                f.error_code().unwrap().as_str().to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- operations and lifecycle

#[tokio::test]
async fn index_operations_round_trip() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let c = client(&kendra);
    let created = c
        .create_index()
        .name("my-index")
        .edition(IndexEdition::DeveloperEdition)
        .role_arn("arn:aws:iam::123456789012:role/kendra")
        .description("for tests")
        .send()
        .await
        .unwrap();
    let id = created.id().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    assert!(kendra_local::is_valid_index_id(&id));
    assert!(created.request_id().is_some_and(|r| !r.is_empty()));

    let d = c.describe_index().id(&id).send().await.unwrap();
    assert_eq!(d.id(), Some(id.as_str()));
    assert_eq!(d.name(), Some("my-index"));
    assert_eq!(d.status(), Some(&IndexStatus::Active));
    assert_eq!(d.edition(), Some(&IndexEdition::DeveloperEdition));
    assert_eq!(d.description(), Some("for tests"));
    assert!(d.created_at().unwrap().secs() > 1_600_000_000);
    assert!(d.updated_at().is_some());

    let second = c
        .create_index()
        .name("other")
        .role_arn("arn:aws:iam::123456789012:role/kendra")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let all = c.list_indices().send().await.unwrap();
    let ids: Vec<&str> = all
        .index_configuration_summary_items()
        .iter()
        .map(|i| i.id().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), second.as_str()]);
    assert!(all.next_token().is_none());
    let summary = &all.index_configuration_summary_items()[0];
    assert_eq!(summary.name(), Some("my-index"));
    assert_eq!(summary.status(), &IndexStatus::Active);

    // Pagination.
    let page1 = c.list_indices().max_results(1).send().await.unwrap();
    assert_eq!(page1.index_configuration_summary_items().len(), 1);
    let token = page1.next_token().unwrap().to_owned();
    let page2 = c
        .list_indices()
        .max_results(1)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page2.index_configuration_summary_items()[0].id(),
        Some(second.as_str())
    );
    assert!(page2.next_token().is_none());

    c.delete_index().id(&id).send().await.unwrap();
    kendra.clear_requests();
    let err = c.describe_index().id(&id).send().await.unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    // ResourceNotFoundException is not retried.
    assert_eq!(
        operations(&kendra),
        [(
            "DescribeIndex".into(),
            Some("ResourceNotFoundException".into())
        )]
    );
    let err = c.delete_index().id(&id).send().await.unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    assert_eq!(
        c.list_indices()
            .send()
            .await
            .unwrap()
            .index_configuration_summary_items()
            .len(),
        1
    );
}

#[tokio::test]
async fn create_index_is_idempotent_with_a_client_token() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let c = client(&kendra);
    let create = || {
        c.create_index()
            .name("same")
            .role_arn("arn:aws:iam::123456789012:role/kendra")
            .client_token("token-1")
            .send()
    };
    let a = create().await.unwrap().id().unwrap().to_owned();
    let b = create().await.unwrap().id().unwrap().to_owned();
    assert_eq!(a, b);
}

#[tokio::test]
async fn lifecycle_by_observation_count() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(1),
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    assert_eq!(get(&c, INDEX, &["a"]).await.of("a"), "NOT_FOUND");
    assert!(put(&c, INDEX, vec![doc("a"), doc("b")]).await.is_empty());
    let s = get(&c, INDEX, &["a", "b", "never"]).await;
    assert_eq!(
        (s.of("a"), s.of("b"), s.of("never")),
        ("PROCESSING", "PROCESSING", "NOT_FOUND")
    );
    let s = get(&c, INDEX, &["a", "b"]).await;
    assert_eq!((s.of("a"), s.of("b")), ("INDEXED", "INDEXED"));
    assert!(s.errors.is_empty());
    // Typed enum on the SDK side.
    let out = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.document_status_list()[0].document_status(),
        Some(&DocumentStatus::Indexed)
    );

    // Put over an existing document: UPDATED.
    assert!(put(&c, INDEX, vec![doc("a")]).await.is_empty());
    assert_eq!(get(&c, INDEX, &["a"]).await.of("a"), "PROCESSING");
    assert_eq!(get(&c, INDEX, &["a"]).await.of("a"), "UPDATED");

    // Delete: PROCESSING, then NOT_FOUND.
    assert!(delete(&c, INDEX, &["a", "never-put"]).await.is_empty());
    assert_eq!(get(&c, INDEX, &["a"]).await.of("a"), "PROCESSING");
    assert_eq!(get(&c, INDEX, &["a"]).await.of("a"), "NOT_FOUND");
    assert_eq!(get(&c, INDEX, &["b"]).await.of("b"), "INDEXED");
}

#[tokio::test]
async fn lifecycle_by_time_honours_the_delay() {
    let delay = Duration::from_millis(300);
    let kendra = start_with_index(Config {
        indexing_delay: delay,
        delete_delay: delay,
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    let put_at = Instant::now();
    assert!(put(&c, INDEX, vec![doc("t")]).await.is_empty());
    // Poll (bounded) until indexed; it must not be indexed before the delay.
    let mut indexed_after = None;
    for _ in 0..500 {
        let status = get(&c, INDEX, &["t"]).await.of("t").to_owned();
        let elapsed = put_at.elapsed();
        match status.as_str() {
            "INDEXED" => {
                indexed_after = Some(elapsed);
                break;
            }
            "PROCESSING" => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("unexpected {other}"),
        }
    }
    let indexed_after = indexed_after.expect("indexed within the polling bound");
    assert!(indexed_after >= delay, "{indexed_after:?}");

    let deleted_at = Instant::now();
    delete(&c, INDEX, &["t"]).await;
    let mut gone_after = None;
    for _ in 0..500 {
        let status = get(&c, INDEX, &["t"]).await.of("t").to_owned();
        if status == "NOT_FOUND" {
            gone_after = Some(deleted_at.elapsed());
            break;
        }
        assert_eq!(status, "PROCESSING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone_after.expect("deleted within the polling bound") >= delay);
}

#[tokio::test]
async fn simulated_document_outcomes() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    let ids = [
        "fail-1",
        "update-fail-1",
        "stuck-1",
        "status-WEIRD_NEW-1",
        "error-internal-1",
        "error-invalid-1",
        "plain-1",
    ];
    assert!(
        put(&c, INDEX, ids.iter().map(|i| doc(i)).collect())
            .await
            .is_empty()
    );
    let s = get(&c, INDEX, &ids).await;
    assert_eq!(s.of("fail-1"), "FAILED");
    let failed = s.list.iter().find(|x| x.0 == "fail-1").unwrap();
    assert_eq!(failed.2.as_deref(), Some("KendraLocal.SimulatedFailure"));
    assert_eq!(
        failed.3.as_deref(),
        Some("simulated failure for document fail-1")
    );
    assert_eq!(s.of("update-fail-1"), "FAILED");
    assert_eq!(s.of("stuck-1"), "PROCESSING");
    assert_eq!(s.of("status-WEIRD_NEW-1"), "WEIRD_NEW");
    assert_eq!(s.of("plain-1"), "INDEXED");
    // Per-document errors appear only in Errors.
    assert_eq!(s.list.len(), 5);
    assert_eq!(s.errors.len(), 2);
    let internal = s.errors.iter().find(|e| e.0 == "error-internal-1").unwrap();
    assert_eq!(internal.1, "InternalError");
    let invalid = s.errors.iter().find(|e| e.0 == "error-invalid-1").unwrap();
    assert_eq!(invalid.1, "InvalidRequest");
    assert!(invalid.2.contains("error-invalid-1"));

    // The SDK's typed view of an unknown status.
    let out = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("status-WEIRD_NEW-1"))
        .send()
        .await
        .unwrap();
    let st = out.document_status_list()[0].document_status().unwrap();
    assert!(!DocumentStatus::values().contains(&st.as_str()));
    assert_eq!(st.as_str(), "WEIRD_NEW");

    // Put again over an existing document: UPDATE_FAILED; stuck stays stuck.
    put(&c, INDEX, vec![doc("update-fail-1")]).await;
    let s = get(&c, INDEX, &["update-fail-1", "stuck-1"]).await;
    assert_eq!(s.of("update-fail-1"), "UPDATE_FAILED");
    assert_eq!(s.list[0].2.as_deref(), Some("KendraLocal.SimulatedFailure"));
    assert_eq!(s.of("stuck-1"), "PROCESSING");
}

#[tokio::test]
async fn batch_writes_report_failed_documents() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    let both = Document::builder()
        .id("both")
        .blob(Blob::new("x"))
        .s3_path(S3Path::builder().bucket("b").key("k").build().unwrap())
        .build()
        .unwrap();
    let failed = put(
        &c,
        INDEX,
        vec![
            doc("ok-1"),
            doc("reject-invalid-1"),
            doc("reject-internal-1"),
            both,
            doc("ok-1"),
        ],
    )
    .await;
    let codes: Vec<(&str, &str)> = failed
        .iter()
        .map(|f| (f.0.as_str(), f.1.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("reject-invalid-1", "InvalidRequest"),
            ("reject-internal-1", "InternalError"),
            ("both", "InvalidRequest"),
            ("ok-1", "InvalidRequest"),
        ]
    );
    assert!(failed[2].2.contains("Blob and S3Path"));
    // The rest of the batch was accepted, the failed ones were not. (A status call naming a
    // `reject-` id is refused whole, so that the `reject-invalid-1` put was not applied is
    // asserted by the unit tests of ops/batch_put_document.rs.)
    let s = get(&c, INDEX, &["ok-1", "both"]).await;
    assert_eq!(s.of("ok-1"), "INDEXED");
    assert_eq!(s.of("both"), "NOT_FOUND");

    let failed = delete(
        &c,
        INDEX,
        &["ok-1", "reject-internal-2", "reject-invalid-2"],
    )
    .await;
    assert_eq!(
        failed,
        [
            ("reject-internal-2".to_owned(), "InternalError".to_owned()),
            ("reject-invalid-2".to_owned(), "InvalidRequest".to_owned())
        ]
    );
    assert_eq!(get(&c, INDEX, &["ok-1"]).await.of("ok-1"), "NOT_FOUND");
}

#[tokio::test]
async fn library_helpers_drive_the_same_state() {
    let kendra = kendra_local::start(Config {
        indexing_checks: Some(1),
        ..Config::default()
    })
    .await
    .unwrap();
    let other = "ffffffff-ffff-ffff-ffff-ffffffffffff";
    kendra.create_index(other);
    kendra.put_documents(INDEX, &["x", "fail-x"]);
    kendra.put_documents(other, &["y"]);
    let c = client(&kendra);
    assert_eq!(get(&c, INDEX, &["x"]).await.of("x"), "PROCESSING");
    let s = get(&c, INDEX, &["x", "fail-x"]).await;
    assert_eq!((s.of("x"), s.of("fail-x")), ("INDEXED", "PROCESSING"));
    assert_eq!(get(&c, INDEX, &["fail-x"]).await.of("fail-x"), "FAILED");
    kendra.delete_documents(INDEX, &["x"]);
    get(&c, INDEX, &["x"]).await;
    assert_eq!(get(&c, INDEX, &["x"]).await.of("x"), "NOT_FOUND");
    get(&c, other, &["y"]).await;
    assert_eq!(get(&c, other, &["y"]).await.of("y"), "INDEXED");
    // Library calls are not HTTP calls: the log holds only the SDK's.
    assert!(
        kendra
            .requests()
            .iter()
            .all(|r| r.operation == "BatchGetDocumentStatus")
    );
}

#[tokio::test]
async fn request_log_records_batches_and_clears() {
    let kendra = start_with_index(Config::default()).await;
    let c = client(&kendra);
    put(&c, INDEX, vec![doc("a"), doc("b"), doc("c")]).await;
    get(&c, INDEX, &["a", "b"]).await;
    delete(&c, INDEX, &["c"]).await;
    let log = kendra.requests();
    let summary: Vec<(&str, Option<&str>, Vec<&str>)> = log
        .iter()
        .map(|r| {
            (
                r.operation.as_str(),
                r.index_id.as_deref(),
                r.document_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("BatchPutDocument", Some(INDEX), vec!["a", "b", "c"]),
            ("BatchGetDocumentStatus", Some(INDEX), vec!["a", "b"]),
            ("BatchDeleteDocument", Some(INDEX), vec!["c"]),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].arrived <= w[1].arrived));
    assert!(log.iter().all(|r| r.in_flight == 1 && r.error.is_none()));
    kendra.clear_requests();
    assert!(kendra.requests().is_empty());
    get(&c, INDEX, &["a"]).await;
    assert_eq!(kendra.requests().len(), 1);
}

// ---------------------------------------------------------------- validation

/// Asserts a typed ValidationException whose message names `field`, answered once (the SDK
/// does not retry it).
fn assert_validation<E, R>(
    kendra: &kendra_local::KendraLocal,
    err: aws_sdk_kendra::error::SdkError<E, R>,
    field: &str,
) where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let msg = err.message().unwrap_or_default().to_owned();
    assert!(
        msg.contains(&format!("'{field}'")),
        "{field} not named in {msg}"
    );
    let log = kendra.requests();
    assert_eq!(log.len(), 1, "not retried: {log:?}");
    assert_eq!(log[0].error.as_deref(), Some("ValidationException"));
    kendra.clear_requests();
}

#[tokio::test]
async fn batch_get_document_status_validation() {
    let kendra = start_with_index(Config::default()).await;
    let c = client(&kendra);
    let call = |index: &str, ids: Vec<String>| {
        c.batch_get_document_status()
            .index_id(index)
            .set_document_info_list(Some(ids.iter().map(|i| info(i)).collect()))
            .send()
    };
    let one = || vec!["a".to_owned()];
    let e = call(&INDEX[..35], one()).await.unwrap_err();
    assert_validation(&kendra, e, "indexId");
    let e = call(&INDEX.replacen('0', "_", 1), one()).await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "indexId");
    let e = call(&format!("-{}", &INDEX[1..]), one()).await.unwrap_err();
    assert_validation(&kendra, e, "indexId");
    let e = call(INDEX, vec![]).await.unwrap_err();
    assert_validation(&kendra, e, "documentInfoList");
    let e = call(INDEX, (0..11).map(|i| i.to_string()).collect())
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documentInfoList");
    let e = call(INDEX, vec!["ok".into(), String::new()])
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documentInfoList.2.member.documentId");
    let e = call(INDEX, vec!["x".repeat(2049)]).await.unwrap_err();
    assert_validation(&kendra, e, "documentInfoList.1.member.documentId");
    // The bounds themselves are fine.
    let s = get(&c, INDEX, &[&"x".repeat(2048)]).await;
    assert_eq!(s.list[0].1, "NOT_FOUND");
    let ten: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let ten_refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    assert_eq!(get(&c, INDEX, &ten_refs).await.list.len(), 10);
    // Missing DocumentInfoList entirely.
    let e = c
        .batch_get_document_status()
        .index_id(INDEX)
        .send()
        .await
        .unwrap_err();
    kendra.clear_requests();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(e.message().unwrap().contains("'documentInfoList'"));
}

#[tokio::test]
async fn batch_put_and_delete_validation() {
    let kendra = start_with_index(Config::default()).await;
    let c = client(&kendra);
    let put_call = |index: &str, docs: Vec<Document>| {
        c.batch_put_document()
            .index_id(index)
            .set_documents(Some(docs))
            .send()
    };
    let e = put_call("short", vec![doc("a")]).await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "indexId");
    let e = put_call(INDEX, vec![]).await.unwrap_err();
    assert_validation(&kendra, e, "documents");
    let e = put_call(INDEX, (0..11).map(|i| doc(&i.to_string())).collect())
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documents");
    let e = put_call(INDEX, vec![doc("")]).await.unwrap_err();
    assert_validation(&kendra, e, "documents.1.member.id");
    let e = put_call(INDEX, vec![doc("a"), doc(&"y".repeat(2049))])
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documents.2.member.id");

    let del_call = |index: &str, ids: Vec<String>| {
        c.batch_delete_document()
            .index_id(index)
            .set_document_id_list(Some(ids))
            .send()
    };
    let e = del_call(&"z".repeat(37), vec!["a".into()])
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "indexId");
    let e = del_call(INDEX, vec![]).await.unwrap_err();
    assert_validation(&kendra, e, "documentIdList");
    let e = del_call(INDEX, (0..11).map(|i| i.to_string()).collect())
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documentIdList");
    let e = del_call(INDEX, vec![String::new()]).await.unwrap_err();
    assert_validation(&kendra, e, "documentIdList.1.member");
    let e = del_call(INDEX, vec!["a".into(), "w".repeat(2049)])
        .await
        .unwrap_err();
    assert_validation(&kendra, e, "documentIdList.2.member");
}

#[tokio::test]
async fn index_operation_validation() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let c = client(&kendra);
    let e = c.describe_index().id("nope").send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "id");
    let e = c.delete_index().id("nope").send().await.unwrap_err();
    assert_validation(&kendra, e, "id");
    let e = c
        .create_index()
        .role_arn("arn:aws:iam::123456789012:role/kendra")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "name");
    let e = c.create_index().name("n").send().await.unwrap_err();
    assert_validation(&kendra, e, "roleArn");
    let e = c.list_indices().max_results(0).send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    assert_validation(&kendra, e, "maxResults");
}

#[tokio::test]
async fn unknown_index_is_resource_not_found_and_not_retried() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let c = client(&kendra);
    let e = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    assert!(e.message().unwrap().contains(INDEX));
    let e = c
        .batch_put_document()
        .index_id(INDEX)
        .documents(doc("a"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    let e = c
        .batch_delete_document()
        .index_id(INDEX)
        .document_id_list("a")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    let e = c.describe_index().id(INDEX).send().await.unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    let e = c.delete_index().id(INDEX).send().await.unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    let log = operations(&kendra);
    assert_eq!(log.len(), 5, "each answered once: {log:?}");
    assert!(
        log.iter()
            .all(|(_, e)| e.as_deref() == Some("ResourceNotFoundException"))
    );
}

// ---------------------------------------------------------------- attribute rules

fn attr(key: &str, value: DocumentAttributeValue) -> DocumentAttribute {
    DocumentAttribute::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap()
}

fn text(s: &str) -> DocumentAttributeValue {
    DocumentAttributeValue::builder().string_value(s).build()
}

fn info_with(id: &str, attributes: Vec<DocumentAttribute>) -> DocumentInfo {
    DocumentInfo::builder()
        .document_id(id)
        .set_attributes(Some(attributes))
        .build()
        .unwrap()
}

/// Sends one status call; a refusal must be a typed ValidationException, answered once (not
/// retried) and naming the rule and the document.
async fn refused_message(
    kendra: &kendra_local::KendraLocal,
    c: &Client,
    infos: Vec<DocumentInfo>,
) -> String {
    kendra.clear_requests();
    let e = c
        .batch_get_document_status()
        .index_id(INDEX)
        .set_document_info_list(Some(infos))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_validation_exception(),
        "{e:?}"
    );
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
    assert_eq!(
        operations(kendra),
        [(
            "BatchGetDocumentStatus".into(),
            Some("ValidationException".into())
        )]
    );
    e.message().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn status_attributes_follow_kendras_rules() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    kendra.put_documents(INDEX, &["a"]);
    let long_version = DocumentAttributeValue::builder().long_value(3).build();
    // Accepted: version of either type, and the datasourceId / jobExecutionId pair.
    let out = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info_with("a", vec![attr("version", long_version)]))
        .document_info_list(info_with("b", vec![attr("version", text("3"))]))
        .document_info_list(info_with(
            "c",
            vec![
                attr("datasourceId", text("ds")),
                attr("jobExecutionId", text("job")),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.document_status_list().len(), 3);
    assert_eq!(
        out.document_status_list()[0].document_status(),
        Some(&DocumentStatus::Indexed)
    );

    // Another key, in one document of three: the whole call is refused.
    let msg = refused_message(
        &kendra,
        &c,
        vec![
            info("a"),
            info_with("doc-2", vec![attr("colour", text("red"))]),
            info("c"),
        ],
    )
    .await;
    assert_eq!(
        msg,
        "Document doc-2 has the attribute key colour: the only valid attribute keys of \
         DocumentInfo are version, datasourceId and jobExecutionId."
    );

    // datasourceId and jobExecutionId together or not at all.
    let msg = refused_message(
        &kendra,
        &c,
        vec![info_with("doc-3", vec![attr("datasourceId", text("ds"))])],
    )
    .await;
    assert_eq!(
        msg,
        "Document doc-3 has datasourceId without jobExecutionId: dataSourceId and \
         jobExecutionId must be used together."
    );
    let msg = refused_message(
        &kendra,
        &c,
        vec![info_with("doc-4", vec![attr("jobExecutionId", text("j"))])],
    )
    .await;
    assert!(
        msg.contains("dataSourceId and jobExecutionId must be used together"),
        "{msg}"
    );
    assert!(msg.starts_with("Document doc-4 "), "{msg}");

    // The key's own shape, Kendra-style, with the document named.
    let msg = refused_message(
        &kendra,
        &c,
        vec![
            info("a"),
            info_with("doc-5", vec![attr("bad key", text("x"))]),
        ],
    )
    .await;
    assert_eq!(
        msg,
        "1 validation error detected: Value 'bad key' at \
         'documentInfoList.2.member.attributes.1.member.key' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_][a-zA-Z0-9_-]* \
         (document doc-5)"
    );
    let msg = refused_message(
        &kendra,
        &c,
        vec![info_with("doc-6", vec![attr(&"k".repeat(201), text("x"))])],
    )
    .await;
    assert!(
        msg.contains("'documentInfoList.1.member.attributes.1.member.key'")
            && msg.contains("have length less than or equal to 200 (document doc-6)"),
        "{msg}"
    );
}

#[tokio::test]
async fn reject_ids_refuse_the_whole_status_call() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    kendra.put_documents(INDEX, &["a", "b"]);
    let msg = refused_message(&kendra, &c, vec![info("a"), info("reject-7"), info("b")]).await;
    assert_eq!(
        msg,
        "Document reject-7 is refused by kendra-local's reject- rule (a simulated \
         ValidationException)."
    );
    // The write rules' ids are `reject-` ids too.
    let msg = refused_message(&kendra, &c, vec![info("reject-invalid-1")]).await;
    assert!(msg.contains("reject-invalid-1"), "{msg}");
    // Without the refused document the same call answers: a client can isolate it.
    let s = get(&c, INDEX, &["a", "b"]).await;
    assert_eq!((s.of("a"), s.of("b")), ("INDEXED", "INDEXED"));
    // Checked like Kendra's validation: before the index is looked up.
    kendra.clear_requests();
    let e = c
        .batch_get_document_status()
        .index_id("ffffffff-ffff-ffff-ffff-ffffffffffff")
        .document_info_list(info("reject-1"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_validation_exception());
    // The rule is for status calls only: a write of a plain `reject-` id is accepted.
    assert!(put(&c, INDEX, vec![doc("reject-1")]).await.is_empty());
    assert!(delete(&c, INDEX, &["reject-1"]).await.is_empty());
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn sdk_retries_scripted_throttling_then_succeeds() {
    let kendra = start_with_index(Config::default()).await;
    let c = client(&kendra);
    kendra.fail_next(2, FaultKind::Throttling);
    let s = get(&c, INDEX, &["a"]).await;
    assert_eq!(s.of("a"), "NOT_FOUND");
    assert_eq!(
        operations(&kendra),
        [
            (
                "BatchGetDocumentStatus".into(),
                Some("ThrottlingException".into())
            ),
            (
                "BatchGetDocumentStatus".into(),
                Some("ThrottlingException".into())
            ),
            ("BatchGetDocumentStatus".into(), None),
        ]
    );
}

#[tokio::test]
async fn sdk_gives_up_after_three_attempts_with_typed_errors() {
    let kendra = start_with_index(Config::default()).await;
    let c = client(&kendra);
    let call = || {
        c.batch_get_document_status()
            .index_id(INDEX)
            .document_info_list(info("a"))
            .send()
    };

    kendra.fail_next(3, FaultKind::Throttling);
    let e = call().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_throttling_exception());
    assert_eq!(kendra.requests().len(), 3);
    kendra.clear_requests();

    kendra.fail_next(3, FaultKind::InternalServer);
    let e = call().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_internal_server_exception());
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 500);
    assert_eq!(kendra.requests().len(), 3);
    kendra.clear_requests();

    // Not retried: client errors.
    type Check = fn(&BatchGetDocumentStatusError) -> bool;
    let cases: [(FaultKind, Check); 4] = [
        (
            FaultKind::ResourceNotFound,
            BatchGetDocumentStatusError::is_resource_not_found_exception,
        ),
        (
            FaultKind::AccessDenied,
            BatchGetDocumentStatusError::is_access_denied_exception,
        ),
        (
            FaultKind::Validation,
            BatchGetDocumentStatusError::is_validation_exception,
        ),
        (
            FaultKind::Conflict,
            BatchGetDocumentStatusError::is_conflict_exception,
        ),
    ];
    for (kind, check) in cases {
        kendra.fail_next(1, kind);
        let e = call().await.unwrap_err();
        assert!(check(e.as_service_error().unwrap()), "{kind:?}: {e:?}");
        assert_eq!(e.code(), Some(kind.code()));
        assert_eq!(kendra.requests().len(), 1, "{kind:?} not retried");
        kendra.clear_requests();
    }
    // Scripted faults are used up: the next call succeeds at once.
    call().await.unwrap();
    assert_eq!(kendra.requests().len(), 1);
}

#[tokio::test]
async fn error_rates_apply_to_status_calls_only_by_default() {
    let kendra = start_with_index(Config {
        faults: Faults {
            internal_error_rate: 1.0,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    // Puts are not affected...
    assert!(put(&c, INDEX, vec![doc("a")]).await.is_empty());
    kendra.clear_requests();
    // ...status calls are, and the SDK retries the 500s.
    let e = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_internal_server_exception());
    assert_eq!(
        operations(&kendra),
        vec![
            (
                "BatchGetDocumentStatus".to_owned(),
                Some("InternalServerException".to_owned())
            );
            3
        ]
    );
    kendra.clear_requests();

    kendra.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let e = c
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_throttling_exception());
    assert_eq!(kendra.requests().len(), 3);
    kendra.clear_requests();

    // Chosen operations: puts fail, status calls work.
    kendra.set_faults(Faults {
        internal_error_rate: 1.0,
        operations: vec!["BatchPutDocument".into()],
        ..Faults::default()
    });
    let e = c
        .batch_put_document()
        .index_id(INDEX)
        .documents(doc("b"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_internal_server_exception());
    get(&c, INDEX, &["a"]).await;
    kendra.set_faults(Faults::default());
    put(&c, INDEX, vec![doc("b")]).await;
}

#[tokio::test]
async fn random_faults_are_seeded() {
    async fn outcomes(seed: u64) -> Vec<Option<String>> {
        let kendra = start_with_index(Config {
            faults: Faults {
                internal_error_rate: 0.3,
                throttle_rate: 0.3,
                seed,
                ..Faults::default()
            },
            ..Config::default()
        })
        .await;
        let c = client_with_attempts(&kendra, 1);
        for _ in 0..30 {
            let _ = c
                .batch_get_document_status()
                .index_id(INDEX)
                .document_info_list(info("a"))
                .send()
                .await;
        }
        kendra.requests().into_iter().map(|r| r.error).collect()
    }
    let a = outcomes(11).await;
    assert_eq!(a.len(), 30);
    assert_eq!(a, outcomes(11).await);
    assert_ne!(a, outcomes(12).await);
    let has = |code: &str| a.iter().any(|e| e.as_deref() == Some(code));
    assert!(has("ThrottlingException") && has("InternalServerException"));
    assert!(a.iter().any(Option::is_none));
}

#[tokio::test]
async fn rate_cap_throttles_calls_above_it() {
    let kendra = start_with_index(Config {
        faults: Faults {
            // One call per 100 s: the first passes, the next ones are above the rate.
            max_rps: Some(0.01),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let c = client_with_attempts(&kendra, 1);
    get(&c, INDEX, &["a"]).await;
    for _ in 0..3 {
        let e = c
            .batch_get_document_status()
            .index_id(INDEX)
            .document_info_list(info("a"))
            .send()
            .await
            .unwrap_err();
        assert!(e.as_service_error().unwrap().is_throttling_exception());
    }
    let errors: Vec<Option<String>> = kendra.requests().into_iter().map(|r| r.error).collect();
    assert_eq!(
        errors,
        [
            None,
            Some("ThrottlingException".into()),
            Some("ThrottlingException".into()),
            Some("ThrottlingException".into())
        ]
    );
    // With the SDK's retries, a throttled call is attempted three times.
    kendra.clear_requests();
    let c3 = client(&kendra);
    let e = c3
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_throttling_exception());
    assert_eq!(kendra.requests().len(), 3);
}

#[tokio::test]
async fn latency_delays_answers_and_shows_concurrency() {
    let latency = Duration::from_millis(400);
    let kendra = start_with_index(Config {
        faults: Faults {
            latency,
            latency_jitter: Duration::from_millis(50),
            seed: 1,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let c = client(&kendra);
    let started = Instant::now();
    get(&c, INDEX, &["a"]).await;
    assert!(started.elapsed() >= latency);
    kendra.clear_requests();

    // Five concurrent calls, each held for the latency: they overlap on the server.
    let calls = (0..5).map(|i| {
        let c = c.clone();
        tokio::spawn(async move { get(&c, INDEX, &[&format!("d{i}")]).await })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
    let log = kendra.requests();
    assert_eq!(log.len(), 5);
    let max = log.iter().map(|r| r.in_flight).max().unwrap();
    assert!(max >= 2, "calls overlapped: {log:?}");
    assert!(log.iter().all(|r| r.in_flight >= 1 && r.in_flight <= 5));
}

#[tokio::test]
async fn a_hung_call_times_out_alone_and_costs_one_attempt() {
    let kendra = start_with_index(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await;
    kendra.put_documents(INDEX, &["a"]);
    // Generous, so a normal call on a loaded machine is not mistaken for the hung one.
    let attempt_timeout = Duration::from_secs(1);

    // One attempt: the client sees a timeout, the next call answers normally.
    let c1 = client_with_attempt_timeout(&kendra, 1, attempt_timeout);
    kendra.fail_next(1, FaultKind::Hang);
    let e = c1
        .batch_get_document_status()
        .index_id(INDEX)
        .document_info_list(info("a"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(e, aws_sdk_kendra::error::SdkError::TimeoutError(_)),
        "{e:?}"
    );
    assert_eq!(get(&c1, INDEX, &["a"]).await.of("a"), "INDEXED");
    assert_eq!(
        settled_error(&kendra, 0).await.as_deref(),
        Some(kendra_local::CLIENT_CLOSED)
    );
    assert_eq!(kendra.requests()[1].error, None);
    kendra.clear_requests();

    // With retries: the timed-out attempt is retried and the call succeeds on the second.
    let c3 = client_with_attempt_timeout(&kendra, 3, attempt_timeout);
    kendra.fail_next(1, FaultKind::Hang);
    assert_eq!(get(&c3, INDEX, &["a"]).await.of("a"), "INDEXED");
    assert_eq!(
        settled_error(&kendra, 0).await.as_deref(),
        Some(FaultKind::Hang.code())
    );
    let log = kendra.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].error, None);
}

#[tokio::test]
async fn a_hung_call_does_not_hold_other_calls() {
    let kendra = start_with_index(Config::default()).await;
    kendra.fail_next(1, FaultKind::Hang);
    let hung = tokio::spawn({
        let c = client_with_attempts(&kendra, 1);
        async move { get(&c, INDEX, &["held"]).await }
    });
    // Should the hang hold the server, these calls fail (time out) instead of the test hanging.
    let c = client_with_attempt_timeout(&kendra, 1, Duration::from_secs(5));
    // Bounded wait until the hung call is in the log, i.e. held by the server.
    for _ in 0..400 {
        if !kendra.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(kendra.requests().len(), 1);
    // Other calls, status and others, are answered while it is held.
    for i in 0..3 {
        let id = format!("other-{i}");
        assert_eq!(get(&c, INDEX, &[&id]).await.of(&id), "NOT_FOUND");
    }
    assert!(put(&c, INDEX, vec![doc("p")]).await.is_empty());
    assert!(!hung.is_finished(), "the hung call is still unanswered");
    let log = kendra.requests();
    assert_eq!(log[0].document_ids, ["held"]);
    assert_eq!(log[0].error, None, "still held");
    assert!(log[1..].iter().all(|r| r.error.is_none()));
    hung.abort();
}
