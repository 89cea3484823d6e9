//! BatchPutDocument: checks the batch's shape as Kendra does (a whole-call
//! `ValidationException`), then refuses single documents in `FailedDocuments` (a repeated id,
//! both `Blob` and `S3Path`, a `Blob` over 50 MB, the `reject-` rules of [`crate::simulate`])
//! and starts the lifecycle of the rest. Content and attributes are not kept.

#![allow(non_snake_case)]

use super::failed_documents::Outcome;
use super::{Call, lock_store};
use crate::model::Store;
use crate::protocol::{ApiError, Violations};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::HashSet;
use std::sync::Mutex;
use tokio::time::Instant;

/// Largest document Blob Kendra accepts (50 MB), in decoded bytes.
const MAX_BLOB_BYTES: usize = 50 * 1024 * 1024;
const CONTENT_TYPES: [&str; 12] = [
    "PDF",
    "HTML",
    "MS_WORD",
    "PLAIN_TEXT",
    "PPT",
    "RTF",
    "XML",
    "XSLT",
    "MS_EXCEL",
    "CSV",
    "JSON",
    "MD",
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct S3Path {
    pub Bucket: Option<String>,
    pub Key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Document {
    pub Id: Option<String>,
    pub Title: Option<String>,
    /// Base64 text; only its size is checked, the content is not kept.
    pub Blob: Option<String>,
    pub S3Path: Option<S3Path>,
    /// Parsed only so a non-list is a SerializationException; the values are not kept.
    #[allow(dead_code)]
    pub Attributes: Option<Vec<IgnoredAny>>,
    pub ContentType: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchPutDocumentRequest {
    pub IndexId: Option<String>,
    pub RoleArn: Option<String>,
    pub Documents: Option<Vec<Document>>,
}

impl BatchPutDocumentRequest {
    fn documents(&self) -> &[Document] {
        self.Documents.as_deref().unwrap_or_default()
    }

    /// The whole-call checks, every violation named.
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.index_id("indexId", self.IndexId.as_deref());
        if let Some(arn) = &self.RoleArn {
            v.length("roleArn", arn, 1, 1284);
        }
        v.required("documents", self.Documents.as_ref());
        if self.Documents.is_some() {
            v.list_length("documents", self.documents().len(), 1, 10);
        }
        for (i, d) in self.documents().iter().enumerate() {
            d.validate(&mut v, &format!("documents.{}.member", i + 1));
        }
        v.into_result()
    }
}

impl Document {
    /// Adds this document's shape violations, its fields named under `at`.
    fn validate(&self, v: &mut Violations, at: &str) {
        match &self.Id {
            None => v.required::<&str>(&format!("{at}.id"), None),
            Some(id) => v.length(&format!("{at}.id"), id, 1, 2048),
        }
        if let Some(t) = &self.Title {
            v.length(&format!("{at}.title"), t, 1, 1000);
        }
        if let Some(ct) = &self.ContentType {
            v.pattern(
                &format!("{at}.contentType"),
                ct,
                CONTENT_TYPES.contains(&ct.as_str()),
                "satisfy enum value set: [PDF, HTML, MS_WORD, PLAIN_TEXT, PPT, RTF, XML, XSLT, MS_EXCEL, CSV, JSON, MD]",
            );
        }
        if let Some(s3) = &self.S3Path {
            v.required(&format!("{at}.s3Path.bucket"), s3.Bucket.as_ref());
            v.required(&format!("{at}.s3Path.key"), s3.Key.as_ref());
        }
    }

    /// Why Kendra would refuse this one document (its ErrorCode and message), if it would;
    /// `first` is false for a later copy of an id already in the batch.
    fn problem(&self, id: &str, first: bool) -> Option<(&'static str, String)> {
        let message = if !first {
            format!("Document {id} appears more than once in the batch.")
        } else if self.Blob.is_some() && self.S3Path.is_some() {
            format!("Document {id} has both Blob and S3Path; provide one.")
        } else if self
            .Blob
            .as_ref()
            .is_some_and(|b| b.len() / 4 * 3 > MAX_BLOB_BYTES)
        {
            format!("Document {id} is larger than the 50 MB limit for Blob content.")
        } else {
            return None;
        };
        Some(("InvalidRequest", message))
    }
}

impl Call for BatchPutDocumentRequest {
    fn index_id(&self) -> Option<&str> {
        self.IndexId.as_deref()
    }

    fn document_ids(&self) -> Vec<String> {
        self.documents()
            .iter()
            .filter_map(|d| d.Id.clone())
            .collect()
    }

    fn apply(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError> {
        self.validate()?;
        let index = self.IndexId.as_deref().unwrap_or_default();
        let docs = self.documents();
        let mut seen = HashSet::with_capacity(docs.len());
        let mut outcome = Outcome::with_capacity(docs.len());
        for d in docs {
            let id = d.Id.as_deref().unwrap_or_default();
            outcome.judge(id, d.problem(id, seen.insert(id)));
        }
        lock_store(store)
            .put(index, outcome.accepted.iter().copied(), now)
            .ok_or_else(|| ApiError::not_found("Index", index))?;
        outcome.answer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Lifecycle, Observed};
    use crate::ops::decode;

    const IX: &str = "0123456789abcdef0123456789abcdef0123";

    fn status(store: &Mutex<Store>, id: &str) -> String {
        match lock_store(store).observe(IX, id, Instant::now()) {
            Some(Observed::Status { status, .. }) => status.to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_documents_are_not_put_and_the_rest_are() {
        let lifecycle = Lifecycle {
            indexing_checks: Some(0),
            ..Lifecycle::default()
        };
        let store = Mutex::new(Store::new(lifecycle, 0));
        lock_store(&store).ensure_index(IX);
        let body = format!(
            r#"{{"IndexId":"{IX}","Documents":[{{"Id":"ok"}},{{"Id":"reject-invalid-1"}},
                {{"Id":"reject-internal-1"}},{{"Id":"both","Blob":"eA==","S3Path":{{"Bucket":"b","Key":"k"}}}},
                {{"Id":"ok"}}]}}"#
        );
        let request: BatchPutDocumentRequest = decode(body.as_bytes()).unwrap();
        let answer = request.apply(&store, Instant::now()).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        let failed: Vec<(&str, &str)> = answer["FailedDocuments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["Id"].as_str().unwrap(), f["ErrorCode"].as_str().unwrap()))
            .collect();
        assert_eq!(
            failed,
            [
                ("reject-invalid-1", "InvalidRequest"),
                ("reject-internal-1", "InternalError"),
                ("both", "InvalidRequest"),
                ("ok", "InvalidRequest"),
            ]
        );
        assert_eq!(status(&store, "ok"), "INDEXED");
        for refused in ["reject-invalid-1", "reject-internal-1", "both"] {
            assert_eq!(status(&store, refused), "NOT_FOUND", "{refused}");
        }
    }
}
