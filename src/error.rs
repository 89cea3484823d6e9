//! The function's one error type. Each variant is an `errorType` of the contract, so a Step
//! Functions `Retry` or `Catch` can match it by name.

use lambda_runtime::Diagnostic;

/// Why an invocation (or one SQS message, or one callback batch) failed. The messages are
/// written for the person who reads them in a Step Functions execution history: they say what
/// was wrong and what to change.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The event (or a batch in it) breaks a rule of the contract. Not retryable: the same
    /// input fails again. `field` names what is wrong (a JSON path such as
    /// `documents[3].documentId`, or a phrase such as `the message body`), `rule` says what it
    /// must be; the message is the two together.
    #[error("{field} {rule}")]
    Validation { field: String, rule: String },

    /// Kendra refused the call itself (unknown index, missing permission, ...). Not
    /// retryable until the configuration or the batch is fixed.
    #[error("Kendra refused BatchGetDocumentStatus for index {index_id}: {code}: {message}")]
    KendraRequest {
        index_id: String,
        code: String,
        message: String,
    },

    /// No status call of the round succeeded because Kendra (or the network) was
    /// unavailable, even after the SDK's own retries. Retryable.
    #[error(
        "Kendra was unavailable for index {index_id}: {failed_calls} BatchGetDocumentStatus call(s) failed after retries, none succeeded (last error: {last_error}); retry later"
    )]
    KendraUnavailable {
        index_id: String,
        failed_calls: u64,
        last_error: String,
    },

    /// A payload would be larger than its limit (`MAX_RESULT_BYTES`, or an SQS queue's
    /// `MaximumMessageSize`) with no claim-check bucket to move its lists to, or still is with
    /// its lists moved out. Not retryable: the same batch gives the same result.
    #[error(
        "the {what} would be {bytes} bytes, over {} ({limit}): {}",
        limit_name(.what),
        if *.lists_in_s3 {
            "its document lists are in S3 already, so the rest of it (correlation fields, counts) is too large: send less correlation data, or raise the limit"
        } else {
            "set PAYLOAD_BUCKET so that long lists go to S3 (failedRef / documentsRef), or send smaller batches"
        }
    )]
    ResultTooLarge {
        what: &'static str,
        bytes: usize,
        limit: usize,
        /// Whether the claim check had moved the lists out already (a bucket is set).
        lists_in_s3: bool,
    },

    /// Reading or writing a claim-check object (or an ingest object) in S3 failed for a
    /// reason that may pass: throttling, 5xx, a timeout. Retryable.
    #[error("S3 was unavailable for {uri}: {reason}; retry later")]
    PayloadUnavailable { uri: String, reason: String },
}

/// `text` cut to at most `max` characters (then "..."), for a value quoted in an error
/// message: a bad value can be as long as the payload, and a message repeats it in the
/// invocation's error, in a Step Functions cause (32,768 characters) and in a log line
/// (CloudWatch's 256 KB).
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Which limit a payload of kind `what` is held to: an SQS message to its queue's own
/// `MaximumMessageSize`, everything else to `MAX_RESULT_BYTES`.
fn limit_name(what: &str) -> &'static str {
    if what == "SQS message" {
        "the queue's MaximumMessageSize"
    } else {
        "MAX_RESULT_BYTES"
    }
}

impl Error {
    /// A `ValidationError` for `field`, which must obey `rule`.
    pub fn validation(field: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::Validation {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The contract's `errorType` name for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "ValidationError",
            Error::KendraRequest { .. } => "KendraRequestError",
            Error::KendraUnavailable { .. } => "KendraUnavailable",
            Error::ResultTooLarge { .. } => "ResultTooLarge",
            Error::PayloadUnavailable { .. } => "PayloadUnavailable",
        }
    }

    /// Whether the same input may succeed later (the state machine retries these).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::KendraUnavailable { .. } | Error::PayloadUnavailable { .. }
        )
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_contract_error_type() {
        let cases = [
            (
                Error::validation("documents", "is required"),
                "ValidationError",
                false,
            ),
            (
                Error::KendraRequest {
                    index_id: "i".into(),
                    code: "ResourceNotFoundException".into(),
                    message: "no such index".into(),
                },
                "KendraRequestError",
                false,
            ),
            (
                Error::KendraUnavailable {
                    index_id: "i".into(),
                    failed_calls: 2,
                    last_error: "ThrottlingException".into(),
                },
                "KendraUnavailable",
                true,
            ),
            (
                Error::ResultTooLarge {
                    what: "result",
                    bytes: 300_000,
                    limit: 245_760,
                    lists_in_s3: false,
                },
                "ResultTooLarge",
                false,
            ),
            (
                Error::PayloadUnavailable {
                    uri: "s3://b/k".into(),
                    reason: "timeout".into(),
                },
                "PayloadUnavailable",
                true,
            ),
        ];
        for (error, expected, retryable) in cases {
            let message = error.to_string();
            assert_eq!(error.is_retryable(), retryable, "{expected}");
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, expected);
            assert_eq!(diagnostic.error_message, message);
        }
    }

    #[test]
    fn a_validation_message_is_the_field_then_the_rule() {
        let error = Error::validation("documents[2].documentId", "must be a string, got 3");
        assert_eq!(
            error.to_string(),
            "documents[2].documentId must be a string, got 3"
        );
    }

    #[test]
    fn result_too_large_tells_the_user_to_set_the_bucket() {
        let error = Error::ResultTooLarge {
            what: "result",
            bytes: 300_000,
            limit: 245_760,
            lists_in_s3: false,
        };
        assert!(error.to_string().contains("PAYLOAD_BUCKET"), "{error}");
        assert!(error.to_string().contains("MAX_RESULT_BYTES"), "{error}");
        let error = Error::ResultTooLarge {
            what: "SQS message",
            bytes: 2000,
            limit: 1024,
            lists_in_s3: false,
        };
        assert!(
            error
                .to_string()
                .contains("over the queue's MaximumMessageSize (1024)"),
            "{error}"
        );
    }
}
