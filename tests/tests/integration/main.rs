//! The integration tests, as one binary (27 binaries each linked the AWS SDK, which cost most of
//! the build on 2 cores). Each module is one area; they run against the local AWS stack that
//! `make test` starts (`scripts/stack.sh`). Run one area with `cargo test --test integration users::`.
//! The tests that go through `cargo lambda watch` are the `served` binary.

mod apps_policies;
mod auth;
mod console;
mod cost;
mod deletion_threshold;
mod dispatch_faults;
mod events;
mod groups;
mod hostile_input;
mod import;
mod import_lifecycle;
mod infra;
mod lost_provisioning;
mod on_demand;
mod openapi;
mod outbound;
mod outbound_configs;
mod outbox;
mod scim_bulk;
mod scim_clients;
mod scim_groups;
mod scim_interop;
mod scim_mapping;
mod scim_ownership;
mod scim_properties;
mod scim_target;
mod scim_users;
mod trust;
mod users;
