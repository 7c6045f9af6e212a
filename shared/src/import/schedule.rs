//! Import schedules in EventBridge's syntax: `rate(30 minutes)`, `rate(1 day)`, or
//! `cron(minutes hours day-of-month month day-of-week year)`. Cron expressions are evaluated by the
//! `cron` crate (its format has a leading seconds field, added here).

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    expression: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Rate(time::Duration),
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        let kind = if let Some(inner) = expression.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (n, unit) = inner
                .trim()
                .split_once(' ')
                .ok_or("rate(N unit), such as rate(6 hours)")?;
            let n: i64 = n.parse().map_err(|_| format!("`{n}` is not a whole number"))?;
            if n < 1 {
                return Err("a rate is at least 1".into());
            }
            Kind::Rate(match unit.trim() {
                "minute" | "minutes" => time::Duration::minutes(n),
                "hour" | "hours" => time::Duration::hours(n),
                "day" | "days" => time::Duration::days(n),
                other => return Err(format!("unit `{other}`: minutes, hours or days")),
            })
        } else if let Some(inner) = expression.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            let fields: Vec<&str> = inner.split_whitespace().collect();
            if fields.len() != 6 {
                return Err("cron(minutes hours day-of-month month day-of-week year): six fields".into());
            }
            let schedule =
                cron::Schedule::from_str(&format!("0 {}", fields.join(" "))).map_err(|e| e.to_string())?;
            Kind::Cron(Box::new(schedule))
        } else {
            return Err("rate(...) or cron(...), as EventBridge writes them".into());
        };
        Ok(Schedule {
            expression: expression.to_string(),
            kind,
        })
    }

    /// Whether a run is due at `now` when the last one started at `last` (never: due at once).
    pub fn is_due(&self, last: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        let Some(last) = last else { return true };
        match &self.kind {
            Kind::Rate(every) => now - last >= *every,
            Kind::Cron(schedule) => {
                let after = chrono::DateTime::from_timestamp(last.unix_timestamp(), 0).unwrap_or_default();
                schedule
                    .after(&after)
                    .next()
                    .is_some_and(|next| next.timestamp() <= now.unix_timestamp())
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.expression
    }
}

impl schemars::JsonSchema for Schedule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Schedule".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "EventBridge syntax: rate(N minutes|hours|days) or cron(min hour day month weekday year)",
            "examples": ["rate(6 hours)", "cron(0 3 * * ? *)"]
        })
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expression)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Schedule::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rates_and_crons() {
        let hourly = Schedule::parse("rate(1 hour)").unwrap();
        let start = datetime!(2026-11-23 10:00 UTC);
        assert!(hourly.is_due(None, start));
        assert!(!hourly.is_due(Some(start), datetime!(2026-11-23 10:59 UTC)));
        assert!(hourly.is_due(Some(start), datetime!(2026-11-23 11:00 UTC)));
        let nightly = Schedule::parse("cron(0 3 * * ? *)").unwrap();
        assert!(!nightly.is_due(Some(start), datetime!(2026-11-24 02:59 UTC)));
        assert!(nightly.is_due(Some(start), datetime!(2026-11-24 03:04 UTC)));
        assert!(Schedule::parse("rate(0 hours)").is_err());
        assert!(Schedule::parse("cron(0 3 * *)").is_err());
        assert!(Schedule::parse("every day").is_err());
    }
}
