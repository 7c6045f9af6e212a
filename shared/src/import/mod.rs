//! Paginated import (seed 000 section 9): import configs, one page per import queue message,
//! users matched and upserted in batches, the bulk-operations report, schedules.

pub mod config;
pub mod configs;
pub mod importer;
pub mod job;
pub mod mapping;
pub mod missing;
pub mod page;
pub mod schedule;
pub mod upsert;
