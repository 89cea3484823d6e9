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
