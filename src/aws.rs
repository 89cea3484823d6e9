//! The AWS SDK configuration that the Kendra and SQS edges share: loaded once at init, with
//! the SDK's usual providers (region, credentials, `AWS_ENDPOINT_URL_*` overrides).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kendra::config::SharedHttpClient;
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};

/// Loads the configuration from the environment, as every AWS SDK does.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
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
