//! Helpers shared by the integration tests: an SDK client pointed at the emulator, and a
//! raw HTTP/1.1 client for what the SDK cannot send (unknown operations, broken JSON, the
//! admin interface).

#![allow(dead_code)]

use aws_sdk_kendra::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_kendra::config::timeout::TimeoutConfig;
use aws_sdk_kendra::config::{BehaviorVersion, Credentials, Region};
use kendra_local::KendraLocal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const INDEX: &str = "0123456789abcdef0123456789abcdef0123";

/// An SDK client with the standard retry mode and `attempts` attempts (the SDK default is
/// 3), with millisecond backoff so retry tests do not wait. Each client gets its own retry
/// partition so the SDK's retry token bucket is not shared between tests.
pub fn client_with_attempts(kendra: &KendraLocal, attempts: u32) -> aws_sdk_kendra::Client {
    aws_sdk_kendra::Client::from_conf(config_with_attempts(kendra, attempts).build())
}

/// As [`client_with_attempts`], and each attempt is given up after `attempt_timeout`.
pub fn client_with_attempt_timeout(
    kendra: &KendraLocal,
    attempts: u32,
    attempt_timeout: Duration,
) -> aws_sdk_kendra::Client {
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(attempt_timeout)
        .build();
    let conf = config_with_attempts(kendra, attempts).timeout_config(timeouts);
    aws_sdk_kendra::Client::from_conf(conf.build())
}

fn config_with_attempts(kendra: &KendraLocal, attempts: u32) -> aws_sdk_kendra::config::Builder {
    static N: AtomicU32 = AtomicU32::new(0);
    let partition = format!("kendra-local-test-{}", N.fetch_add(1, Ordering::Relaxed));
    aws_sdk_kendra::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        // Any SigV4 credentials are accepted.
        .credentials_provider(Credentials::new(
            "AKIDKENDRALOCAL",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(kendra.endpoint())
        .retry_partition(RetryPartition::new(partition))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
}

/// The SDK default of 3 attempts.
pub fn client(kendra: &KendraLocal) -> aws_sdk_kendra::Client {
    client_with_attempts(kendra, 3)
}

pub async fn start_with_index(config: kendra_local::Config) -> KendraLocal {
    let mut config = config;
    config.indexes.push(INDEX.to_owned());
    kendra_local::start(config).await.unwrap()
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole answer.
pub async fn raw(
    kendra: &KendraLocal,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(kendra.local_addr())
        .await
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        kendra.local_addr(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A Kendra call over raw HTTP.
pub async fn kendra_raw(kendra: &KendraLocal, target: &str, body: &str) -> Raw {
    raw(
        kendra,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body,
    )
    .await
}

/// The operations of the request log, in order.
pub fn operations(kendra: &KendraLocal) -> Vec<(String, Option<String>)> {
    kendra
        .requests()
        .into_iter()
        .map(|r| (r.operation, r.error))
        .collect()
}

/// Waits until the request log's record `index` has an outcome, and returns it. Polls
/// (bounded, a few seconds at most) because the server learns asynchronously that a client
/// went away.
pub async fn settled_error(kendra: &KendraLocal, index: usize) -> Option<String> {
    for _ in 0..600 {
        if let Some(error) = kendra.requests().get(index).and_then(|r| r.error.clone()) {
            return Some(error);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}
