//! The number conversions Sprig's math and list functions use
//! (`github.com/spf13/cast` as vendored by bao 2.7.2): anything that is not a
//! number becomes 0, never an error.

use crate::value::Value;

/// `cast.ToInt64` (also `cast.ToInt`: Go's `int` is 64 bits wide).
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => go_float_to_int(*f),
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) | Value::Number(s) => parse_int_base0(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(crate) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) | Value::Number(s) => parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `int64(f)` on amd64 (where bao runs): truncation, and the "integer
/// indefinite" value `math.MinInt64` for NaN and anything out of range.
pub(crate) fn go_float_to_int(f: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// cast's `trimZeroDecimal`: `"100.00"` -> `"100"`, anything else unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, c) in s.bytes().enumerate().rev() {
        match c {
            b'.' if found_zero => return &s[..i],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's underscore rule for number literals: only between digits, or
/// between a base prefix and a digit (`strconv.underscoreOK`).
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first().is_some_and(|c| *c == b'+' || *c == b'-') {
        i = 1;
    }
    // '^' start, '0' digit or prefix, '_' underscore, '!' other.
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= i + 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[i + 1] | 0x20 == b'x';
        i += 2;
        saw = b'0';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b`/`0` prefixes and
/// underscores as in Go literals.
pub(crate) fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.contains('_') && !underscores_ok(s) {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        (magnitude <= 1 << 63).then(|| (magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `strconv.ParseFloat(s, 64)` for decimal input (no hexadecimal floats); a
/// value out of range is an error, as in Go.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscores_ok(s) {
        return None;
    }
    let cleaned: String = s.chars().filter(|c| *c != '_').collect();
    let body = cleaned.trim_start_matches(['+', '-']);
    if body.len() + 1 < cleaned.len() {
        return None;
    }
    let named = matches!(
        body.to_ascii_lowercase().as_str(),
        "inf" | "infinity" | "nan"
    );
    if !named
        && !body
            .bytes()
            .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c))
    {
        return None;
    }
    let f: f64 = cleaned.parse().ok()?;
    (named || f.is_finite()).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_convert_like_cast() {
        let int = |s: &str| to_int64(&Value::str(s));
        assert_eq!(int("0x10"), 16);
        assert_eq!(int("010"), 8);
        assert_eq!(int("08"), 0);
        assert_eq!(int("1.0"), 1);
        assert_eq!(int("100.00"), 100);
        assert_eq!(int("1."), 0);
        assert_eq!(int("1_000"), 1000);
        assert_eq!(int("_1"), 0);
        assert_eq!(int("-0x10"), -16);
        assert_eq!(int(" 3"), 0);
        assert_eq!(int("9223372036854775808"), 0);
        assert_eq!(int("-9223372036854775808"), i64::MIN);
        let float = |s: &str| to_float64(&Value::str(s));
        assert_eq!(float("1e3"), 1000.0);
        assert_eq!(float("1_0"), 10.0);
        assert_eq!(float(" 1"), 0.0);
        assert_eq!(float("0x10"), 0.0);
        assert_eq!(float("1e400"), 0.0);
        assert!(float("-inf").is_infinite());
        assert_eq!(go_float_to_int(1e19), i64::MIN);
        assert_eq!(go_float_to_int(-2.9), -2);
    }
}
