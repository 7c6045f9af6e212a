//! The protocol's constants as this server speaks them: its media type, and the limits that
//! ServiceProviderConfig announces and the handlers enforce (one place, so the two can't differ).

pub const CONTENT_TYPE: &str = "application/scim+json";
/// Bodies above this are refused (413) before parsing; Bulk has its own, larger limit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Operations of one Bulk request.
pub const MAX_BULK_OPERATIONS: usize = 100;
/// Size of one Bulk request.
pub const MAX_BULK_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Page size of a list without `count`.
pub const DEFAULT_COUNT: usize = 100;
/// Largest page of a list or search (also the filter's `maxResults`).
pub const MAX_COUNT: usize = 200;
