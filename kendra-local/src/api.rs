//! The operations: parse a body into its request shape, validate it as Kendra does, apply it
//! to the [`Store`], and serialize the answer. Transport-free so it is cheap to test.

use crate::model::{NewIndex, Observed, Store};
use crate::protocol::{ApiError, ErrorCode, Operation, Violations};
use crate::shapes::*;
use crate::simulate;
use std::collections::HashSet;
use std::sync::Mutex;
use tokio::time::Instant;

/// Largest document Blob Kendra accepts (50 MB), in decoded bytes.
const MAX_BLOB_BYTES: usize = 50 * 1024 * 1024;
const EDITIONS: [&str; 3] = [
    "DEVELOPER_EDITION",
    "ENTERPRISE_EDITION",
    "GEN_AI_ENTERPRISE_EDITION",
];
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

/// A parsed request of one operation.
#[derive(Debug)]
pub(crate) enum Request<'a> {
    CreateIndex(CreateIndexRequest),
    DescribeIndex(IndexIdRequest),
    ListIndices(ListIndicesRequest),
    DeleteIndex(IndexIdRequest),
    BatchPutDocument(BatchPutDocumentRequest),
    BatchDeleteDocument(BatchDeleteDocumentRequest),
    BatchGetDocumentStatus(BatchGetDocumentStatusRequest<'a>),
}

fn serialization(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Serialization,
        format!("Unable to parse the request body: {err}"),
    )
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InternalServer,
            format!("kendra-local could not encode its answer: {e}"),
        )
    })
}

impl<'a> Request<'a> {
    /// Reads the JSON body of `op`. An empty body counts as `{}` (some clients send nothing
    /// for operations without required members); anything that is not a JSON object of the
    /// right shape is a `SerializationException`.
    pub(crate) fn parse(op: Operation, body: &'a [u8]) -> Result<Request<'a>, ApiError> {
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            body
        };
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(serialization("expected a JSON object"));
        }
        Ok(match op {
            Operation::CreateIndex => {
                Request::CreateIndex(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::DescribeIndex => {
                Request::DescribeIndex(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::ListIndices => {
                Request::ListIndices(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::DeleteIndex => {
                Request::DeleteIndex(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::BatchPutDocument => {
                Request::BatchPutDocument(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::BatchDeleteDocument => {
                Request::BatchDeleteDocument(serde_json::from_slice(body).map_err(serialization)?)
            }
            Operation::BatchGetDocumentStatus => Request::BatchGetDocumentStatus(
                serde_json::from_slice(body).map_err(serialization)?,
            ),
        })
    }

    /// The index the call is about, for the request log.
    pub(crate) fn index_id(&self) -> Option<&str> {
        match self {
            Request::CreateIndex(_) | Request::ListIndices(_) => None,
            Request::DescribeIndex(r) | Request::DeleteIndex(r) => r.Id.as_deref(),
            Request::BatchPutDocument(r) => r.IndexId.as_deref(),
            Request::BatchDeleteDocument(r) => r.IndexId.as_deref(),
            Request::BatchGetDocumentStatus(r) => r.IndexId.as_deref(),
        }
    }

    /// The document ids of the batch, for the request log.
    pub(crate) fn document_ids(&self) -> Vec<String> {
        match self {
            Request::BatchPutDocument(r) => r
                .Documents
                .iter()
                .flatten()
                .filter_map(|d| d.Id.clone())
                .collect(),
            Request::BatchDeleteDocument(r) => r.DocumentIdList.clone().unwrap_or_default(),
            Request::BatchGetDocumentStatus(r) => r
                .DocumentInfoList
                .iter()
                .flatten()
                .filter_map(|d| d.DocumentId.as_deref().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Validates and applies the call; the JSON answer or the whole-call error.
    pub(crate) fn execute(&self, store: &Mutex<Store>, now: Instant) -> Result<Vec<u8>, ApiError> {
        let lock = || lock_store(store);
        match self {
            Request::CreateIndex(r) => {
                let mut v = Violations::default();
                v.required("name", r.Name.as_ref());
                if let Some(name) = &r.Name {
                    v.length("name", name, 1, 1000);
                    v.pattern(
                        "name",
                        name,
                        name_pattern(name),
                        "[a-zA-Z0-9][a-zA-Z0-9_-]*",
                    );
                }
                v.required("roleArn", r.RoleArn.as_ref());
                if let Some(arn) = &r.RoleArn {
                    v.length("roleArn", arn, 0, 1284);
                }
                if let Some(edition) = &r.Edition {
                    v.pattern(
                        "edition",
                        edition,
                        EDITIONS.contains(&edition.as_str()),
                        "enum value set: [DEVELOPER_EDITION, ENTERPRISE_EDITION, GEN_AI_ENTERPRISE_EDITION]",
                    );
                }
                if let Some(d) = &r.Description {
                    v.length("description", d, 0, 1000);
                }
                if let Some(t) = &r.ClientToken {
                    v.length("clientToken", t, 1, 100);
                }
                v.into_result()?;
                let id = lock().create_index(&NewIndex {
                    name: r.Name.as_deref().unwrap_or_default(),
                    edition: r.Edition.as_deref(),
                    description: r.Description.as_deref(),
                    role_arn: r.RoleArn.as_deref(),
                    client_token: r.ClientToken.as_deref(),
                });
                encode(&CreateIndexResponse { Id: &id })
            }
            Request::DescribeIndex(r) => {
                let id = index_id_of(r.Id.as_deref(), "id")?;
                let info = lock()
                    .describe_index(id)
                    .ok_or_else(|| ApiError::not_found("Index", id))?;
                encode(&DescribeIndexResponse {
                    Id: &info.id,
                    Name: &info.name,
                    Edition: &info.edition,
                    Status: "ACTIVE",
                    CreatedAt: info.created_at,
                    UpdatedAt: info.created_at,
                    Description: info.description.as_deref(),
                    RoleArn: info.role_arn.as_deref(),
                })
            }
            Request::ListIndices(r) => {
                let mut v = Violations::default();
                if let Some(m) = r.MaxResults
                    && !(1..=100).contains(&m)
                {
                    v.pattern("maxResults", &m.to_string(), false, "be between 1 and 100");
                }
                v.into_result()?;
                let start = match &r.NextToken {
                    None => 0,
                    Some(t) => t
                        .strip_prefix("kendra-local-")
                        .and_then(|n| n.parse::<usize>().ok())
                        .ok_or_else(|| {
                            ApiError::new(ErrorCode::Validation, "The NextToken is not valid.")
                        })?,
                };
                let page = usize::try_from(r.MaxResults.unwrap_or(100)).unwrap_or(100);
                let all = lock().list_indexes();
                let end = start.saturating_add(page).min(all.len());
                let items = all
                    .get(start.min(end)..end)
                    .unwrap_or_default()
                    .iter()
                    .map(|i| IndexConfigurationSummary {
                        Id: &i.id,
                        Name: &i.name,
                        Edition: &i.edition,
                        Status: "ACTIVE",
                        CreatedAt: i.created_at,
                        UpdatedAt: i.created_at,
                    })
                    .collect();
                encode(&ListIndicesResponse {
                    IndexConfigurationSummaryItems: items,
                    NextToken: (end < all.len()).then(|| format!("kendra-local-{end}")),
                })
            }
            Request::DeleteIndex(r) => {
                let id = index_id_of(r.Id.as_deref(), "id")?;
                if !lock().delete_index(id) {
                    return Err(ApiError::not_found("Index", id));
                }
                Ok(b"{}".to_vec())
            }
            Request::BatchPutDocument(r) => self.batch_put(r, store, now),
            Request::BatchDeleteDocument(r) => {
                let mut v = Violations::default();
                v.index_id("indexId", r.IndexId.as_deref());
                v.required("documentIdList", r.DocumentIdList.as_ref());
                let ids = r.DocumentIdList.as_deref().unwrap_or_default();
                if r.DocumentIdList.is_some() {
                    v.list_length("documentIdList", ids.len(), 1, 10);
                }
                for (i, id) in ids.iter().enumerate() {
                    v.length(&format!("documentIdList.{}.member", i + 1), id, 1, 2048);
                }
                v.into_result()?;
                let index = r.IndexId.as_deref().unwrap_or_default();
                let mut failed = Vec::new();
                let mut accepted = Vec::with_capacity(ids.len());
                for id in ids {
                    match simulate::rule(id) {
                        rule @ (simulate::Rule::RejectInternal | simulate::Rule::RejectInvalid) => {
                            if let Some((code, message)) = simulate::document_error(rule, id) {
                                failed.push(FailedDocument {
                                    Id: id,
                                    ErrorCode: code,
                                    ErrorMessage: message,
                                });
                            }
                        }
                        _ => accepted.push(id.as_str()),
                    }
                }
                lock()
                    .delete(index, accepted, now)
                    .ok_or_else(|| ApiError::not_found("Index", index))?;
                encode(&FailedDocumentsResponse {
                    FailedDocuments: failed,
                })
            }
            Request::BatchGetDocumentStatus(r) => {
                let mut v = Violations::default();
                v.index_id("indexId", r.IndexId.as_deref());
                v.required("documentInfoList", r.DocumentInfoList.as_ref());
                let infos = r.DocumentInfoList.as_deref().unwrap_or_default();
                if r.DocumentInfoList.is_some() {
                    v.list_length("documentInfoList", infos.len(), 1, 10);
                }
                for (i, info) in infos.iter().enumerate() {
                    let field = || format!("documentInfoList.{}.member.documentId", i + 1);
                    match info.DocumentId.as_deref() {
                        None => v.required::<&str>(&field(), None),
                        Some(id) => {
                            let n = id.len();
                            // Byte length bounds the char count: skip the formatting when
                            // clearly fine (the hot path).
                            if n == 0 || n > 2048 {
                                v.length(&field(), id, 1, 2048);
                            }
                        }
                    }
                }
                v.into_result()?;
                let index = r.IndexId.as_deref().unwrap_or_default();
                let mut errors = Vec::new();
                let mut statuses = Vec::with_capacity(infos.len());
                {
                    let mut store = lock();
                    if !store.has_index(index) {
                        return Err(ApiError::not_found("Index", index));
                    }
                    for id in infos.iter().filter_map(|i| i.DocumentId.as_deref()) {
                        match store.observe(index, id, now) {
                            Some(Observed::Status { status, failure }) => {
                                let (code, reason) = match failure {
                                    Some((c, r)) => (Some(c), Some(r)),
                                    None => (None, None),
                                };
                                statuses.push(DocumentStatus {
                                    DocumentId: id,
                                    DocumentStatus: status,
                                    FailureCode: code,
                                    FailureReason: reason,
                                });
                            }
                            Some(Observed::Error { code, message }) => errors.push(StatusError {
                                DocumentId: id,
                                ErrorCode: code,
                                ErrorMessage: message,
                            }),
                            None => return Err(ApiError::not_found("Index", index)),
                        }
                    }
                }
                encode(&BatchGetDocumentStatusResponse {
                    Errors: errors,
                    DocumentStatusList: statuses,
                })
            }
        }
    }

    fn batch_put(
        &self,
        r: &BatchPutDocumentRequest,
        store: &Mutex<Store>,
        now: Instant,
    ) -> Result<Vec<u8>, ApiError> {
        let mut v = Violations::default();
        v.index_id("indexId", r.IndexId.as_deref());
        if let Some(arn) = &r.RoleArn {
            v.length("roleArn", arn, 1, 1284);
        }
        v.required("documents", r.Documents.as_ref());
        let docs = r.Documents.as_deref().unwrap_or_default();
        if r.Documents.is_some() {
            v.list_length("documents", docs.len(), 1, 10);
        }
        for (i, d) in docs.iter().enumerate() {
            let field = format!("documents.{}.member.id", i + 1);
            match &d.Id {
                None => v.required::<&str>(&field, None),
                Some(id) => v.length(&field, id, 1, 2048),
            }
            if let Some(t) = &d.Title {
                v.length(&format!("documents.{}.member.title", i + 1), t, 1, 1000);
            }
            if let Some(ct) = &d.ContentType {
                v.pattern(
                    &format!("documents.{}.member.contentType", i + 1),
                    ct,
                    CONTENT_TYPES.contains(&ct.as_str()),
                    "satisfy enum value set: [PDF, HTML, MS_WORD, PLAIN_TEXT, PPT, RTF, XML, XSLT, MS_EXCEL, CSV, JSON, MD]",
                );
            }
            if let Some(s3) = &d.S3Path {
                v.required(
                    &format!("documents.{}.member.s3Path.bucket", i + 1),
                    s3.Bucket.as_ref(),
                );
                v.required(
                    &format!("documents.{}.member.s3Path.key", i + 1),
                    s3.Key.as_ref(),
                );
            }
        }
        v.into_result()?;
        let index = r.IndexId.as_deref().unwrap_or_default();
        // Per-document problems, reported in FailedDocuments as Kendra does, while the rest
        // of the batch is accepted.
        let mut failed = Vec::new();
        let mut seen = HashSet::with_capacity(docs.len());
        let mut accepted = Vec::with_capacity(docs.len());
        for d in docs {
            let id = d.Id.as_deref().unwrap_or_default();
            let problem = if !seen.insert(id) {
                Some((
                    "InvalidRequest",
                    format!("Document {id} appears more than once in the batch."),
                ))
            } else if d.Blob.is_some() && d.S3Path.is_some() {
                Some((
                    "InvalidRequest",
                    format!("Document {id} has both Blob and S3Path; provide one."),
                ))
            } else if d
                .Blob
                .as_ref()
                .is_some_and(|b| b.len() / 4 * 3 > MAX_BLOB_BYTES)
            {
                Some((
                    "InvalidRequest",
                    format!("Document {id} is larger than the 50 MB limit for Blob content."),
                ))
            } else {
                match simulate::rule(id) {
                    rule @ (simulate::Rule::RejectInternal | simulate::Rule::RejectInvalid) => {
                        simulate::document_error(rule, id)
                    }
                    _ => None,
                }
            };
            match problem {
                Some((code, message)) => failed.push(FailedDocument {
                    Id: id,
                    ErrorCode: code,
                    ErrorMessage: message,
                }),
                None => accepted.push(id),
            }
        }
        lock_store(store)
            .put(index, accepted, now)
            .ok_or_else(|| ApiError::not_found("Index", index))?;
        encode(&FailedDocumentsResponse {
            FailedDocuments: failed,
        })
    }
}

fn lock_store(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn name_pattern(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn index_id_of<'s>(id: Option<&'s str>, field: &str) -> Result<&'s str, ApiError> {
    let mut v = Violations::default();
    v.index_id(field, id);
    v.into_result()?;
    Ok(id.unwrap_or_default())
}
