//! The awsJson1_1 framing as the AWS SDKs speak it to Kendra: the `X-Amz-Target` header that
//! names the operation, the JSON content type, the error shape (`__type` + `Message`, with the
//! code repeated in `x-amzn-ErrorType`), the status codes, and Kendra's validation messages.
//!
//! Everything the SDKs parse lives here so wire compatibility can be checked in one place.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use std::fmt::Write as _;

/// The service prefix of `X-Amz-Target` for Kendra.
pub const TARGET_PREFIX: &str = "AWSKendraFrontendService.";
/// The content type of awsJson1_1 requests and responses.
pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// The Kendra operations the emulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateIndex,
    DescribeIndex,
    ListIndices,
    DeleteIndex,
    BatchPutDocument,
    BatchDeleteDocument,
    BatchGetDocumentStatus,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::CreateIndex,
        Operation::DescribeIndex,
        Operation::ListIndices,
        Operation::DeleteIndex,
        Operation::BatchPutDocument,
        Operation::BatchDeleteDocument,
        Operation::BatchGetDocumentStatus,
    ];

    /// The operation name as it appears after the target prefix and in the request log.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateIndex => "CreateIndex",
            Operation::DescribeIndex => "DescribeIndex",
            Operation::ListIndices => "ListIndices",
            Operation::DeleteIndex => "DeleteIndex",
            Operation::BatchPutDocument => "BatchPutDocument",
            Operation::BatchDeleteDocument => "BatchDeleteDocument",
            Operation::BatchGetDocumentStatus => "BatchGetDocumentStatus",
        }
    }

    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Resolves an `X-Amz-Target` value; anything that is not a known Kendra operation is an
    /// `UnknownOperationException`, as the real service answers.
    pub fn from_target(target: Option<&str>) -> Result<Operation, ApiError> {
        let target = target.unwrap_or_default();
        target
            .strip_prefix(TARGET_PREFIX)
            .and_then(Operation::from_name)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!("Unknown operation: X-Amz-Target '{target}' is not a Kendra operation supported by kendra-local"),
                )
            })
    }
}

/// The error codes the emulator answers with (the `__type` of the error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Validation,
    ResourceNotFound,
    UnknownOperation,
    Serialization,
    Throttling,
    InternalServer,
    AccessDenied,
    Conflict,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::Throttling => "ThrottlingException",
            ErrorCode::InternalServer => "InternalServerException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::Conflict => "ConflictException",
        }
    }

    /// Parses an error code; the SDK-style `namespace#Code` prefix is accepted too.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        let code = code.rsplit('#').next().unwrap_or(code);
        [
            ErrorCode::Validation,
            ErrorCode::ResourceNotFound,
            ErrorCode::UnknownOperation,
            ErrorCode::Serialization,
            ErrorCode::Throttling,
            ErrorCode::InternalServer,
            ErrorCode::AccessDenied,
            ErrorCode::Conflict,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }

    /// Kendra answers client faults with 400 and only `InternalServerException` with 500; the
    /// SDKs' retry classifiers depend on exactly that split.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A whole-call error, answered as `{"__type": code, "Message": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("{what} {id} doesn't exist. Check the {what} ID and try again."),
        )
    }
}

/// Collects constraint violations so one `ValidationException` reports all of them, worded
/// like Kendra's (`1 validation error detected: Value '..' at 'documentInfoList.1.member.documentId'
/// failed to satisfy constraint: ...`) so the message names the offending field.
#[derive(Debug, Default)]
pub struct Violations {
    items: Vec<String>,
}

impl Violations {
    fn push(&mut self, value: Option<&str>, field: &str, constraint: &str) {
        let mut s = String::with_capacity(96);
        match value {
            None => s.push_str("Value null"),
            Some(v) => {
                // Long values (a 2049-character id) would drown the message; keep the start.
                let shown: String = v.chars().take(64).collect();
                let ellipsis = if shown.len() < v.len() { "..." } else { "" };
                let _ = write!(s, "Value '{shown}{ellipsis}'");
            }
        }
        let _ = write!(
            s,
            " at '{field}' failed to satisfy constraint: Member must {constraint}"
        );
        self.items.push(s);
    }

    /// A required member that is absent.
    pub fn required<T>(&mut self, field: &str, value: Option<&T>) {
        if value.is_none() {
            self.push(None, field, "not be null");
        }
    }

    /// A string whose length (in characters) must be within `min..=max`.
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.push(
                Some(value),
                field,
                &format!("have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.push(
                Some(value),
                field,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// A list whose length must be within `min..=max`.
    pub fn list_length(&mut self, field: &str, len: usize, min: usize, max: usize) {
        if len < min {
            self.push(
                Some(&format!("[{len} items]")),
                field,
                &format!("have length greater than or equal to {min}"),
            );
        } else if len > max {
            self.push(
                Some(&format!("[{len} items]")),
                field,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// A string that must match `pattern`, checked by `ok`.
    pub fn pattern(&mut self, field: &str, value: &str, ok: bool, pattern: &str) {
        if !ok {
            self.push(
                Some(value),
                field,
                &format!("satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// An IndexId: 36 characters matching `[a-zA-Z0-9][a-zA-Z0-9-]*`.
    pub fn index_id(&mut self, field: &str, value: Option<&str>) {
        match value {
            None => self.required::<&str>(field, None),
            Some(v) => {
                self.length(field, v, 36, 36);
                self.pattern(field, v, matches_id_pattern(v), INDEX_ID_PATTERN);
            }
        }
    }

    /// Adds `other`'s violations, each followed by ` ({note})`: a nested field's path gives
    /// its position, the note names what a reader knows it by (the document).
    pub fn append_noting(&mut self, other: Violations, note: &str) {
        self.items.extend(
            other
                .items
                .into_iter()
                .map(|item| format!("{item} ({note})")),
        );
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(())` when nothing was violated, else the `ValidationException` naming every field.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.items.is_empty() {
            return Ok(());
        }
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Err(ApiError::new(
            ErrorCode::Validation,
            format!("{n} validation {noun} detected: {}", self.items.join("; ")),
        ))
    }
}

/// Kendra's IndexId pattern.
pub const INDEX_ID_PATTERN: &str = "[a-zA-Z0-9][a-zA-Z0-9-]*";

fn matches_id_pattern(v: &str) -> bool {
    let mut bytes = v.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `id` is an acceptable Kendra IndexId (36 characters, Kendra's pattern).
pub fn is_valid_index_id(id: &str) -> bool {
    id.len() == 36 && matches_id_pattern(id)
}

/// The error body, built by serde_json so messages with quotes or control characters stay
/// valid JSON.
fn error_body(err: &ApiError) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(rename = "__type")]
        kind: &'a str,
        #[serde(rename = "Message")]
        message: &'a str,
    }
    serde_json::to_vec(&Body {
        kind: err.code.as_str(),
        message: &err.message,
    })
    .unwrap_or_else(|_| b"{}".to_vec())
}

fn base(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

/// A 200 response carrying an awsJson1_1 body.
pub fn success(body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    base(StatusCode::OK, body, request_id)
}

/// An error response: status from the code, `__type` in the body and `x-amzn-ErrorType` in
/// the headers (SDKs read either).
pub fn failure(err: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut resp = base(err.code.status(), error_body(err), request_id);
    resp.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static(err.code.as_str()),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_and_unknown_ones_fail() {
        assert_eq!(
            Operation::from_target(Some("AWSKendraFrontendService.BatchGetDocumentStatus")),
            Ok(Operation::BatchGetDocumentStatus)
        );
        for op in Operation::ALL {
            let t = format!("{TARGET_PREFIX}{}", op.name());
            assert_eq!(Operation::from_target(Some(&t)), Ok(op));
        }
        let err = Operation::from_target(Some("AWSKendraFrontendService.Query")).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownOperation);
        let err = Operation::from_target(None).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownOperation);
        let err =
            Operation::from_target(Some("DynamoDB_20120810.BatchGetDocumentStatus")).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownOperation);
    }

    #[test]
    fn index_ids() {
        assert!(is_valid_index_id("0123456789abcdef0123456789abcdef0123"));
        assert!(is_valid_index_id("a1234567-89ab-cdef-0123-456789abcdef"));
        assert!(!is_valid_index_id("-1234567-89ab-cdef-0123-456789abcdef"));
        assert!(!is_valid_index_id("a1234567_89ab-cdef-0123-456789abcdef"));
        assert!(!is_valid_index_id("short"));
        assert!(!is_valid_index_id("a1234567-89ab-cdef-0123-456789abcdef0"));
    }

    #[test]
    fn violations_name_every_field() {
        let mut v = Violations::default();
        v.index_id("indexId", Some("bad"));
        v.list_length("documentInfoList", 11, 1, 10);
        v.length("documentInfoList.1.member.documentId", "", 1, 2048);
        let err = v.into_result().unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        assert!(
            err.message.starts_with("3 validation errors detected: "),
            "{}",
            err.message
        );
        assert!(err.message.contains("at 'indexId'"));
        assert!(err.message.contains("at 'documentInfoList'"));
        assert!(err.message.contains("less than or equal to 10"));
        assert!(
            err.message
                .contains("at 'documentInfoList.1.member.documentId'")
        );
        let mut ok = Violations::default();
        ok.index_id("indexId", Some("0123456789abcdef0123456789abcdef0123"));
        assert!(ok.is_empty());
        assert!(ok.into_result().is_ok());
    }

    #[test]
    fn error_codes_map_to_status_and_parse_back() {
        assert_eq!(
            ErrorCode::InternalServer.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(ErrorCode::Throttling.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::parse("com.amazonaws.kendra#ThrottlingException"),
            Some(ErrorCode::Throttling)
        );
        assert_eq!(ErrorCode::parse("Nope"), None);
    }

    #[test]
    fn failure_has_type_header_and_json_body() {
        let err = ApiError::new(ErrorCode::Throttling, "slow \"down\"");
        let resp = failure(&err, "rid-1");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()["x-amzn-errortype"], "ThrottlingException");
        assert_eq!(resp.headers()["x-amzn-requestid"], "rid-1");
        assert_eq!(resp.headers()["content-type"], JSON_1_1);
        let body: serde_json::Value = serde_json::from_slice(&error_body(&err)).unwrap();
        assert_eq!(body["__type"], "ThrottlingException");
        assert_eq!(body["Message"], "slow \"down\"");
    }
}
