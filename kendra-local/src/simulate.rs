//! The failure-simulation rule: a document's fate is decided by its DocumentId prefix, on any
//! index and whatever the client, so an out-of-process test (boto3, the demo) can script
//! outcomes with nothing but the ids it sends.
//!
//! | prefix | effect |
//! |---|---|
//! | `fail-` | after indexing, `FAILED` with `FailureCode` `KendraLocal.SimulatedFailure` |
//! | `update-fail-` | after indexing, `UPDATE_FAILED` when it was put over an existing document, `FAILED` when new |
//! | `error-internal-` | `BatchGetDocumentStatus` answers an `Errors[]` entry with `ErrorCode` `InternalError` |
//! | `error-invalid-` | `BatchGetDocumentStatus` answers an `Errors[]` entry with `ErrorCode` `InvalidRequest` |
//! | `stuck-` | once put, `PROCESSING` forever |
//! | `status-<STATUS>-` | once put and indexed, the literal `<STATUS>` (e.g. `status-WEIRD_NEW-x` → `WEIRD_NEW`) |
//! | `reject-invalid-` | `BatchPutDocument`/`BatchDeleteDocument` list it in `FailedDocuments` with `InvalidRequest` |
//! | `reject-internal-` | `BatchPutDocument`/`BatchDeleteDocument` list it in `FailedDocuments` with `InternalError` |
//! | `reject-` (any, the two above included) | `BatchGetDocumentStatus` refuses the whole call with `ValidationException` naming the id |
//!
//! Anything else follows the normal lifecycle.

/// The `FailureCode` of simulated `FAILED` / `UPDATE_FAILED` documents.
pub const SIMULATED_FAILURE_CODE: &str = "KendraLocal.SimulatedFailure";

/// What the id prefix asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule<'a> {
    Normal,
    Fail,
    UpdateFail,
    ErrorInternal,
    ErrorInvalid,
    Stuck,
    Status(&'a str),
    RejectInvalid,
    RejectInternal,
}

/// Classifies a document id. Cheap: a few prefix comparisons, no allocation.
pub(crate) fn rule(id: &str) -> Rule<'_> {
    if id.starts_with("fail-") {
        Rule::Fail
    } else if id.starts_with("update-fail-") {
        Rule::UpdateFail
    } else if id.starts_with("error-internal-") {
        Rule::ErrorInternal
    } else if id.starts_with("error-invalid-") {
        Rule::ErrorInvalid
    } else if id.starts_with("stuck-") {
        Rule::Stuck
    } else if id.starts_with("reject-invalid-") {
        Rule::RejectInvalid
    } else if id.starts_with("reject-internal-") {
        Rule::RejectInternal
    } else if let Some(rest) = id.strip_prefix("status-") {
        let status = rest.split('-').next().unwrap_or_default();
        if status.is_empty() {
            Rule::Normal
        } else {
            Rule::Status(status)
        }
    } else {
        Rule::Normal
    }
}

/// The `FailureReason` of a simulated failure.
pub(crate) fn failure_reason(id: &str) -> String {
    format!("simulated failure for document {id}")
}

/// A per-document error (`Errors[]` of BatchGetDocumentStatus, `FailedDocuments` of the batch
/// writes): the ErrorCode and its message.
pub(crate) fn document_error(rule: Rule<'_>, id: &str) -> Option<(&'static str, String)> {
    match rule {
        Rule::ErrorInternal | Rule::RejectInternal => Some((
            "InternalError",
            format!("simulated internal error for document {id}"),
        )),
        Rule::ErrorInvalid | Rule::RejectInvalid => Some((
            "InvalidRequest",
            format!("simulated invalid request for document {id}"),
        )),
        _ => None,
    }
}

/// Ids that make `BatchGetDocumentStatus` refuse the whole call, as Kendra does for refusals a
/// client cannot check beforehand; a test can then show a client finding the document at fault.
pub const REFUSE_CALL_PREFIX: &str = "reject-";

/// The `ValidationException` message of a `BatchGetDocumentStatus` call refused because of
/// `id`, if its prefix asks for that.
pub(crate) fn status_call_refusal(id: &str) -> Option<String> {
    id.starts_with(REFUSE_CALL_PREFIX).then(|| {
        format!(
            "Document {id} is refused by kendra-local's {REFUSE_CALL_PREFIX} rule (a simulated \
             ValidationException)."
        )
    })
}

/// The `FailedDocuments` entry of a batch write (its ErrorCode and message) that the id asks
/// for, if any.
pub(crate) fn write_rejection(id: &str) -> Option<(&'static str, String)> {
    match rule(id) {
        rule @ (Rule::RejectInternal | Rule::RejectInvalid) => document_error(rule, id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_classify() {
        assert_eq!(rule("doc-1"), Rule::Normal);
        assert_eq!(rule("fail-1"), Rule::Fail);
        assert_eq!(rule("update-fail-1"), Rule::UpdateFail);
        assert_eq!(rule("error-internal-1"), Rule::ErrorInternal);
        assert_eq!(rule("error-invalid-1"), Rule::ErrorInvalid);
        assert_eq!(rule("stuck-1"), Rule::Stuck);
        assert_eq!(rule("status-WEIRD_NEW-x"), Rule::Status("WEIRD_NEW"));
        assert_eq!(rule("status-ODD"), Rule::Status("ODD"));
        assert_eq!(rule("status--x"), Rule::Normal);
        assert_eq!(rule("reject-invalid-1"), Rule::RejectInvalid);
        assert_eq!(rule("reject-internal-1"), Rule::RejectInternal);
        assert_eq!(rule("xfail-1"), Rule::Normal);
    }

    #[test]
    fn reject_ids_refuse_a_status_call() {
        assert_eq!(
            status_call_refusal("reject-3").as_deref(),
            Some(
                "Document reject-3 is refused by kendra-local's reject- rule (a simulated \
                 ValidationException)."
            )
        );
        assert!(status_call_refusal("reject-invalid-1").is_some());
        assert_eq!(status_call_refusal("doc-reject-1"), None);
        assert_eq!(status_call_refusal("fail-1"), None);
    }

    #[test]
    fn document_errors_name_the_document() {
        let (code, msg) = document_error(Rule::ErrorInvalid, "error-invalid-7").unwrap();
        assert_eq!(code, "InvalidRequest");
        assert!(msg.contains("error-invalid-7"));
        assert_eq!(
            document_error(Rule::ErrorInternal, "x").unwrap().0,
            "InternalError"
        );
        assert_eq!(document_error(Rule::Fail, "x"), None);
    }
}
