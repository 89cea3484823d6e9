//! kendra-waiter: waits for Amazon Kendra indexing on behalf of a Step Functions wait loop or
//! an SQS queue. `main.rs` wires these modules together; everything testable lives here.
//!
//! The data path: an adapter ([`step_functions`] or [`sqs`]) parses the event into
//! [`batch::Batch`] values; the [`checker`] turns their documents into
//! `BatchGetDocumentStatus` calls through a [`checker::StatusSource`] ([`kendra`] in
//! production); [`classify`] folds the answers into each batch's result; the SQS adapter
//! settles each message through a [`publish::Publisher`].

pub mod aws;
pub mod batch;
pub mod checker;
pub mod classify;
pub mod config;
pub mod error;
pub mod handler;
pub mod kendra;
pub mod publish;
pub mod runtime_api;
pub mod sqs;
pub mod step_functions;
pub mod telemetry;

pub use error::Error;
pub use handler::App;
