//! Reading the times and dates a record carries as text (RFC 3339 times in UTC, `YYYY-MM-DD`
//! dates), with a fast path for the one shape every Verivali device and server writes.
//!
//! Why: chrono's serde reads a time through its general, format-driven parser. A visit carries
//! three times and a date per member, and a server decodes ten thousand visits in a large sync:
//! the parser was about a tenth of decoding a visit (`perf`, docs/benchmarks.md, eighth pass).
//!
//! The fast path takes `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 digits, and `Z` or
//! `+00:00`; a date takes exactly `YYYY-MM-DD`. Anything else (another offset, a space for the
//! `T`, a leap second, a malformed text) goes to chrono's own parser, so what is accepted, what
//! it means and every error are chrono's (`fast_path_agrees_with_chrono` checks the fast path
//! against it).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// `n` ASCII digits at the start of `b` as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD` exactly (a valid day of the calendar), else `None`.
fn fast_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    NaiveDate::from_ymd_opt(year as i32, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// The fast path of [`parse_utc`]; `None` for anything it does not take.
fn fast_utc(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = fast_date(&b[..10])?;
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&frac[..n])? * 10u32.pow(9 - n as u32);
        rest = &frac[n..];
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    // A second of 60 (a leap second) is chrono's to read.
    if sec > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// An RFC 3339 time as UTC, as chrono's `DateTime<Utc>` deserializer reads it.
pub fn parse_utc(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match fast_utc(s) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// A `YYYY-MM-DD` date, as chrono's `NaiveDate` deserializer reads it.
pub fn parse_date(s: &str) -> Result<NaiveDate, chrono::ParseError> {
    match fast_date(s.as_bytes()) {
        Some(d) => Ok(d),
        None => s.parse::<NaiveDate>(),
    }
}

struct UtcText;

impl Visitor<'_> for UtcText {
    type Value = DateTime<Utc>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_utc(v).map_err(E::custom)
    }
}

struct DateText;

impl Visitor<'_> for DateText {
    type Value = NaiveDate;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a formatted date string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_date(v).map_err(E::custom)
    }
}

/// `#[serde(deserialize_with = "time_text::utc")]` for a `DateTime<Utc>`.
pub fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(UtcText)
}

/// As [`utc`], for an `Option<DateTime<Utc>>` (`null` is `None`; the field also needs
/// `#[serde(default)]` to stay optional when absent).
pub fn utc_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "utc")] DateTime<Utc>);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// As [`utc_opt`], for an `Option<NaiveDate>`.
pub fn date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "date")] NaiveDate);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// `#[serde(deserialize_with = "time_text::date")]` for a `NaiveDate`.
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    d.deserialize_str(DateText)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike};
    use proptest::prelude::*;

    fn chrono_utc(s: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value::<DateTime<Utc>>(serde_json::Value::String(s.into())).ok()
    }

    fn chrono_date(s: &str) -> Option<NaiveDate> {
        serde_json::from_value::<NaiveDate>(serde_json::Value::String(s.into())).ok()
    }

    #[test]
    fn the_shapes_devices_write_take_the_fast_path() {
        for s in [
            "2026-12-06T02:42:33.040029390Z",
            "2026-12-06T02:42:33.040Z",
            "2026-12-06T02:42:33Z",
            "2026-02-28T23:59:59.5+00:00",
        ] {
            assert_eq!(fast_utc(s), chrono_utc(s), "{s}");
            assert!(fast_utc(s).is_some(), "{s}");
        }
        assert_eq!(
            fast_date(b"1985-08-14"),
            NaiveDate::from_ymd_opt(1985, 8, 14)
        );
    }

    #[test]
    fn everything_else_is_chronos_answer() {
        for s in [
            "2026-12-06T09:42:33+07:00",
            "2026-12-06 02:42:33Z",
            "2026-12-06t02:42:33z",
            "2016-12-31T23:59:60Z",
            "2026-02-30T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T02:42:33.Z",
            "2026-12-06T02:42:33.1234567891Z",
            "2026-12-06T02:42:33",
            "+2026-12-06T02:42:33Z",
            "",
        ] {
            assert_eq!(parse_utc(s).ok(), chrono_utc(s), "{s:?}");
        }
        for s in [
            "2026-02-30",
            "+2026-01-01",
            "2026-1-01",
            " 2026-01-01",
            "2026-01-01x",
            "",
        ] {
            assert_eq!(parse_date(s).ok(), chrono_date(s), "{s:?}");
        }
    }

    #[test]
    fn a_record_decodes_as_before_and_optional_times_stay_optional() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            #[serde(deserialize_with = "utc")]
            at: DateTime<Utc>,
            #[serde(default, deserialize_with = "utc_opt")]
            done: Option<DateTime<Utc>>,
            #[serde(default, deserialize_with = "date_opt")]
            born: Option<NaiveDate>,
        }
        let t: T = serde_json::from_str(r#"{"at":"2026-12-06T02:42:33Z"}"#).unwrap();
        assert_eq!((t.done, t.born), (None, None));
        let t: T = serde_json::from_str(
            r#"{"at":"2026-12-06T09:42:33+07:00","done":null,"born":"1985-08-14"}"#,
        )
        .unwrap();
        assert_eq!(t.at, Utc.with_ymd_and_hms(2026, 12, 6, 2, 42, 33).unwrap());
        assert_eq!(t.born, NaiveDate::from_ymd_opt(1985, 8, 14));
        let bad = serde_json::from_str::<T>(r#"{"at":"2026-12-06T02:42:33Z","born":"1985-02-30"}"#)
            .unwrap_err()
            .to_string();
        let chrono_said = serde_json::from_str::<NaiveDate>(r#""1985-02-30""#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            bad.split(" at line").next(),
            chrono_said.split(" at line").next()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_path_agrees_with_chrono(
            secs in -2_208_988_800i64..4_102_444_800i64,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..10,
            zulu in any::<bool>(),
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let frac = if digits == 0 {
                String::new()
            } else {
                format!(".{:09}", t.nanosecond())[..digits + 1].to_string()
            };
            let s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{}",
                t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second(),
                if zulu { "Z" } else { "+00:00" }
            );
            prop_assert!(fast_utc(&s).is_some());
            prop_assert_eq!(fast_utc(&s), chrono_utc(&s));
            let d = &s[..10];
            prop_assert_eq!(fast_date(d.as_bytes()), chrono_date(d));
        }

        /// A written time with one byte changed (or cut short) reads as chrono reads it: the
        /// fast path never takes a text chrono refuses or reads differently.
        #[test]
        fn a_damaged_time_reads_as_chrono_reads_it(
            secs in 0i64..4_102_444_800i64,
            at in 0usize..32,
            byte in prop::sample::select(b"0123456789T:Z+-. tz".to_vec()),
            cut in any::<bool>(),
        ) {
            let good = DateTime::from_timestamp(secs, 123_456_789).unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let mut b = good.into_bytes();
            let at = at % b.len();
            if cut { b.truncate(at) } else { b[at] = byte }
            let s = String::from_utf8(b).unwrap();
            prop_assert_eq!(parse_utc(&s).ok(), chrono_utc(&s));
            let d = s.get(..10).unwrap_or(&s);
            prop_assert_eq!(parse_date(d).ok(), chrono_date(d));
        }
    }
}
