//! The `kendra-local` binary: flags, the first line it prints, serving the SDK, and a clean
//! exit on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kendra-local");
const INDEX: &str = common::INDEX;

struct Running {
    child: Child,
    endpoint: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim_end()
        .strip_prefix("kendra-local listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Running { child, endpoint }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn client(endpoint: &str) -> aws_sdk_kendra::Client {
    use aws_sdk_kendra::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kendra::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kendra::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_the_sdk_and_exits_cleanly_on_sigterm() {
    let mut running = spawn(&[
        "--port",
        "0",
        "--index",
        INDEX,
        "--indexing-checks",
        "1",
        "--seed",
        "7",
    ]);
    let (host, port) = running
        .endpoint
        .strip_prefix("http://")
        .unwrap()
        .rsplit_once(':')
        .unwrap();
    assert_eq!(host, "127.0.0.1");
    assert!(port.parse::<u16>().unwrap() > 0);

    let c = client(&running.endpoint);
    c.batch_put_document()
        .index_id(INDEX)
        .documents(
            aws_sdk_kendra::types::Document::builder()
                .id("d")
                .blob(aws_sdk_kendra::primitives::Blob::new("x"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let status = || async {
        c.batch_get_document_status()
            .index_id(INDEX)
            .document_info_list(
                aws_sdk_kendra::types::DocumentInfo::builder()
                    .document_id("d")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap()
            .document_status_list()[0]
            .document_status()
            .unwrap()
            .as_str()
            .to_owned()
    };
    assert_eq!(status().await, "PROCESSING");
    assert_eq!(status().await, "INDEXED");

    sigterm(&running.child);
    let exit = running.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_flags_reach_the_server() {
    let running = spawn(&[
        "--port",
        "0",
        "--index",
        INDEX,
        "--throttle-rate",
        "1",
        "--fault-operations",
        "BatchGetDocumentStatus,DescribeIndex",
    ]);
    let c = client(&running.endpoint);
    let e = c.describe_index().id(INDEX).send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_throttling_exception());
    // Not faulted: ListIndices.
    let list = c.list_indices().send().await.unwrap();
    assert_eq!(
        list.index_configuration_summary_items()[0].id(),
        Some(INDEX)
    );
}

#[test]
fn help_and_bad_flags() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--port",
        "--host",
        "--index",
        "--indexing-delay-ms",
        "--delete-delay-ms",
        "--delay-jitter-ms",
        "--indexing-checks",
        "--seed",
        "--latency-ms",
        "--latency-jitter-ms",
        "--max-rps",
        "--internal-error-rate",
        "--throttle-rate",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for args in [
        &["--bogus"][..],
        &["--port", "x"],
        &["--index", "not-36-chars"],
        &["--throttle-rate", "2"],
        &["--fault-operations", "Query"],
        &["--port"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
