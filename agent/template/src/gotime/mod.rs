//! Go's `time` package as templates see it: a `time.Time` value, layout
//! formatting and parsing ([`layout`]: `Format`, `ParseInLocation`), and
//! `Duration` parsing and printing ([`duration`]).
//!
//! Zones: `Local` is UTC (as in a container without `TZ`); a named zone is
//! read from TZif data the caller supplies, and without it only `UTC`,
//! `Local` and `Etc/GMT±N` are known; a time parsed with a numeric offset
//! keeps it.

use std::rc::Rc;

mod duration;
mod layout;

pub(crate) use duration::{duration_string, parse_duration, round_duration};
pub(crate) use layout::{format, parse};

/// A Go `time.Time`: an instant and the zone it is shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second, `0..1e9`.
    pub nanos: u32,
    /// Seconds east of UTC.
    pub offset: i32,
    /// The zone abbreviation (`UTC`, `MST`); empty for a bare offset.
    pub zone: Rc<str>,
}

/// Seconds from 0001-01-01 (Go's zero time) to the Unix epoch.
const ZERO_UNIX: i64 = -62_135_596_800;

impl GoTime {
    pub fn utc(unix: i64, nanos: u32) -> GoTime {
        GoTime {
            unix,
            nanos,
            offset: 0,
            zone: Rc::from("UTC"),
        }
    }

    /// `time.Time{}`.
    pub fn zero() -> GoTime {
        GoTime::utc(ZERO_UNIX, 0)
    }

    /// `time.Now()` (in `Local`, which is UTC here).
    pub fn now() -> GoTime {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        GoTime::utc(now.as_secs() as i64, now.subsec_nanos())
    }

    /// Nanoseconds since the epoch.
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.unix) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// `t.Add(d)` (same zone).
    pub fn add(&self, d: i64) -> GoTime {
        let n = self.unix_nanos() + i128::from(d);
        GoTime {
            unix: n.div_euclid(1_000_000_000) as i64,
            nanos: n.rem_euclid(1_000_000_000) as u32,
            ..self.clone()
        }
    }

    /// `t.In(zone)`: `tzif` is the zone's TZif data when the caller found
    /// it; without it only `UTC`, `Local` and `Etc/GMT±N` are known, and any
    /// other name gives UTC, as Sprig does when `LoadLocation` fails.
    pub fn in_zone(&self, name: &str, tzif: Option<&[u8]>) -> GoTime {
        let from_data = tzif.and_then(|data| {
            let tz = jiff::tz::TimeZone::tzif(name, data).ok()?;
            let ts = jiff::Timestamp::from_second(self.unix).ok()?;
            let info = tz.to_offset_info(ts);
            Some((info.offset().seconds(), info.abbreviation().to_string()))
        });
        let (offset, zone) = match from_data {
            Some(found) if !matches!(name, "" | "UTC" | "Local") => found,
            _ => load_location(name),
        };
        GoTime {
            offset,
            zone: Rc::from(zone.as_str()),
            ..self.clone()
        }
    }

    /// `time.RFC3339Nano`, as Go's encoders write a time.
    pub fn rfc3339_nano(&self) -> String {
        format(self, "2006-01-02T15:04:05.999999999Z07:00")
    }

    /// What `%v` prints: `2006-01-02 15:04:05.999999999 -0700 MST`.
    pub fn string(&self) -> String {
        format(self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }
}

/// The offset and abbreviation of a zone name.
fn load_location(name: &str) -> (i32, String) {
    if let Some(hours) = name.strip_prefix("Etc/GMT") {
        if hours.is_empty() {
            return (0, "GMT".into());
        }
        if let Ok(h) = hours.parse::<i32>()
            && (-14..=12).contains(&h)
            && (hours.starts_with(['+', '-']) || h == 0)
        {
            let abbrev = if h == 0 {
                "GMT".to_string()
            } else {
                format!("{}{:02}", if h > 0 { '-' } else { '+' }, h.abs())
            };
            return (-h * 3600, abbrev);
        }
    }
    (0, "UTC".into())
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// (year, month 1-12, day) of days since the Unix epoch.
pub(super) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since the Unix epoch of a civil date (month may be out of range
/// only by the caller's validation).
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(super) fn days_in(m: u32, y: i64) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
