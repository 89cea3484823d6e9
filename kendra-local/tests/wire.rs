//! What the SDK cannot send: unknown operations, broken JSON, other methods; the exact
//! headers; the admin interface; start and stop of the library server.

mod common;

use common::*;
use kendra_local::{Config, Faults};
use std::time::Duration;

const BGDS: &str = "AWSKendraFrontendService.BatchGetDocumentStatus";

#[tokio::test]
async fn success_headers_and_body() {
    let kendra = start_with_index(Config::default()).await;
    let body = format!(
        r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a","Attributes":[{{"Key":"version","Value":{{"LongValue":3}}}}]}}]}}"#
    );
    // Unsigned: any (or no) credentials are accepted.
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(r.header("x-amzn-requestid").map(str::len), Some(36));
    assert_eq!(r.header("x-amzn-errortype"), None);
    assert_eq!(
        r.json(),
        serde_json::json!({"Errors": [], "DocumentStatusList": [{"DocumentId": "a", "DocumentStatus": "NOT_FOUND"}]})
    );
    // Request ids differ per call.
    let r2 = kendra_raw(&kendra, BGDS, &body).await;
    assert_ne!(r.header("x-amzn-requestid"), r2.header("x-amzn-requestid"));
}

#[tokio::test]
async fn unknown_operation() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let r = kendra_raw(&kendra, "AWSKendraFrontendService.Query", "{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    assert!(r.json()["Message"].as_str().unwrap().contains("Query"));
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("UnknownOperationException")
    );
    assert!(r.header("x-amzn-requestid").is_some());
    let r = raw(&kendra, "POST", "/", &[], "{}").await;
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    let r = kendra_raw(&kendra, "SomeOtherService.BatchGetDocumentStatus", "{}").await;
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    let log = kendra.requests();
    assert_eq!(log[0].operation, "Query");
    assert_eq!(log[0].error.as_deref(), Some("UnknownOperationException"));
    assert_eq!(log.len(), 3);
}

#[tokio::test]
async fn unreadable_json_is_a_serialization_exception() {
    let kendra = start_with_index(Config::default()).await;
    for body in [
        "{",
        "not json",
        "[]",
        r#"{"IndexId": 5}"#,
        r#"{"IndexId": "x", "DocumentInfoList": "a"}"#,
        r#"{"IndexId": "x", "DocumentInfoList": [{"DocumentId": 1}]}"#,
        r#"{"IndexId": "x", "DocumentInfoList": [{"DocumentId": "a", "Attributes": {}}]}"#,
        r#"{"IndexId": "x", "DocumentInfoList": [{"DocumentId": "a", "Attributes": [{"Key": 5}]}]}"#,
    ] {
        let r = kendra_raw(&kendra, BGDS, body).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["__type"], "SerializationException", "{body}");
        assert_eq!(r.header("x-amzn-errortype"), Some("SerializationException"));
    }
    let r = kendra_raw(
        &kendra,
        "AWSKendraFrontendService.BatchPutDocument",
        r#"{"IndexId": "x", "Documents": [{"Id": "a", "Blob": 7}]}"#,
    )
    .await;
    assert_eq!(r.json()["__type"], "SerializationException");
    assert!(
        kendra
            .requests()
            .iter()
            .all(|r| r.error.as_deref() == Some("SerializationException"))
    );
    // Unknown members are ignored; an empty body counts as {}.
    let r = kendra_raw(&kendra, "AWSKendraFrontendService.ListIndices", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["IndexConfigurationSummaryItems"][0]["Id"], INDEX);
    let r = kendra_raw(
        &kendra,
        BGDS,
        &format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}],"Future":1}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn missing_members_are_validation_errors_naming_them() {
    let kendra = start_with_index(Config::default()).await;
    let r = kendra_raw(&kendra, BGDS, "{}").await;
    assert_eq!(r.json()["__type"], "ValidationException");
    let msg = r.json()["Message"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("2 validation errors detected"), "{msg}");
    assert!(msg.contains("Value null at 'indexId'"), "{msg}");
    assert!(msg.contains("Value null at 'documentInfoList'"), "{msg}");
    let r = kendra_raw(
        &kendra,
        BGDS,
        &format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{}}]}}"#),
    )
    .await;
    assert!(
        r.json()["Message"]
            .as_str()
            .unwrap()
            .contains("'documentInfoList.1.member.documentId'")
    );
    let r = kendra_raw(
        &kendra,
        "AWSKendraFrontendService.BatchPutDocument",
        &format!(r#"{{"IndexId":"{INDEX}","Documents":[{{"Id":"a","ContentType":"EXE"}}]}}"#),
    )
    .await;
    assert_eq!(r.json()["__type"], "ValidationException");
    assert!(
        r.json()["Message"]
            .as_str()
            .unwrap()
            .contains("'documents.1.member.contentType'")
    );
}

#[tokio::test]
async fn internal_server_exception_is_a_500() {
    let kendra = start_with_index(Config {
        faults: Faults {
            internal_error_rate: 1.0,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["__type"], "InternalServerException");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("InternalServerException")
    );
    kendra.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "ThrottlingException");
}

#[tokio::test]
async fn other_methods_are_refused() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let r = raw(&kendra, "GET", "/", &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["__type"], "UnknownOperationException");
}

#[tokio::test]
async fn admin_interface() {
    let kendra = kendra_local::start(Config {
        indexing_checks: Some(0),
        ..Config::default()
    })
    .await
    .unwrap();
    let admin = |method: &'static str, path: &'static str, body: String| {
        let kendra = kendra.clone();
        async move { raw(&kendra, method, path, &[], &body).await }
    };
    let r = admin("GET", "/_kendra_local/health", String::new()).await;
    assert_eq!((r.status, r.json()["status"].clone()), (200, "ok".into()));
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Create an index and documents.
    let r = admin(
        "POST",
        "/_kendra_local/indexes/0123456789abcdef0123456789abcdef0123",
        String::new(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = admin("POST", "/_kendra_local/indexes/bad", String::new()).await;
    assert_eq!(r.status, 400);
    let r = admin(
        "POST",
        "/_kendra_local/documents",
        format!(r#"{{"indexId":"{INDEX}","put":["a","b"],"delete":["b"]}}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = format!(
        r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}},{{"DocumentId":"b"}}]}}"#
    );
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(
        r.json()["DocumentStatusList"][0]["DocumentStatus"],
        "INDEXED"
    );
    assert_eq!(
        r.json()["DocumentStatusList"][1]["DocumentStatus"],
        "NOT_FOUND"
    );

    // The request log.
    let r = admin("GET", "/_kendra_local/requests", String::new()).await;
    let log = r.json();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["operation"], "BatchGetDocumentStatus");
    assert_eq!(log[0]["indexId"], INDEX);
    assert_eq!(log[0]["documentIds"], serde_json::json!(["a", "b"]));
    assert_eq!(log[0]["inFlight"], 1);
    assert!(log[0]["arrivedMs"].as_f64().unwrap() >= 0.0);
    assert!(log[0]["error"].is_null());
    let r = admin("DELETE", "/_kendra_local/requests", String::new()).await;
    assert_eq!(r.status, 200);
    assert!(kendra.requests().is_empty());

    // Faults.
    let r = admin(
        "PUT",
        "/_kendra_local/faults",
        r#"{"latencyMs": 5, "latencyJitterMs": 2, "maxRps": 1000, "internalErrorRate": 0, "throttleRate": 1, "seed": 4, "operations": ["BatchGetDocumentStatus"]}"#.into(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin("GET", "/_kendra_local/faults", String::new()).await;
    assert_eq!(r.json()["latencyMs"], 5);
    assert_eq!(r.json()["throttleRate"], 1.0);
    assert_eq!(r.json()["maxRps"], 1000.0);
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(r.json()["__type"], "ThrottlingException");
    let r = admin("PUT", "/_kendra_local/faults", "{}".into()).await;
    assert_eq!(r.status, 200);
    assert_eq!(kendra_raw(&kendra, BGDS, &body).await.status, 200);
    for bad in [
        r#"{"throttleRate": 2}"#,
        r#"{"operations": ["Query"]}"#,
        r#"{"latency": 5}"#,
        "nope",
    ] {
        let r = admin("PUT", "/_kendra_local/faults", bad.into()).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string());
    }

    // Scripted faults, also for another operation.
    let r = admin(
        "POST",
        "/_kendra_local/fail-next",
        r#"{"count": 1, "error": "ThrottlingException"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        kendra_raw(&kendra, BGDS, &body).await.json()["__type"],
        "ThrottlingException"
    );
    assert_eq!(kendra_raw(&kendra, BGDS, &body).await.status, 200);
    let r = admin(
        "POST",
        "/_kendra_local/fail-next",
        r#"{"count": 1, "error": "InternalServerException", "operation": "BatchPutDocument"}"#
            .into(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(kendra_raw(&kendra, BGDS, &body).await.status, 200);
    let put = format!(r#"{{"IndexId":"{INDEX}","Documents":[{{"Id":"c"}}]}}"#);
    let r = kendra_raw(&kendra, "AWSKendraFrontendService.BatchPutDocument", &put).await;
    assert_eq!(r.status, 500);
    let r = admin(
        "POST",
        "/_kendra_local/fail-next",
        r#"{"count": 1, "error": "Teapot"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 400);

    let r = admin("GET", "/_kendra_local/nothing", String::new()).await;
    assert_eq!(r.status, 404);
    let r = admin("POST", "/_kendra_local/requests", String::new()).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn shutdown_releases_the_port_and_clones_share_state() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let addr = kendra.local_addr();
    assert_eq!(
        kendra.endpoint(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    let clone = kendra.clone();
    clone.create_index(INDEX);
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    assert_eq!(kendra_raw(&kendra, BGDS, &body).await.status, 200);
    assert_eq!(clone.requests().len(), 1);
    drop(clone);
    kendra.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let kendra = kendra_local::start(Config::default()).await.unwrap();
    let addr = kendra.local_addr();
    drop(kendra);
    // The server task notices asynchronously: poll, bounded.
    let mut closed = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "port still open after dropping the handle");
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_calls() {
    let kendra = start_with_index(Config {
        faults: Faults {
            latency: Duration::from_millis(300),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    let k = kendra.clone();
    let call = tokio::spawn(async move { kendra_raw(&k, BGDS, &body).await });
    // Wait (bounded) until the call is in the log, i.e. in flight.
    for _ in 0..200 {
        if !kendra.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(kendra.requests().len(), 1);
    kendra.shutdown().await;
    let r = call.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight call was answered");
}

#[tokio::test]
async fn a_call_abandoned_by_its_client_is_not_logged_as_a_success() {
    use tokio::io::AsyncWriteExt;
    let kendra = start_with_index(Config {
        faults: Faults {
            latency: Duration::from_secs(30),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    let mut stream = tokio::net::TcpStream::connect(kendra.local_addr())
        .await
        .unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {BGDS}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut in_log = false;
    for _ in 0..200 {
        if !kendra.requests().is_empty() {
            in_log = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(in_log);
    assert_eq!(kendra.requests()[0].error, None, "still in flight");
    drop(stream);
    let mut closed = None;
    for _ in 0..400 {
        closed = kendra.requests()[0].error.clone();
        if closed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(closed.as_deref(), Some("ClientClosedRequest"));
}

#[tokio::test]
async fn start_refuses_bad_config_and_binds_where_told() {
    let err = kendra_local::start(Config {
        indexes: vec!["bad".into()],
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("bad"));
    let err = kendra_local::start(Config {
        faults: Faults {
            internal_error_rate: -1.0,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let a = kendra_local::start(Config::default()).await.unwrap();
    // The port is taken: binding it again fails with the OS error.
    let err = kendra_local::start_on(a.local_addr(), Config::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let b = kendra_local::start_on("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    assert_ne!(a.local_addr(), b.local_addr());
}

#[tokio::test]
async fn admin_fail_next_hang_holds_one_call_until_the_client_gives_up() {
    let kendra = start_with_index(Config::default()).await;
    let r = raw(
        &kendra,
        "POST",
        "/_kendra_local/fail-next",
        &[],
        r#"{"count": 1, "error": "Hang"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    let held = tokio::time::timeout(Duration::from_millis(300), kendra_raw(&kendra, BGDS, &body));
    assert!(held.await.is_err(), "the hung call was answered");
    // The client gave up (its connection closed): the next call answers at once.
    let r = kendra_raw(&kendra, BGDS, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        settled_error(&kendra, 0).await.as_deref(),
        Some("ClientClosedRequest")
    );
    assert_eq!(kendra.requests()[1].error, None);
}

#[tokio::test]
async fn shutdown_releases_a_hung_call() {
    let kendra = start_with_index(Config::default()).await;
    kendra.fail_next(1, kendra_local::FaultKind::Hang);
    let body = format!(r#"{{"IndexId":"{INDEX}","DocumentInfoList":[{{"DocumentId":"a"}}]}}"#);
    let k = kendra.clone();
    let call = tokio::spawn(async move { kendra_raw(&k, BGDS, &body).await });
    for _ in 0..400 {
        if !kendra.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(kendra.requests().len(), 1);
    let log = kendra.clone();
    kendra.shutdown().await;
    let r = call.await.unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["__type"], "InternalServerException");
    assert!(
        r.json()["Message"]
            .as_str()
            .unwrap()
            .contains("stopped while holding this call")
    );
    assert_eq!(
        log.requests()[0].error.as_deref(),
        Some("InternalServerException")
    );
}
