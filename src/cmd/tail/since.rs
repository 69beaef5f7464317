//! `--since`: a point in time given as an age (`10m`), a Unix time in
//! milliseconds, or an RFC 3339 date and time.

/// Milliseconds since the Unix epoch that `text` names, `now_ms` being now.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(age_ms) = parse_age_ms(text) {
        return Ok(now_ms.saturating_sub(age_ms));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| format!("{text:?} is too large for a Unix time in milliseconds"));
    }
    parse_rfc3339_ms(text).ok_or_else(|| {
        format!(
            "--since {text:?}: give an age (`90s`, `10m`, `1h`, `2d`), a Unix time in milliseconds, \
             or an RFC 3339 time (`2026-01-31T09:30:00Z`)"
        )
    })
}

/// `500ms`, `90s`, `10m`, `1h`, `2d`.
fn parse_age_ms(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(unit_ms)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` or a space between
/// date and time (RFC 3339 section 5.6).
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first_three = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = first_three.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn ages_count_back_from_now() {
        assert_eq!(parse_since("10m", NOW_MS), Ok(NOW_MS - 600_000));
        assert_eq!(parse_since("1h", NOW_MS), Ok(NOW_MS - 3_600_000));
        assert_eq!(parse_since("2d", NOW_MS), Ok(NOW_MS - 172_800_000));
        assert_eq!(parse_since("90s", NOW_MS), Ok(NOW_MS - 90_000));
        assert_eq!(parse_since("250ms", NOW_MS), Ok(NOW_MS - 250));
    }

    #[test]
    fn unix_milliseconds_and_rfc3339_times_are_absolute() {
        assert_eq!(parse_since("1767225600123", NOW_MS), Ok(1_767_225_600_123));
        assert_eq!(parse_since("2026-01-01T00:00:00Z", 0), Ok(NOW_MS));
        assert_eq!(parse_since("2026-01-01 01:00:00.5+01:00", 0), Ok(NOW_MS + 500));
        assert_eq!(parse_since("1970-01-01T00:00:00.123456Z", 0), Ok(123));
        assert_eq!(parse_since("2024-02-29T12:00:00-00:30", 0), Ok(1_709_208_000_000 + 1_800_000));
    }

    #[test]
    fn anything_else_is_an_error_that_shows_the_forms() {
        for bad in ["", "10", "10 minutes", "5y", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "yesterday"] {
            let parsed = parse_since(bad, NOW_MS);
            // "10" is a Unix time in ms, valid by design.
            if bad == "10" {
                assert_eq!(parsed, Ok(10));
                continue;
            }
            let error = parsed.unwrap_err();
            assert!(error.contains("RFC 3339"), "{bad:?}: {error}");
        }
    }
}
