//! The admin console: a page and its scripts, served by the admin API function at `/console`
//! (docs/ARCHITECTURE.md, "The console"), and the sessions it signs in with.

pub mod assets;
pub mod revocations;
pub mod session;
