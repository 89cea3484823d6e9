//! The AWS SDK configuration that every edge shares (Kendra, SQS, S3, Step Functions,
//! EventBridge): loaded once at init, with the SDK's usual providers (region, credentials,
//! `AWS_ENDPOINT_URL_*` overrides) and one timeout per call attempt.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kendra::config::SharedHttpClient;
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};

/// Loads the configuration from the environment, as every AWS SDK does. Every attempt of
/// every call is cut at `call_timeout` (`CALL_TIMEOUT_MS`): a hung connection costs one
/// attempt, which the SDK's retries treat as transient, never the whole invocation.
pub async fn sdk_config(call_timeout: Duration) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(call_timeout)
                .connect_timeout(call_timeout)
                .build(),
        )
        .load()
        .await
}

/// An error with its sources, which name the actual cause (timeout, refused connection,
/// ...) where the SDK's own message says only "dispatch failure".
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The SDK's default HTTPS client (hyper 1 and rustls with the system's root certificates,
/// proxy settings from the environment), with rustls on `ring` instead of `aws-lc-rs`: the
/// same client in about 2 MB less of binary (docs/performance.md).
fn https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// An edge whose client is built on first use, not at init: the S3, Step Functions and
/// EventBridge clients serve only the claim check, callback batches, completion events and
/// ingests, and a process that never needs them should not carry them (memory, cold start).
pub struct OnFirstUse<T> {
    build: Box<dyn Fn() -> T + Send + Sync>,
    built: std::sync::OnceLock<T>,
}

impl<T> OnFirstUse<T> {
    pub fn new(build: impl Fn() -> T + Send + Sync + 'static) -> OnFirstUse<T> {
        OnFirstUse {
            build: Box::new(build),
            built: std::sync::OnceLock::new(),
        }
    }

    /// The edge, built now if this is its first use.
    pub fn get(&self) -> &T {
        self.built.get_or_init(|| (self.build)())
    }

    /// Whether it was built yet.
    pub fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_is_built_once_on_first_use() {
        let builds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = builds.clone();
        let edge =
            OnFirstUse::new(move || counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        assert!(!edge.is_built());
        assert_eq!(*edge.get(), 0);
        assert_eq!(*edge.get(), 0);
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
