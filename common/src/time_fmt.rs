//! UTC timestamps: RFC 3339 for records and the compact artifact `<stamp>`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Current UTC time truncated to whole seconds.
pub fn now_utc() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// `2026-11-24T19:47:00Z`: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_else(|_| String::from("invalid-time"))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `20261124T194700Z`: the artifact run-directory stamp.
pub fn stamp(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_else(|_| String::from("00000000T000000Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_match_the_design() {
        let t = datetime!(2026-11-24 19:47:05.123 UTC);
        assert_eq!(rfc3339(t), "2026-11-24T19:47:05Z");
        assert_eq!(stamp(t), "20261124T194705Z");
        let offset = datetime!(2026-11-24 20:47:05 +01:00);
        assert_eq!(stamp(offset), "20261124T194705Z");
        assert_eq!(parse_rfc3339("2026-11-24T19:47:05Z"), Some(datetime!(2026-11-24 19:47:05 UTC)));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
