//! The Kendra edge: one `BatchGetDocumentStatus` call with aws-sdk-kendra, translated to and
//! from the checker's plain types. The SDK's standard retries (throttling, 5xx, timeouts)
//! run inside this one call.

use aws_sdk_kendra::Client;
use aws_sdk_kendra::config::http::HttpResponse;
use aws_sdk_kendra::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kendra::operation::batch_get_document_status::BatchGetDocumentStatusError;
use aws_sdk_kendra::types::{DocumentAttribute, DocumentAttributeValue, DocumentInfo};

use crate::batch::{AttributeValue, DocumentKey};
use crate::checker::{CallError, DocumentErrorEntry, StatusAnswer, StatusEntry, StatusSource};

/// Kendra through the AWS SDK. Built once at init; `AWS_ENDPOINT_URL_KENDRA` points it at
/// kendra-local.
#[derive(Clone, Debug)]
pub struct KendraStatusSource {
    client: Client,
}

impl KendraStatusSource {
    pub fn new(client: Client) -> KendraStatusSource {
        KendraStatusSource { client }
    }
}

/// Error codes that mean "slow down" however a service spells them.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

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
    CallError::Rejected {
        code: "InvalidRequest".to_string(),
        message: error.to_string(),
    }
}

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
                    status: status.document_status().map(|s| s.as_str().to_string()),
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

/// Sorts an SDK error into "try again later" and "Kendra said no". Only a service error
/// with a 4xx status that is not throttling is a refusal; everything else (5xx, timeouts,
/// connection failures, unreadable answers) is transient.
fn call_error(error: SdkError<BatchGetDocumentStatusError, HttpResponse>) -> CallError {
    match &error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("UnknownError").to_string();
            let message = context.err().message().unwrap_or("no message").to_string();
            let status = context.raw().status().as_u16();
            let throttled = THROTTLING_CODES.contains(&code.as_str()) || status == 429;
            if throttled || status >= 500 {
                CallError::Transient {
                    throttled,
                    message: format!("{code}: {message}"),
                }
            } else {
                CallError::Rejected { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => CallError::Rejected {
            code: "InvalidRequest".to_string(),
            message: describe(&error),
        },
        _ => CallError::Transient {
            throttled: false,
            message: describe(&error),
        },
    }
}

/// The SDK's error with its sources, which name the actual cause (timeout, refused
/// connection, ...).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
    fn a_document_without_attributes_sends_none() {
        let info = document_info(&DocumentKey::new("doc")).unwrap();
        assert!(info.attributes.is_none());
    }
}
