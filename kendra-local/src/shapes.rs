//! The JSON shapes of the implemented operations, named as on the wire (PascalCase).
//!
//! Request members are all optional so that a missing required member becomes Kendra's
//! `ValidationException` ("Value null at ...") rather than a `SerializationException`;
//! wrong JSON types are a `SerializationException`, as with the real service. Unknown members
//! are ignored, so newer SDKs that send more fields still work.

#![allow(non_snake_case)]

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateIndexRequest {
    pub Name: Option<String>,
    pub Edition: Option<String>,
    pub RoleArn: Option<String>,
    pub Description: Option<String>,
    pub ClientToken: Option<String>,
}

/// DescribeIndex and DeleteIndex.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct IndexIdRequest {
    pub Id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListIndicesRequest {
    pub NextToken: Option<String>,
    pub MaxResults: Option<i64>,
}

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

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchDeleteDocumentRequest {
    pub IndexId: Option<String>,
    pub DocumentIdList: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DocumentInfo<'a> {
    #[serde(borrow)]
    pub DocumentId: Option<Cow<'a, str>>,
    /// Parsed only so a non-list is a SerializationException; the values are not kept.
    #[allow(dead_code)]
    pub Attributes: Option<Vec<IgnoredAny>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchGetDocumentStatusRequest<'a> {
    #[serde(borrow)]
    pub IndexId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub DocumentInfoList: Option<Vec<DocumentInfo<'a>>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateIndexResponse<'a> {
    pub Id: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeIndexResponse<'a> {
    pub Id: &'a str,
    pub Name: &'a str,
    pub Edition: &'a str,
    pub Status: &'a str,
    pub CreatedAt: f64,
    pub UpdatedAt: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub RoleArn: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IndexConfigurationSummary<'a> {
    pub Id: &'a str,
    pub Name: &'a str,
    pub Edition: &'a str,
    pub Status: &'a str,
    pub CreatedAt: f64,
    pub UpdatedAt: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ListIndicesResponse<'a> {
    pub IndexConfigurationSummaryItems: Vec<IndexConfigurationSummary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub NextToken: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FailedDocument<'a> {
    pub Id: &'a str,
    pub ErrorCode: &'a str,
    pub ErrorMessage: String,
}

/// BatchPutDocument and BatchDeleteDocument.
#[derive(Debug, Serialize)]
pub(crate) struct FailedDocumentsResponse<'a> {
    pub FailedDocuments: Vec<FailedDocument<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusError<'a> {
    pub DocumentId: &'a str,
    pub ErrorCode: &'a str,
    pub ErrorMessage: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct DocumentStatus<'a> {
    pub DocumentId: &'a str,
    pub DocumentStatus: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub FailureCode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub FailureReason: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BatchGetDocumentStatusResponse<'a> {
    pub Errors: Vec<StatusError<'a>>,
    pub DocumentStatusList: Vec<DocumentStatus<'a>>,
}
