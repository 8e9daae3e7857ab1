//! Durations written the Go way.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written the Go way (`"5m"`, `"1h30m"`, `"250ms"`) or as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Parses Go's `time.ParseDuration` syntax, plus a bare number meaning seconds (as Vault's
    /// config parser accepts).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let bad = || DurationError(text.to_owned());
        let s = text.trim();
        if s.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(GoDuration(Duration::from_secs(secs)));
        }
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        let mut rest = s.strip_prefix('+').unwrap_or(s);
        let mut total = 0f64;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if number_len == 0 {
                return Err(bad());
            }
            let value: f64 = rest[..number_len].parse().map_err(|_| bad())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let nanos_per_unit = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad()),
            };
            total += value * nanos_per_unit;
            rest = &rest[unit_len..];
        }
        Ok(GoDuration(Duration::from_nanos(total.round() as u64)))
    }
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `Duration.String()` for whole units: `1h30m0s`, `5m0s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let nanos = d.as_nanos();
            return if nanos.is_multiple_of(1_000_000) {
                write!(f, "{}ms", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                write!(f, "{}µs", nanos / 1_000)
            } else {
                write!(f, "{nanos}ns")
            };
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let frac = d.subsec_nanos();
        let seconds = if frac == 0 {
            format!("{s}s")
        } else {
            let digits = format!("{frac:09}");
            format!("{s}.{}s", digits.trim_end_matches('0'))
        };
        match (h, m) {
            (0, 0) => f.write_str(&seconds),
            (0, m) => write!(f, "{m}m{seconds}"),
            (h, m) => write!(f, "{h}h{m}m{seconds}"),
        }
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => GoDuration::parse(&s).map_err(de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|secs| GoDuration(Duration::from_secs(secs)))
                .ok_or_else(|| de::Error::custom(format!("{n} is not a whole number of seconds"))),
            other => Err(de::Error::custom(format!(
                "expected a duration such as \"5m\", found {other}"
            ))),
        }
    }
}

/// A duration string that is not Go syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration (expected e.g. \"30s\", \"5m\", \"1h30m\")")]
pub struct DurationError(pub String);
