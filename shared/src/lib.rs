//! Provisio's library crate: everything the four functions share. Function crates only turn
//! Lambda events into calls of this crate and results into responses.

pub mod admin_api;
pub mod aws;
pub mod config;
pub mod connector;
pub mod console;
pub mod directory;
pub mod ids;
pub mod import;
pub mod json_path;
pub mod layers;
pub mod metrics;
pub mod outbound;
pub mod queue_batch;
pub mod queue_send;
pub mod request_count;
pub mod resources;
pub mod retry;
pub mod scim;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod url_policy;
