//! kendra-waiter: waits for Amazon Kendra indexing on behalf of a Step Functions wait loop, an
//! SQS queue, a callback task or a large ingest. `main.rs` wires these modules together;
//! everything testable lives here.
//!
//! The data path: [`invocation::recognise`] picks the adapter ([`step_functions`], [`sqs`] or
//! [`ingest`]); the adapter reads [`batch::Batch`] values (claim-check references resolved by
//! [`claim_check`]); the [`checker`] coalesces their documents into `BatchGetDocumentStatus`
//! calls through a [`checker::StatusSource`] ([`kendra`] in production), paced by
//! [`pacing`]; [`classify`] folds the answers into each batch's result; the SQS adapter
//! decides each message's outcome ([`sqs_outcome`]) and carries it out ([`settle`]) through
//! the SQS, Step Functions and EventBridge edges ([`publish`], [`tasks`], [`completion`]).

pub mod aws;
pub mod batch;
pub mod checker;
pub mod claim_check;
pub mod classify;
pub mod completion;
pub mod config;
pub mod error;
pub mod handler;
pub mod ingest;
pub mod invocation;
pub mod kendra;
pub mod manifest;
pub mod pacing;
pub mod publish;
pub mod runtime_api;
pub mod s3;
pub mod settle;
pub mod sizing;
pub mod sqs;
pub mod sqs_outcome;
pub mod step_functions;
pub mod tasks;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod xray;

pub use error::Error;
pub use handler::{App, Edges, Request};
