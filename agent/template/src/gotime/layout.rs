//! Go layouts: `Time.Format` and `time.ParseInLocation`.

use std::rc::Rc;

use super::{GoTime, MONTHS, WEEKDAYS, civil, days_from_civil, days_in, is_leap};

/// One element of a Go layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// A numeric offset: ISO (`Z` for UTC), with colons, with seconds, hours only.
    Offset {
        iso: bool,
        colon: bool,
        seconds: bool,
        hours_only: bool,
    },
    /// `.000` (fixed, `zeros`) or `.999` (trimmed) with `digits` digits.
    Frac {
        sep: u8,
        digits: usize,
        fixed: bool,
    },
}

/// Go's `nextStdChunk`: the literal text before the next element, the
/// element, and the rest of the layout.
fn next_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let has = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if has(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if has(i, "Jan") => Some((Std::Month, 3)),
            b'M' if has(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if has(i, "Mon") => Some((Std::WeekDay, 3)),
            b'M' if has(i, "MST") => Some((Std::Tz, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(b[i + 1] - b'1') as usize],
                2,
            )),
            b'0' if has(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if has(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if has(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if has(i, "_2") && !has(i, "_2006") => Some((Std::UnderDay, 2)),
            b'_' if has(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if has(i, "PM") => Some((Std::PM, 2)),
            b'p' if has(i, "pm") => Some((Std::Pm, 2)),
            c @ (b'-' | b'Z') => {
                let iso = c == b'Z';
                let offs = |colon, seconds, hours_only| Std::Offset {
                    iso,
                    colon,
                    seconds,
                    hours_only,
                };
                let p = if iso { "Z" } else { "-" };
                [
                    ("070000", offs(false, true, false)),
                    ("07:00:00", offs(true, true, false)),
                    ("0700", offs(false, false, false)),
                    ("07:00", offs(true, false, false)),
                    ("07", offs(false, false, true)),
                ]
                .into_iter()
                .find(|(s, _)| has(i, &format!("{p}{s}")))
                .map(|(s, std)| (std, s.len() + 1))
            }
            sep @ (b'.' | b',') if i + 1 < b.len() && matches!(b[i + 1], b'0' | b'9') => {
                let digit = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == digit {
                    j += 1;
                }
                (!(j < b.len() && b[j].is_ascii_digit())).then_some((
                    Std::Frac {
                        sep,
                        digits: j - i - 1,
                        fixed: digit == b'0',
                    },
                    j - i,
                ))
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

/// `t.Format(layout)`.
pub(crate) fn format(t: &GoTime, layout: &str) -> String {
    let local = t.unix + i64::from(t.offset);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let (hour, min, sec) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (literal, std, after) = next_chunk(rest);
        out.push_str(literal);
        rest = after;
        let Some(std) = std else { break };
        match std {
            Std::LongMonth => out.push_str(month_name),
            Std::Month => out.push_str(&month_name[..3]),
            Std::NumMonth => out.push_str(&month.to_string()),
            Std::ZeroMonth => out.push_str(&format!("{month:02}")),
            Std::LongWeekDay => out.push_str(weekday),
            Std::WeekDay => out.push_str(&weekday[..3]),
            Std::Day => out.push_str(&day.to_string()),
            Std::UnderDay => out.push_str(&format!("{day:>2}")),
            Std::ZeroDay => out.push_str(&format!("{day:02}")),
            Std::UnderYearDay => out.push_str(&format!("{yday:>3}")),
            Std::ZeroYearDay => out.push_str(&format!("{yday:03}")),
            Std::Hour => out.push_str(&format!("{hour:02}")),
            Std::Hour12 => out.push_str(&hour12.to_string()),
            Std::ZeroHour12 => out.push_str(&format!("{hour12:02}")),
            Std::Minute => out.push_str(&min.to_string()),
            Std::ZeroMinute => out.push_str(&format!("{min:02}")),
            Std::Second => out.push_str(&sec.to_string()),
            Std::ZeroSecond => out.push_str(&format!("{sec:02}")),
            Std::LongYear if year < 0 => out.push_str(&format!("-{:04}", -year)),
            Std::LongYear => out.push_str(&format!("{year:04}")),
            Std::Year => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Std::PM => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::Tz if !t.zone.is_empty() => out.push_str(&t.zone),
            Std::Tz => push_offset(&mut out, t.offset, false, false, false),
            Std::Offset { iso: true, .. } if t.offset == 0 => out.push('Z'),
            Std::Offset {
                colon,
                seconds,
                hours_only,
                ..
            } => push_offset(&mut out, t.offset, colon, seconds, hours_only),
            Std::Frac { sep, digits, fixed } => {
                let all = format!("{:09}", t.nanos);
                let shown = &all[..digits.min(9)];
                let shown = if fixed {
                    shown
                } else {
                    shown.trim_end_matches('0')
                };
                if !shown.is_empty() {
                    out.push(sep as char);
                    out.push_str(shown);
                }
            }
        }
    }
    out
}

fn push_offset(out: &mut String, offset: i32, colon: bool, seconds: bool, hours_only: bool) {
    let abs = offset.unsigned_abs();
    out.push(if offset < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", abs / 3600));
    if !hours_only {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs / 60 % 60));
    }
    if seconds {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs % 60));
    }
}

/// `time.ParseInLocation(layout, value, time.Local)`, with Go's error text.
pub(crate) fn parse(layout: &str, value: &str) -> Result<GoTime, String> {
    let bad = |rest: &str, elem: &str| {
        format!("parsing time {value:?} as {layout:?}: cannot parse {rest:?} as {elem:?}")
    };
    let (mut year, mut month, mut day) = (0i64, 1u32, 1u32);
    let (mut hour, mut min, mut sec, mut nanos) = (0i64, 0i64, 0i64, 0u32);
    let (mut pm, mut am) = (false, false);
    let mut offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let mut yday: Option<i64> = None;
    let mut l = layout;
    let mut v = value;
    loop {
        let (literal, std, after) = next_chunk(l);
        let elem = &l[literal.len()..l.len() - after.len()];
        v = v.strip_prefix(literal).ok_or_else(|| bad(v, literal))?;
        l = after;
        let Some(std) = std else {
            if !v.is_empty() {
                return Err(format!("parsing time {value:?}: extra text: {v:?}"));
            }
            break;
        };
        let here = v;
        let fail = || bad(here, elem);
        match std {
            Std::Year => {
                let n = fixed_digits(&mut v, 2).ok_or_else(fail)?;
                year = if n >= 69 { 1900 + n } else { 2000 + n };
            }
            Std::LongYear => year = fixed_digits(&mut v, 4).ok_or_else(fail)?,
            Std::Month | Std::LongMonth => {
                let names = MONTHS.map(|m| if std == Std::Month { &m[..3] } else { m });
                let i = lookup_name(&mut v, &names).ok_or_else(fail)?;
                month = i as u32 + 1;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let n = number(&mut v, std == Std::ZeroMonth).ok_or_else(fail)?;
                if !(1..=12).contains(&n) {
                    return Err(format!("parsing time {value:?}: month out of range"));
                }
                month = n as u32;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let names = WEEKDAYS.map(|d| if std == Std::WeekDay { &d[..3] } else { d });
                lookup_name(&mut v, &names).ok_or_else(fail)?;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay {
                    v = v.strip_prefix(' ').unwrap_or(v);
                }
                let n = number(&mut v, std == Std::ZeroDay).ok_or_else(fail)?;
                day = n as u32;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                if std == Std::UnderYearDay {
                    v = v.trim_start_matches(' ');
                }
                yday = Some(fixed_digits(&mut v, 3).ok_or_else(fail)?);
            }
            Std::Hour => {
                hour = number(&mut v, false).ok_or_else(fail)?;
                if hour > 23 {
                    return Err(format!("parsing time {value:?}: hour out of range"));
                }
            }
            Std::Hour12 | Std::ZeroHour12 => {
                hour = number(&mut v, std == Std::ZeroHour12).ok_or_else(fail)?;
                if hour > 12 {
                    return Err(format!("parsing time {value:?}: hour out of range"));
                }
            }
            Std::Minute | Std::ZeroMinute => {
                min = number(&mut v, std == Std::ZeroMinute).ok_or_else(fail)?;
                if min > 59 {
                    return Err(format!("parsing time {value:?}: minute out of range"));
                }
            }
            Std::Second | Std::ZeroSecond => {
                sec = number(&mut v, std == Std::ZeroSecond).ok_or_else(fail)?;
                if sec > 59 {
                    return Err(format!("parsing time {value:?}: second out of range"));
                }
                // A fraction the layout does not mention is taken anyway.
                let layout_has_frac = matches!(next_chunk(l), ("", Some(Std::Frac { .. }), _));
                let b = v.as_bytes();
                if !layout_has_frac
                    && b.len() > 1
                    && matches!(b[0], b'.' | b',')
                    && b[1].is_ascii_digit()
                {
                    nanos = fraction(&mut v);
                }
            }
            Std::PM | Std::Pm => {
                let (p, a) = if std == Std::PM {
                    ("PM", "AM")
                } else {
                    ("pm", "am")
                };
                if let Some(r) = v.strip_prefix(p) {
                    pm = true;
                    v = r;
                } else if let Some(r) = v.strip_prefix(a) {
                    am = true;
                    v = r;
                } else {
                    return Err(fail());
                }
            }
            Std::Offset {
                iso,
                colon,
                seconds,
                hours_only,
            } => {
                if iso && v.starts_with('Z') {
                    v = &v[1..];
                    zone_name = Some("UTC".into());
                    continue;
                }
                let sign = match v.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(fail()),
                };
                v = &v[1..];
                let hh = fixed_digits(&mut v, 2).ok_or_else(fail)?;
                let mut mm = 0;
                let mut ss = 0;
                if !hours_only {
                    if colon {
                        v = v.strip_prefix(':').ok_or_else(fail)?;
                    }
                    mm = fixed_digits(&mut v, 2).ok_or_else(fail)?;
                }
                if seconds {
                    if colon {
                        v = v.strip_prefix(':').ok_or_else(fail)?;
                    }
                    ss = fixed_digits(&mut v, 2).ok_or_else(fail)?;
                }
                offset = Some(sign * (hh * 3600 + mm * 60 + ss) as i32);
            }
            Std::Tz => {
                if let Some(r) = v.strip_prefix("UTC") {
                    v = r;
                    zone_name = Some("UTC".into());
                    continue;
                }
                let n = v.bytes().take_while(|c| c.is_ascii_uppercase()).count();
                if !(3..=5).contains(&n) {
                    return Err(fail());
                }
                zone_name = Some(v[..n].to_string());
                v = &v[n..];
            }
            Std::Frac { digits, fixed, .. } => {
                let b = v.as_bytes();
                if fixed {
                    if b.len() < digits + 1
                        || !matches!(b[0], b'.' | b',')
                        || !b[1..=digits].iter().all(u8::is_ascii_digit)
                    {
                        return Err(fail());
                    }
                    let (frac, r) = v.split_at(digits + 1);
                    let mut frac_v = frac;
                    nanos = fraction(&mut frac_v);
                    v = r;
                } else if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    nanos = fraction(&mut v);
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if let Some(yd) = yday {
        let d = days_from_civil(year, 1, 1) + yd - 1;
        if yd < 1 || yd > 365 + i64::from(is_leap(year)) {
            return Err(format!("parsing time {value:?}: day-of-year out of range"));
        }
        let (_, m, dd) = civil(d);
        month = m;
        day = dd;
    }
    if day < 1 || day > days_in(month, year) {
        return Err(format!("parsing time {value:?}: day out of range"));
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    let mut t = GoTime::utc(local, nanos);
    match (offset, zone_name) {
        (Some(off), _) => {
            t.unix -= i64::from(off);
            if off != 0 {
                t.offset = off;
                t.zone = Rc::from("");
            }
        }
        (None, Some(name)) if name != "UTC" => {
            let off = name
                .strip_prefix("GMT")
                .and_then(|h| h.parse::<i32>().ok())
                .map_or(0, |h| h * 3600);
            t.zone = Rc::from(name.as_str());
            t.offset = off;
        }
        _ => {}
    }
    Ok(t)
}

/// Exactly `n` digits.
fn fixed_digits(v: &mut &str, n: usize) -> Option<i64> {
    let b = v.as_bytes();
    if b.len() < n || !b[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let x = v[..n].parse().ok()?;
    *v = &v[n..];
    Some(x)
}

/// Go's `getnum`: one or two digits (`fixed`: exactly two).
fn number(v: &mut &str, fixed: bool) -> Option<i64> {
    let b = v.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        let x = i64::from(b[0] - b'0');
        *v = &v[1..];
        return Some(x);
    }
    let x = i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0');
    *v = &v[2..];
    Some(x)
}

/// A separator and digits, as nanoseconds (digits past nine are dropped).
fn fraction(v: &mut &str) -> u32 {
    let digits: String = v[1..].chars().take_while(char::is_ascii_digit).collect();
    *v = &v[1 + digits.len()..];
    let mut padded: String = digits.chars().take(9).collect();
    while padded.len() < 9 {
        padded.push('0');
    }
    padded.parse().unwrap_or(0)
}

/// Case-insensitive match of one of `names` at the start of `v`.
fn lookup_name(v: &mut &str, names: &[&str]) -> Option<usize> {
    for (i, name) in names.iter().enumerate() {
        if v.len() >= name.len()
            && v.is_char_boundary(name.len())
            && v[..name.len()].eq_ignore_ascii_case(name)
        {
            *v = &v[name.len()..];
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let t = parse("2006-01-02 15:04:05 -0700", "2024-02-29 13:04:05 +0200").unwrap();
        assert_eq!(t.string(), "2024-02-29 13:04:05 +0200 +0200");
        assert_eq!(
            format(&t, "Mon Jan _2 3:4:5 PM 06 .000 Z07:00 002 January Monday"),
            "Thu Feb 29 1:4:5 PM 24 .000 +02:00 060 February Thursday"
        );
        assert_eq!(GoTime::zero().string(), "0001-01-01 00:00:00 +0000 UTC");
    }
}
