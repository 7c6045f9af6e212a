//! Outbound custom provisioning (seed 000): authorization and event configs of custom
//! provisioning apps, request templates, the outbox relay, the dispatcher that calls the apps,
//! the provisioning log and the dead-letter queue.

pub mod auth_config;
pub mod configs;
pub mod delivery;
pub mod dispatch;
pub mod dlq;
pub mod event_config;
pub mod link;
pub mod log;
pub mod preview;
pub mod redact;
pub mod relay;
pub mod request;
pub mod skip;
pub mod template;
pub mod token;
