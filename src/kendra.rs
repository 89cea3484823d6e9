//! The Kendra edge: one `BatchGetDocumentStatus` call with aws-sdk-kendra, translated to and
//! from the checker's plain types. The SDK's standard retries (5xx, timeouts, connection
//! errors) run inside this one call; throttling is not retried by the SDK but handed to the
//! checker, which paces the whole round (see [`crate::pacing`]).

use async_trait::async_trait;
use aws_sdk_kendra::Client;
use aws_sdk_kendra::config::StalledStreamProtectionConfig;
use aws_sdk_kendra::config::http::HttpResponse;
use aws_sdk_kendra::config::interceptors::InterceptorContext;
use aws_sdk_kendra::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_kendra::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kendra::operation::batch_get_document_status::BatchGetDocumentStatusError;
use aws_sdk_kendra::types::{DocumentAttribute, DocumentAttributeValue, DocumentInfo};

use crate::aws::describe_error;
use crate::batch::{AttributeValue, DocumentKey};
use crate::checker::{CallError, DocumentErrorEntry, StatusAnswer, StatusEntry, StatusSource};
use crate::error::shorten;

/// Kendra through the AWS SDK. Built once at init; `AWS_ENDPOINT_URL_KENDRA` points it at
/// kendra-local.
#[derive(Clone, Debug)]
pub struct KendraStatusSource {
    client: Client,
}

impl KendraStatusSource {
    /// The client for `sdk_config`, with throttling taken out of the SDK's retries and its
    /// calls traced.
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        tracer: &crate::xray::Tracer,
    ) -> KendraStatusSource {
        KendraStatusSource::from_conf(
            aws_sdk_kendra::config::Builder::from(sdk_config).interceptor(tracer.interceptor()),
        )
    }

    /// The client for `config` (tests bring their own endpoint and retry settings), with
    /// throttling taken out of the SDK's retries and without stalled-stream protection: a
    /// status call's body is a few hundred bytes each way, and `CALL_TIMEOUT_MS` already cuts
    /// any attempt that stalls, so the protection's throughput checks on every body (about 2 %
    /// of the instructions per document) buy nothing here.
    pub fn from_conf(config: aws_sdk_kendra::config::Builder) -> KendraStatusSource {
        let config = config
            .retry_classifier(LeaveThrottlingToThePacer)
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        KendraStatusSource {
            client: Client::from_conf(config),
        }
    }
}

/// Kendra's statuses are a dozen characters; an unknown one is reported under its own name in
/// `counts` and the round's log line, so a name this long is cut rather than repeated per
/// document into a result or a log line past its limit.
const MAX_STATUS_CHARS: usize = 64;

/// Error codes that mean "slow down" however a service spells them.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Codes of a request that took too long on the way: transient, not a refusal.
const TIMEOUT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// Forbids the SDK's retry of a throttled call. The SDK would wait and try again inside the
/// call, holding a concurrency slot and hiding the throttling from the pacer; the checker
/// instead puts the call back into the round and slows the whole process down.
#[derive(Debug)]
struct LeaveThrottlingToThePacer;

impl ClassifyRetry for LeaveThrottlingToThePacer {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let throttled = ctx
            .output_or_error()
            .and_then(|result| result.err())
            .and_then(|error| error.as_operation_error())
            .and_then(|error| error.downcast_ref::<BatchGetDocumentStatusError>())
            .is_some_and(|error| {
                error
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
            })
            || ctx
                .response()
                .is_some_and(|response| response.status().as_u16() == 429);
        if throttled {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "LeaveThrottlingToThePacer"
    }
}

fn document_info(key: &DocumentKey) -> Result<DocumentInfo, CallError> {
    let attributes = key
        .attributes
        .iter()
        .map(|(name, value)| {
            let value = match value {
                AttributeValue::String(s) => DocumentAttributeValue::builder().string_value(s),
                AttributeValue::Long(n) => DocumentAttributeValue::builder().long_value(*n),
                AttributeValue::StringList(list) => {
                    DocumentAttributeValue::builder().set_string_list_value(Some(list.clone()))
                }
            }
            .build();
            DocumentAttribute::builder().key(name).value(value).build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_request)?;
    DocumentInfo::builder()
        .document_id(&key.document_id)
        .set_attributes((!attributes.is_empty()).then_some(attributes))
        .build()
        .map_err(invalid_request)
}

fn invalid_request(error: impl std::fmt::Display) -> CallError {
    CallError::Invalid {
        message: error.to_string(),
    }
}

#[async_trait]
impl StatusSource for KendraStatusSource {
    async fn batch_get_document_status(
        &self,
        index_id: &str,
        documents: &[&DocumentKey],
    ) -> Result<StatusAnswer, CallError> {
        let infos = documents
            .iter()
            .map(|key| document_info(key))
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .batch_get_document_status()
            .index_id(index_id)
            .set_document_info_list(Some(infos))
            .send()
            .await
            .map_err(call_error)?;

        let statuses = output
            .document_status_list()
            .iter()
            .filter_map(|status| {
                Some(StatusEntry {
                    document_id: status.document_id()?.to_string(),
                    status: status
                        .document_status()
                        .map(|s| shorten(s.as_str(), MAX_STATUS_CHARS)),
                    failure_code: status.failure_code().map(str::to_string),
                    failure_reason: status.failure_reason().map(str::to_string),
                })
            })
            .collect();
        let errors = output
            .errors()
            .iter()
            .filter_map(|error| {
                Some(DocumentErrorEntry {
                    document_id: error.document_id()?.to_string(),
                    code: error.error_code().map(|c| c.as_str().to_string()),
                    message: error.error_message().map(str::to_string),
                })
            })
            .collect();
        Ok(StatusAnswer { statuses, errors })
    }
}

/// Sorts an SDK error for the checker: throttling (paced and tried again in the round),
/// `ValidationException` (split down to the refused document), other 4xx (Kendra refuses the
/// index), and everything else, 5xx, 408, timeouts, connection failures, unreadable answers
/// (transient: the documents stay pending).
fn call_error(error: SdkError<BatchGetDocumentStatusError, HttpResponse>) -> CallError {
    match &error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("UnknownError").to_string();
            let message = context.err().message().unwrap_or("no message").to_string();
            classify_service_error(context.raw().status().as_u16(), code, message)
        }
        SdkError::ConstructionFailure(_) => CallError::Invalid {
            message: describe_error(&error),
        },
        _ => CallError::Transient {
            message: describe_error(&error),
        },
    }
}

fn classify_service_error(status: u16, code: String, message: String) -> CallError {
    if THROTTLING_CODES.contains(&code.as_str()) || status == 429 {
        CallError::Throttled { message }
    } else if status >= 500 || status == 408 || TIMEOUT_CODES.contains(&code.as_str()) {
        CallError::Transient {
            message: format!("{code}: {message}"),
        }
    } else if code == "ValidationException" {
        CallError::Invalid { message }
    } else {
        CallError::Rejected { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_map_onto_kendras_value_types() {
        let key = DocumentKey {
            document_id: "doc".into(),
            attributes: vec![
                (
                    "l".into(),
                    AttributeValue::StringList(vec!["a".into(), "b".into()]),
                ),
                ("n".into(), AttributeValue::Long(-3)),
                ("s".into(), AttributeValue::String("x".into())),
            ],
        };
        let info = document_info(&key).unwrap();
        assert_eq!(info.document_id(), "doc");
        let attributes = info.attributes();
        assert_eq!(attributes.len(), 3);
        let value = |name: &str| {
            attributes
                .iter()
                .find(|a| a.key() == name)
                .and_then(|a| a.value())
                .cloned()
                .unwrap()
        };
        assert_eq!(value("l").string_list_value(), ["a", "b"]);
        assert_eq!(value("n").long_value(), Some(-3));
        assert_eq!(value("s").string_value(), Some("x"));
    }

    #[test]
    fn service_errors_sort_into_the_checkers_kinds() {
        let kind = |status: u16, code: &str| match classify_service_error(
            status,
            code.to_string(),
            "m".to_string(),
        ) {
            CallError::Throttled { .. } => "throttled",
            CallError::Transient { .. } => "transient",
            CallError::Invalid { .. } => "invalid",
            CallError::Rejected { .. } => "rejected",
        };
        assert_eq!(kind(400, "ThrottlingException"), "throttled");
        assert_eq!(kind(429, "Whatever"), "throttled");
        assert_eq!(kind(500, "InternalServerException"), "transient");
        assert_eq!(kind(503, "ServiceUnavailable"), "transient");
        assert_eq!(kind(408, "RequestTimeout"), "transient");
        assert_eq!(kind(400, "RequestTimeoutException"), "transient");
        assert_eq!(kind(400, "ValidationException"), "invalid");
        assert_eq!(kind(400, "ResourceNotFoundException"), "rejected");
        assert_eq!(kind(400, "AccessDeniedException"), "rejected");
        assert_eq!(kind(400, "ConflictException"), "rejected");
        assert_eq!(kind(403, "UnrecognizedClientException"), "rejected");
    }

    #[test]
    fn a_document_without_attributes_sends_none() {
        let info = document_info(&DocumentKey::new("doc")).unwrap();
        assert!(info.attributes.is_none());
    }
}
