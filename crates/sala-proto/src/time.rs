//! Timestamps on the wire: RFC 3339, UTC, millisecond precision (`2026-11-22T10:04:05.123Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Serialises a timestamp as SPEC §2 requires; use with `#[serde(with = "sala_proto::time")]`.
///
/// # Errors
/// Only those of the serializer.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

/// Parses any RFC 3339 timestamp and converts it to UTC.
///
/// # Errors
/// When the string is not RFC 3339.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

/// The wire form of a timestamp.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn formats_utc_with_milliseconds() {
        let at = chrono::Utc.timestamp_millis_opt(1_795_000_000_007).unwrap();
        assert_eq!(super::format(&at), "2026-11-18T11:06:40.007Z");
    }
}
