//! Outbound custom provisioning (seed 000): event configs of custom provisioning apps, the
//! dispatcher that calls the apps (through `connector`), links, the provisioning log and the
//! dead-letter queue.

pub mod configs;
pub mod deletion_guard;
pub mod dispatch;
pub mod dlq;
pub mod event_config;
pub mod full_reconcile;
pub mod group_link;
pub mod link;
pub mod log;
pub mod preview;
pub mod quarantine;
pub mod rate_limit;
pub mod reconcile;
pub mod scim_target;
pub mod skip;
