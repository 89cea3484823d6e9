//! X-Ray subsegments for the function's own AWS calls (Kendra, SQS, S3, Step Functions,
//! EventBridge). The AWS SDK for Rust has no X-Ray integration, but every client takes an
//! interceptor: [`RecordCalls`] notes each attempt's service, operation, timing and status,
//! and at the end of a sampled invocation [`Tracer::finish`] sends them to the X-Ray daemon
//! that Lambda runs beside the function (UDP, `AWS_XRAY_DAEMON_ADDRESS`), as subsegments of
//! the function's segment. Unsampled invocations record nothing, so tracing costs nothing
//! when it is off.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{Value, json};

/// The daemon protocol's header line, before each document.
const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// One attempt of one AWS call.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSpan {
    pub service: String,
    pub operation: String,
    pub start: f64,
    pub end: f64,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The service's error code (`x-amzn-ErrorType`), when it sent one.
    pub error_type: Option<String>,
}

#[derive(Debug, Default)]
struct Recorder {
    on: AtomicBool,
    spans: Mutex<Vec<CallSpan>>,
}

/// `Root`, `Parent` and `Sampled` of an `X-Amzn-Trace-Id` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: String,
    pub sampled: bool,
}

impl TraceHeader {
    pub fn parse(header: &str) -> Option<TraceHeader> {
        let field = |name: &str| {
            header
                .split(';')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        Some(TraceHeader {
            root: field("Root")?,
            parent: field("Parent")?,
            sampled: field("Sampled").as_deref() == Some("1"),
        })
    }
}

/// The process's tracer: where the daemon listens, and what the current invocation recorded.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    daemon: Option<SocketAddr>,
    recorder: Arc<Recorder>,
    current: Arc<Mutex<Option<TraceHeader>>>,
}

impl Tracer {
    /// The daemon of `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or `udp:host:port tcp:...`).
    pub fn from_env() -> Tracer {
        let daemon = std::env::var("AWS_XRAY_DAEMON_ADDRESS")
            .ok()
            .and_then(|value| daemon_address(&value));
        Tracer::to(daemon)
    }

    pub fn to(daemon: Option<SocketAddr>) -> Tracer {
        Tracer {
            daemon,
            ..Tracer::default()
        }
    }

    /// The interceptor to add to every AWS client.
    pub fn interceptor(&self) -> RecordCalls {
        RecordCalls(self.recorder.clone())
    }

    /// An invocation starts: record its calls if it is sampled and a daemon listens.
    pub fn begin(&self, trace_header: Option<&str>) {
        let header = trace_header
            .and_then(TraceHeader::parse)
            .filter(|h| h.sampled);
        let on = header.is_some() && self.daemon.is_some();
        lock(&self.recorder.spans).clear();
        self.recorder.on.store(on, Ordering::Relaxed);
        *lock(&self.current) = header.filter(|_| on);
    }

    /// The invocation ends: its calls go to the daemon. Losing them must not fail anything.
    pub fn finish(&self) -> usize {
        self.recorder.on.store(false, Ordering::Relaxed);
        let spans = std::mem::take(&mut *lock(&self.recorder.spans));
        let (Some(header), Some(daemon)) = (lock(&self.current).take(), self.daemon) else {
            return 0;
        };
        let Ok(socket) = UdpSocket::bind(if daemon.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }) else {
            return 0;
        };
        spans
            .iter()
            .filter(|span| {
                let packet = format!("{HEADER}{}", subsegment(span, &header));
                socket.send_to(packet.as_bytes(), daemon).is_ok()
            })
            .count()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value.split_whitespace().next()?);
    udp.to_socket_addrs().ok()?.next()
}

/// A subsegment document for one call, under the function's segment.
pub fn subsegment(span: &CallSpan, header: &TraceHeader) -> Value {
    let status = span.status.unwrap_or(0);
    let throttled = status == 429
        || span.error_type.as_deref().is_some_and(|code| {
            [
                "Throttling",
                "TooManyRequests",
                "SlowDown",
                "RequestLimitExceeded",
            ]
            .iter()
            .any(|t| code.contains(t))
        });
    json!({
        "name": span.service,
        "id": new_id(),
        "trace_id": header.root,
        "parent_id": header.parent,
        "type": "subsegment",
        "namespace": "aws",
        "start_time": span.start,
        "end_time": span.end,
        "aws": {"operation": span.operation},
        "http": {"response": {"status": status}},
        "throttle": throttled,
        "error": (400..500).contains(&status),
        "fault": status >= 500 || span.status.is_none(),
    })
}

/// 16 hex digits, unique within the process and unlikely across processes.
fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = (now() * 1e9) as u64
        ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(std::process::id()) << 40;
    format!("{mixed:016x}")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The start of the current attempt, kept in the request's config bag between the hooks.
#[derive(Clone, Debug)]
struct AttemptStart(f64);

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

/// The SDK interceptor that records every attempt while an invocation is traced.
#[derive(Clone, Debug)]
pub struct RecordCalls(Arc<Recorder>);

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "kendra-waiter X-Ray subsegments"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.on.load(Ordering::Relaxed) {
            cfg.interceptor_state().store_put(AttemptStart(now()));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.0.on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (Some(start), Some(metadata)) = (cfg.load::<AttemptStart>(), cfg.load::<Metadata>())
        else {
            return Ok(());
        };
        let span = CallSpan {
            service: metadata.service().to_string(),
            operation: metadata.name().to_string(),
            start: start.0,
            end: now(),
            status: context
                .response()
                .map(|response| response.status().as_u16()),
            error_type: context
                .response()
                .and_then(|response| response.headers().get("x-amzn-errortype"))
                .map(|code| code.split(':').next().unwrap_or(code).to_string()),
        };
        lock(&self.0.spans).push(span);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_parse() {
        let header = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(header.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(header.parent, "53995c3f42cd8ad8");
        assert!(header.sampled);
        assert!(
            !TraceHeader::parse("Root=1-a-b;Parent=c;Sampled=0")
                .unwrap()
                .sampled
        );
        assert_eq!(TraceHeader::parse("Root=1-a-b"), None);
    }

    #[test]
    fn daemon_addresses_parse_in_both_forms() {
        assert_eq!(
            daemon_address("127.0.0.1:2000"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2001 udp:127.0.0.1:2000"),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert_eq!(daemon_address("nonsense"), None);
    }

    #[test]
    fn a_subsegment_names_the_call_under_the_functions_segment() {
        let header = TraceHeader::parse("Root=1-a-b;Parent=0123456789abcdef;Sampled=1").unwrap();
        let span = CallSpan {
            service: "kendra".into(),
            operation: "BatchGetDocumentStatus".into(),
            start: 10.0,
            end: 10.5,
            status: Some(400),
            error_type: Some("ThrottlingException".into()),
        };
        let document = subsegment(&span, &header);
        assert_eq!(document["trace_id"], "1-a-b");
        assert_eq!(document["parent_id"], "0123456789abcdef");
        assert_eq!(document["aws"]["operation"], "BatchGetDocumentStatus");
        assert_eq!(
            (document["error"].clone(), document["fault"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(document["id"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn an_unsampled_invocation_sends_nothing() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tracer = Tracer::to(Some(listener.local_addr().unwrap()));
        tracer.begin(Some("Root=1-a-b;Parent=c;Sampled=0"));
        lock(&tracer.recorder.spans).push(CallSpan {
            service: "s".into(),
            operation: "o".into(),
            start: 0.0,
            end: 1.0,
            status: Some(200),
            error_type: None,
        });
        assert_eq!(tracer.finish(), 0);
    }
}
