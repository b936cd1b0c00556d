//! Civil UTC time at microsecond resolution and the observing night at Kiso.
//!
//! Times are [`UtcMicros`]: signed microseconds since 1970-01-01T00:00:00 UTC, ignoring leap
//! seconds (as POSIX time does). Microseconds are what the Tomo-e headers carry (`UTC`,
//! `GPS-UP`: `YYYY-MM-DDThh:mm:ss.ffffff`), and an `i64` holds ±292 000 years of them.
//!
//! # The observing night
//!
//! Kiso Observatory keeps Japan Standard Time (UTC+9, no daylight saving). An observing night
//! is named by the **local calendar date on which it begins**, and it runs from local noon to
//! the next local noon (12:00 JST = 03:00 UTC). So the night of an instant `t` is the UTC date
//! of `t − 3 h`. Example: 2023-01-02T09:48 UTC is 18:48 JST on 2023-01-02, night 2023-01-02;
//! 2023-01-02T20:00 UTC is 05:00 JST on 2023-01-03, still night 2023-01-02.

use std::fmt;

/// Microseconds per second.
pub const MICROS_PER_SEC: i64 = 1_000_000;
/// Microseconds per day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;
/// Modified Julian Date of the Unix epoch (1970-01-01).
pub const MJD_UNIX_EPOCH: f64 = 40_587.0;
/// Offset of the start of an observing night from 00:00 UTC of its date, in hours
/// (12:00 JST = 03:00 UTC).
pub const NIGHT_START_UTC_HOURS: i64 = 3;

/// Error from parsing a date or time string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date/time {text:?}: {reason}")]
pub struct TimeParseError {
    /// The text that failed to parse.
    pub text: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    /// Year (e.g. 2023).
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub day: u32,
}

impl CivilDate {
    /// Builds a date, checking month and day ranges (including leap years).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// Days since 1970-01-01 (negative before). Algorithm: H. Hinnant, "chrono-compatible
    /// low-level date algorithms" (days_from_civil).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Inverse of [`CivilDate::days_since_epoch`] (Hinnant's civil_from_days).
    pub fn from_days_since_epoch(z: i64) -> Self {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (y + i64::from(m <= 2)) as i32;
        Self {
            year,
            month: m,
            day: d,
        }
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD`.
    pub fn parse(text: &str) -> Result<Self, TimeParseError> {
        let err = |reason| TimeParseError {
            text: text.to_string(),
            reason,
        };
        let t = text.trim();
        let (y, m, d) = if t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
            (&t[0..4], &t[5..7], &t[8..10])
        } else if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
            (&t[0..4], &t[4..6], &t[6..8])
        } else {
            return Err(err("expected YYYY-MM-DD or YYYYMMDD"));
        };
        let num = |s: &str| -> Result<u32, TimeParseError> {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| err("not a number"))
            } else {
                Err(err("not a number"))
            }
        };
        let year = num(y)? as i32;
        Self::new(year, num(m)?, num(d)?).ok_or_else(|| err("month or day out of range"))
    }

    /// `YYYYMMDD` as written in Tomo-e Frame IDs.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// The previous calendar day.
    pub fn pred(self) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() - 1)
    }

    /// The next calendar day.
    pub fn succ(self) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() + 1)
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// True for Gregorian leap years.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in a month (1–12) of a year.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// An instant in UTC as microseconds since the Unix epoch (leap seconds ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcMicros(pub i64);

impl UtcMicros {
    /// The system clock now.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_micros() as i64)
    }

    /// Midnight UTC at the start of a date.
    pub fn from_date(date: CivilDate) -> Self {
        Self(date.days_since_epoch() * MICROS_PER_DAY)
    }

    /// Parses ISO 8601 `YYYY-MM-DDThh:mm:ss[.f…]` (a space may replace `T`; a trailing `Z` is
    /// accepted). Fractions beyond microseconds are rounded to the nearest microsecond.
    /// A date alone (`YYYY-MM-DD`) means midnight.
    pub fn parse_iso(text: &str) -> Result<Self, TimeParseError> {
        let err = |reason| TimeParseError {
            text: text.to_string(),
            reason,
        };
        let t = text.trim().trim_end_matches('Z');
        if t.len() == 10 {
            return Ok(Self::from_date(CivilDate::parse(t)?));
        }
        if t.len() < 19 {
            return Err(err("expected YYYY-MM-DDThh:mm:ss[.ffffff]"));
        }
        let sep = t.as_bytes()[10];
        if sep != b'T' && sep != b' ' {
            return Err(err("expected 'T' between date and time"));
        }
        let date = CivilDate::parse(&t[..10]).map_err(|_| err("bad date part"))?;
        let tod = parse_time_of_day(&t[11..]).ok_or_else(|| err("bad time part"))?;
        Ok(Self(Self::from_date(date).0 + tod))
    }

    /// Date and time-of-day parts (e.g. `DATE-OBS` + `TIME-OBS`).
    pub fn from_date_and_time(date: &str, time: &str) -> Result<Self, TimeParseError> {
        let d = CivilDate::parse(date)?;
        let tod = parse_time_of_day(time).ok_or_else(|| TimeParseError {
            text: time.to_string(),
            reason: "expected hh:mm:ss[.ffffff]",
        })?;
        Ok(Self(Self::from_date(d).0 + tod))
    }

    /// The UTC calendar date.
    pub fn date(self) -> CivilDate {
        CivilDate::from_days_since_epoch(self.0.div_euclid(MICROS_PER_DAY))
    }

    /// The observing night at Kiso this instant belongs to (see the module docs).
    pub fn observing_night(self) -> CivilDate {
        Self(self.0 - NIGHT_START_UTC_HOURS * 3600 * MICROS_PER_SEC).date()
    }

    /// Modified Julian Date (UTC), as `f64` days. Resolution ≈ 1 µs near the present.
    pub fn mjd(self) -> f64 {
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let rem = self.0.rem_euclid(MICROS_PER_DAY);
        MJD_UNIX_EPOCH + days as f64 + rem as f64 / MICROS_PER_DAY as f64
    }

    /// Seconds since the Unix epoch as `f64`.
    pub fn unix_seconds(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// Adds a duration in seconds (rounded to the nearest microsecond).
    pub fn add_seconds(self, seconds: f64) -> Self {
        Self(self.0 + (seconds * MICROS_PER_SEC as f64).round() as i64)
    }

    /// Julian epoch (e.g. 2016.0 for Gaia DR3), from MJD: 2000.0 + (MJD − 51544.5) / 365.25.
    pub fn julian_epoch(self) -> f64 {
        2000.0 + (self.mjd() - 51_544.5) / 365.25
    }

    /// ISO 8601 with microseconds, `YYYY-MM-DDThh:mm:ss.ffffff` (no zone suffix).
    pub fn to_iso(self) -> String {
        let date = self.date();
        let rem = self.0.rem_euclid(MICROS_PER_DAY);
        let secs = rem / MICROS_PER_SEC;
        let micros = rem % MICROS_PER_SEC;
        format!(
            "{}T{:02}:{:02}:{:02}.{:06}",
            date,
            secs / 3600,
            (secs / 60) % 60,
            secs % 60,
            micros
        )
    }
}

impl fmt::Display for UtcMicros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

/// Parses `hh:mm:ss[.f…]` into microseconds since midnight.
fn parse_time_of_day(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |s: &str| -> Option<i64> {
        if s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (h, m, s) = (two(&t[0..2])?, two(&t[3..5])?, two(&t[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut micros = 0i64;
    if b.len() > 8 {
        if b[8] != b'.' || b.len() == 9 {
            return None;
        }
        let frac = &t[9..];
        if !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // Round to microseconds: take 7 digits and round the last.
        let mut digits: Vec<i64> = frac.bytes().map(|c| i64::from(c - b'0')).collect();
        digits.resize(7.max(digits.len()), 0);
        let mut us = 0i64;
        for d in &digits[..6] {
            us = us * 10 + d;
        }
        if digits[6] >= 5 {
            us += 1;
        }
        micros = us;
    }
    Some(((h * 60 + m) * 60 + s) * MICROS_PER_SEC + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_roundtrip_and_known_values() {
        // 2000-01-01 is day 10957 since the epoch (well known: 946684800 s / 86400).
        let d = CivilDate::new(2000, 1, 1).unwrap();
        assert_eq!(d.days_since_epoch(), 10_957);
        for z in [-800_000i64, -1, 0, 1, 10_957, 19_359, 2_932_896] {
            assert_eq!(CivilDate::from_days_since_epoch(z).days_since_epoch(), z);
        }
        assert_eq!(
            CivilDate::from_days_since_epoch(0).to_string(),
            "1970-01-01"
        );
    }

    #[test]
    fn parse_tomoe_utc_and_mjd() {
        let t = UtcMicros::parse_iso("2023-01-02T09:48:14.665023").unwrap();
        assert_eq!(t.to_iso(), "2023-01-02T09:48:14.665023");
        // MJD of 2023-01-02 00:00 is 59946 (astropy: Time('2023-01-02').mjd).
        let day = UtcMicros::parse_iso("2023-01-02").unwrap();
        assert_eq!(day.mjd(), 59_946.0);
        // Unix time of 2023-01-02T09:48:14 is 1672652894 (date -u -d ... +%s).
        assert_eq!(t.0 / MICROS_PER_SEC, 1_672_652_894);
        assert_eq!(t.0 % MICROS_PER_SEC, 665_023);
    }

    #[test]
    fn fraction_rounding_and_errors() {
        let t = UtcMicros::parse_iso("2020-02-29T23:59:59.9999996").unwrap();
        assert_eq!(t.to_iso(), "2020-03-01T00:00:00.000000");
        assert!(UtcMicros::parse_iso("2023-02-29T00:00:00").is_err());
        assert!(UtcMicros::parse_iso("2023-01-02T25:00:00").is_err());
        assert!(UtcMicros::parse_iso("2023-01-02X09:00:00").is_err());
        assert!(UtcMicros::parse_iso("garbage").is_err());
        assert!(UtcMicros::parse_iso("2023-01-02T09:48:14.").is_err());
    }

    #[test]
    fn observing_night_boundary_is_local_noon() {
        let night = |s| {
            UtcMicros::parse_iso(s)
                .unwrap()
                .observing_night()
                .to_string()
        };
        assert_eq!(night("2023-01-02T09:48:14"), "2023-01-02"); // 18:48 JST
        assert_eq!(night("2023-01-02T20:00:00"), "2023-01-02"); // 05:00 JST next day
        assert_eq!(night("2023-01-03T02:59:59.999999"), "2023-01-02"); // 11:59:59 JST
        assert_eq!(night("2023-01-03T03:00:00"), "2023-01-03"); // 12:00 JST
        assert_eq!(night("2023-01-01T00:30:00"), "2022-12-31"); // year boundary
    }

    #[test]
    fn julian_epoch_of_j2000() {
        let t = UtcMicros::parse_iso("2000-01-01T12:00:00").unwrap();
        assert!((t.julian_epoch() - 2000.0).abs() < 1e-12);
    }
}
