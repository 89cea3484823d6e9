//! The function's one error type. Each variant is an `errorType` of the contract, so a Step
//! Functions `Retry` or `Catch` can match it by name.

use lambda_runtime::Diagnostic;

/// Why an invocation failed. The messages are written for the person who reads them in a
/// Step Functions execution history: they say what was wrong and what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The event (or a batch in it) breaks a rule of the contract. Not retryable: the same
    /// input fails again.
    #[error("{0}")]
    Validation(String),

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
}

impl Error {
    /// The contract's `errorType` name for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Validation(_) => "ValidationError",
            Error::KendraRequest { .. } => "KendraRequestError",
            Error::KendraUnavailable { .. } => "KendraUnavailable",
        }
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
                Error::Validation("documents: required".into()),
                "ValidationError",
            ),
            (
                Error::KendraRequest {
                    index_id: "i".into(),
                    code: "ResourceNotFoundException".into(),
                    message: "no such index".into(),
                },
                "KendraRequestError",
            ),
            (
                Error::KendraUnavailable {
                    index_id: "i".into(),
                    failed_calls: 2,
                    last_error: "ThrottlingException".into(),
                },
                "KendraUnavailable",
            ),
        ];
        for (error, expected) in cases {
            let message = error.to_string();
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, expected);
            assert_eq!(diagnostic.error_message, message);
        }
    }

    #[test]
    fn kendra_request_error_carries_kendras_code_and_message() {
        let error = Error::KendraRequest {
            index_id: "idx".into(),
            code: "AccessDeniedException".into(),
            message: "not allowed".into(),
        };
        let text = error.to_string();
        assert!(text.contains("AccessDeniedException"), "{text}");
        assert!(text.contains("not allowed"), "{text}");
    }
}
