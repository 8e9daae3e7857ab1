//! Sprig's conversions: `atoi` (`strconv.Atoi`), `int int64 float64`
//! (spf13/cast 1.5.1, the version `bao` links; every failure is 0) and
//! `toDecimal` (the octal digits of `fmt.Sprint(v)`).

use crate::funcs::{Def, def, nargs, str_args};
use crate::value::{Value, fmt_v};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_atoi", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(Value::Int(atoi(s)))
    }),
    def("sprig_int", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Int(cast_int(&c.args[0])))
    }),
    def("sprig_int64", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Int64(cast_int(&c.args[0])))
    }),
    def("sprig_float64", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Float(cast_float(&c.args[0])))
    }),
    def("sprig_toDecimal", |c| {
        nargs(c.name, &c.args, 1)?;
        let mut text = String::new();
        fmt_v(&c.args[0], &mut text, true);
        Ok(Value::Int64(parse_go_int(&text, 8).unwrap_or(0)))
    }),
];

/// Go's `strconv.ParseInt(s, base, 64)`. Base 0 reads a `0x`, `0o`, `0b` or
/// `0` prefix and allows `_` between digits, as Go literals do.
pub(crate) fn parse_go_int(s: &str, base: u32) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if base != 0 {
        (base, lower.as_str())
    } else if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits = if base == 0 && digits.contains('_') {
        if !underscores_ok(&lower) {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if mag > 1 << 63 {
            return None;
        }
        Some((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).ok()
    }
}

/// `strconv.Atoi` with its error dropped, as Sprig does: a syntax error is
/// 0, a value out of range the nearest limit.
fn atoi(s: &str) -> i64 {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    parse_go_int(s, 10).unwrap_or(if s.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Go's `underscoreOK` for a lower-cased literal without its sign: each `_`
/// sits between digits, or between the base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    // The last character class: '^' start, '0' digit or prefix, '_', '!' other.
    let mut saw = '^';
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'o' | b'b') {
        i = 2;
        saw = '0';
        hex = b[1] == b'x';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&c)) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else if saw == '_' {
            return false;
        } else {
            saw = '!';
        }
    }
    saw != '_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (`_` separators, `inf`,
/// `nan`); out of range is a failure, as Go reports it.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = if s.contains('_') {
        let unsigned = s.trim_start_matches(['+', '-']);
        if !underscores_ok(&unsigned.to_ascii_lowercase()) {
            return None;
        }
        s.replace('_', "")
    } else {
        s.to_string()
    };
    let word = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if let Some(hex) = word.strip_prefix("0x") {
        let f = parse_hex_float(hex)?;
        return Some(if t.starts_with('-') { -f } else { f });
    }
    if matches!(word.as_str(), "inf" | "infinity" | "nan") {
        return t.parse().ok();
    }
    if !word.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(f)
}

/// A hexadecimal float's digits after `0x`: `h[.h]p[+-]d`, the binary
/// exponent required (Go's rule); out of range is a failure.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let shift = exp.checked_sub(4 * i32::try_from(frac.len()).ok()?)?;
    let f = value * 2f64.powi(shift);
    f.is_finite().then_some(f)
}

/// cast's `trimZeroDecimal`: "1.0" and "1.00" read as "1".
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (0..b.len()).rev() {
        match b[i] {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's conversion of a float to `int64` on amd64: out of range (and NaN)
/// gives the minimum value.
pub(crate) fn float_to_i64(f: f64) -> i64 {
    // 2^63: the first float above every int64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&f) {
        return i64::MIN;
    }
    f as i64
}

/// cast's `ToInt64`.
pub(crate) fn cast_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => float_to_i64(*f),
        Value::Str(s) | Value::Number(s) => parse_go_int(trim_zero_decimal(s), 0).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// cast's `ToFloat64`.
pub(crate) fn cast_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Str(s) | Value::Number(s) => parse_go_float(s).unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integer_syntax() {
        assert_eq!(parse_go_int("010", 0), Some(8));
        assert_eq!(parse_go_int("0x10", 0), Some(16));
        assert_eq!(parse_go_int("-0b11", 0), Some(-3));
        assert_eq!(parse_go_int("1_000", 0), Some(1000));
        assert_eq!(parse_go_int("1__0", 0), None);
        assert_eq!(parse_go_int("_1", 0), None);
        assert_eq!(parse_go_int("1_000", 10), None);
        assert_eq!(parse_go_int("0", 0), Some(0));
        assert_eq!(parse_go_int("-9223372036854775808", 10), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808", 10), None);
        assert_eq!(parse_go_int(" 5", 10), None);
        assert_eq!(parse_go_int("0777", 8), Some(511));
        assert_eq!(trim_zero_decimal("1.0"), "1");
        assert_eq!(trim_zero_decimal("1."), "1.");
        assert_eq!(trim_zero_decimal("10"), "10");
        assert_eq!(parse_go_float("1e400"), None);
        assert_eq!(parse_go_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_go_float("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(float_to_i64(1e19), i64::MIN);
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float("-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_go_float("0x10"), None);
    }

    #[test]
    fn strings_convert_like_cast() {
        let int = |s: &str| cast_int(&Value::str(s));
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
        let float = |s: &str| cast_float(&Value::str(s));
        assert_eq!(float("1e3"), 1000.0);
        assert_eq!(float("1_0"), 10.0);
        assert_eq!(float(" 1"), 0.0);
        assert_eq!(float("0x10"), 0.0);
        assert_eq!(float("1e400"), 0.0);
        assert!(float("-inf").is_infinite());
        assert_eq!(float_to_i64(1e19), i64::MIN);
        assert_eq!(float_to_i64(-2.9), -2);
    }
}
