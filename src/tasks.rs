//! The Step Functions edge of callback mode: `SendTaskHeartbeat`, `SendTaskSuccess` and
//! `SendTaskFailure` for a batch that carries a task token.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

use crate::aws::describe_error;

/// Step Functions' limit on a task failure's `cause`, in characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// Error codes that mean nobody waits for the token any more.
const GONE_CODES: &[&str] = &["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The execution stopped waiting (timed out, ended, or the token is not one): there is
    /// nobody to tell, and telling again will not change that.
    #[error("{code}: {message}")]
    Gone { code: String, message: String },
    /// Anything else: worth trying again with the next delivery.
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait TaskNotifier: Send + Sync {
    async fn heartbeat(&self, token: &str) -> Result<(), TaskError>;
    async fn succeed(&self, token: &str, output: String) -> Result<(), TaskError>;
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), TaskError>;
}

/// Step Functions through the AWS SDK; `AWS_ENDPOINT_URL_SFN` points it at moto.
#[derive(Clone, Debug)]
pub struct SfnTasks {
    client: Client,
}

impl SfnTasks {
    pub fn new(sdk_config: &aws_config::SdkConfig, tracer: &crate::xray::Tracer) -> SfnTasks {
        let config =
            aws_sdk_sfn::config::Builder::from(sdk_config).interceptor(tracer.interceptor());
        SfnTasks {
            client: Client::from_conf(config.build()),
        }
    }
}

#[async_trait]
impl TaskNotifier for SfnTasks {
    async fn heartbeat(&self, token: &str) -> Result<(), TaskError> {
        self.client
            .send_task_heartbeat()
            .task_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(task_error)
    }

    async fn succeed(&self, token: &str, output: String) -> Result<(), TaskError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map(|_| ())
            .map_err(task_error)
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), TaskError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(task_error)
    }
}

fn task_error<E>(error: SdkError<E, aws_sdk_sfn::config::http::HttpResponse>) -> TaskError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(context) = &error
        && let Some(code) = context.err().code()
        && GONE_CODES.contains(&code)
    {
        return TaskError::Gone {
            code: code.to_string(),
            message: context.err().message().unwrap_or("no message").to_string(),
        };
    }
    TaskError::Failed(describe_error(&error))
}

#[async_trait]
impl<T: TaskNotifier> TaskNotifier for crate::aws::OnFirstUse<T> {
    async fn heartbeat(&self, token: &str) -> Result<(), TaskError> {
        self.get().heartbeat(token).await
    }

    async fn succeed(&self, token: &str, output: String) -> Result<(), TaskError> {
        self.get().succeed(token, output).await
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), TaskError> {
        self.get().fail(token, error, cause).await
    }
}
