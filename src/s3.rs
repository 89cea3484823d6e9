//! The S3 edge: whole objects for the claim check and ingest bookkeeping, and a stream of
//! chunks for ingest manifests too large to hold. Behind a small trait so the claim check's
//! rules are tested without a bucket (`testing::MemoryStore`).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, ByteStreamError};
use aws_sdk_s3::types::ServerSideEncryption;

use crate::aws::describe_error;

/// Why an object could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object or bucket does not exist, or the function may not touch it: the same
    /// request fails again until someone changes the input or the permissions.
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
    /// Throttling, 5xx, a timeout, a broken connection: may pass.
    #[error("{0}")]
    Transient(String),
}

/// A manifest being read, chunk by chunk as S3 sends it.
#[async_trait]
pub trait ChunkStream: Send {
    /// The next chunk, or `None` at the end of the object.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError>;
}

#[async_trait]
pub trait PayloadStore: Send + Sync {
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError>;
    /// Writes a new object, encrypted at rest.
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn ChunkStream>, StoreError>;
}

/// S3 through the AWS SDK. With `AWS_ENDPOINT_URL_S3` set (moto, LocalStack) buckets are
/// addressed path-style: a local endpoint has no per-bucket host names.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
}

impl S3Store {
    pub fn new(sdk_config: &aws_config::SdkConfig, tracer: &crate::xray::Tracer) -> S3Store {
        let path_style = std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.trim().is_empty());
        S3Store::from_conf(
            aws_sdk_s3::config::Builder::from(sdk_config)
                .force_path_style(path_style)
                .interceptor(tracer.interceptor()),
        )
    }

    /// The store for a client configuration built elsewhere (tests with their own endpoint).
    pub fn from_conf(config: aws_sdk_s3::config::Builder) -> S3Store {
        S3Store {
            client: Client::from_conf(config.build()),
        }
    }
}

#[async_trait]
impl PayloadStore for S3Store {
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
        let mut stream = self.open(bucket, key).await?;
        let mut body = Vec::new();
        while let Some(chunk) = stream.next_chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn ChunkStream>, StoreError> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(store_error)?;
        Ok(Box::new(S3Chunks(output.body)))
    }
}

struct S3Chunks(ByteStream);

#[async_trait]
impl ChunkStream for S3Chunks {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.0
            .next()
            .await
            .transpose()
            .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
            .map_err(|error: ByteStreamError| StoreError::Transient(describe_error(&error)))
    }
}

/// A 4xx other than throttling is a refusal; everything else may pass.
fn store_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    if let SdkError::ServiceError(context) = &error {
        let status = context.raw().status_code();
        let code = context.err().code().unwrap_or("UnknownError");
        if (400..500).contains(&status) && status != 429 && code != "SlowDown" {
            return StoreError::Refused {
                code: code.to_string(),
                message: context.err().message().unwrap_or("no message").to_string(),
            };
        }
    }
    StoreError::Transient(describe_error(&error))
}

/// The HTTP status of a raw response, whatever the SDK calls its response type.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

#[async_trait]
impl<T: PayloadStore> PayloadStore for crate::aws::OnFirstUse<T> {
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
        self.get().get(bucket, key).await
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.get().put(bucket, key, body).await
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn ChunkStream>, StoreError> {
        self.get().open(bucket, key).await
    }
}
