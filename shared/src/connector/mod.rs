//! Calling other services over HTTP on behalf of an app, for outbound provisioning and imports
//! alike: authorization configs and their secrets, request templates, the token fetcher, the
//! sender with its timeouts, redirect and size rules, and the redaction of what comes back.

pub mod auth_config;
pub mod configs;
pub mod connection_test;
pub mod delivery;
pub mod http;
pub mod redact;
pub mod request;
pub mod template;
pub mod token;
