//! The pieces of the Lambda Runtime API that `lambda_runtime` does not cover: checking that
//! its environment is there (it panics otherwise), and reporting an init error.

use lambda_runtime_api_client::{Client, body::Body, build_request};

/// Variables `lambda_runtime` needs and would panic without.
const REQUIRED: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Says what is missing for `lambda_runtime` to start, instead of letting it panic.
pub fn check_environment() -> Result<(), String> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|name| std::env::var(name).map_or(true, |v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "not running under a Lambda Runtime API: {} not set (use `cargo lambda watch`, `sam local invoke`, or deploy it)",
            missing.join(", ")
        ));
    }
    if std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").is_ok_and(|v| v.parse::<i32>().is_err()) {
        return Err("AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a whole number".to_string());
    }
    Ok(())
}

/// Posts an init error to `/runtime/init/error`, so Lambda reports the failed start with our
/// message. Failing to report is logged, not fatal: the process exits either way.
pub async fn report_init_error(error_type: &str, message: &str) {
    let Some(endpoint) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .and_then(|api| format!("http://{api}").parse().ok())
    else {
        return;
    };
    let client = match Client::builder().with_endpoint(endpoint).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "could not build a Runtime API client to report the init error");
            return;
        }
    };
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string();
    let request = build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Body::from(body));
    match request {
        Ok(request) => {
            if let Err(error) = client.call(request).await {
                tracing::error!(%error, "could not report the init error to the Runtime API");
            }
        }
        Err(error) => tracing::error!(%error, "could not build the init error request"),
    }
}
