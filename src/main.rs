//! Wiring only: telemetry, configuration, clients (once, at init), then the runtime loop.

use std::process::ExitCode;

use kendra_waiter::aws::OnFirstUse;
use kendra_waiter::completion::EventBridgeSink;
use kendra_waiter::config::Config;
use kendra_waiter::kendra::KendraStatusSource;
use kendra_waiter::publish::SqsPublisher;
use kendra_waiter::s3::S3Store;
use kendra_waiter::tasks::SfnTasks;
use kendra_waiter::xray::Tracer;
use kendra_waiter::{App, Edges, Request, aws, runtime_api, telemetry};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// The AWS SDK allocates many small objects per call; mimalloc does that at about half the CPU
/// of glibc's malloc (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    telemetry::init_tracing();
    if let Err(message) = runtime_api::check_environment() {
        tracing::error!("{message}");
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(variable = error.variable, "{error}");
            runtime_api::report_init_error("ConfigurationError", &error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };

    let sdk_config = aws::sdk_config(config.call_timeout).await;
    let tracer = Tracer::from_env();
    let edges = Edges {
        kendra: Box::new(KendraStatusSource::new(&sdk_config, &tracer)),
        sqs: Box::new(SqsPublisher::from_sdk_config(&sdk_config, &tracer)),
        s3: Box::new(OnFirstUse::new({
            let (sdk_config, tracer) = (sdk_config.clone(), tracer.clone());
            move || S3Store::new(&sdk_config, &tracer)
        })),
        tasks: Box::new(OnFirstUse::new({
            let (sdk_config, tracer) = (sdk_config.clone(), tracer.clone());
            move || SfnTasks::new(&sdk_config, &tracer)
        })),
        events: Box::new(OnFirstUse::new({
            let (sdk_config, tracer) = (sdk_config.clone(), tracer.clone());
            move || EventBridgeSink::new(&sdk_config, &tracer)
        })),
    };
    let app = App::new(config, edges).with_tracer(tracer);
    let app = &app;
    // Boxed: the handler's future type is deep (SDK calls inside streams inside the
    // runtime's layers); erasing it here keeps rustc's layout computation within bounds.
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let request = Request {
            request_id: event.context.request_id.clone(),
            deadline_ms: Some(event.context.deadline),
            xray_trace_id: event.context.xray_trace_id.clone(),
        };
        Box::pin(async move { app.handle(event.payload, &request).await })
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
