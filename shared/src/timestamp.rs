//! Timestamps as RFC 3339 strings in UTC: sortable as text, readable in the table.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Second precision, so every stored timestamp has the same length and sorts as text.
pub fn format(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
