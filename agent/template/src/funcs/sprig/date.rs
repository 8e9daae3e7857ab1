//! Sprig's date functions (`date.go`). Times are Go `time.Time` values
//! ([`GoTime`]); `Local` is UTC; other zones come from the agent's zone
//! database ([`crate::Environment::zoneinfo`]).
//! A date argument that is neither a time nor an `int`/`int64` (Unix
//! seconds) means "now", as in Sprig.

use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_str};
use crate::gotime::{self, GoTime};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_now", |c| {
        nargs(c.name, &c.args, 0)?;
        Ok(Value::Time(GoTime::now()))
    }),
    def("sprig_date", |c| {
        nargs(c.name, &c.args, 2)?;
        let layout = want_str(&c.args[0])?;
        Ok(format_in(c, layout, &c.args[1], "Local"))
    }),
    def("sprig_dateInZone", date_in_zone),
    def("sprig_date_in_zone", date_in_zone),
    def("sprig_htmlDate", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(format_in(c, "2006-01-02", &c.args[0], "Local"))
    }),
    def("sprig_htmlDateInZone", |c| {
        nargs(c.name, &c.args, 2)?;
        let zone = want_str(&c.args[1])?;
        Ok(format_in(c, "2006-01-02", &c.args[0], zone))
    }),
    def("sprig_dateModify", |c| date_modify(c, false)),
    def("sprig_date_modify", |c| date_modify(c, false)),
    def("sprig_mustDateModify", |c| date_modify(c, true)),
    def("sprig_must_date_modify", |c| date_modify(c, true)),
    def("sprig_ago", ago),
    def("sprig_duration", duration),
    def("sprig_durationRound", duration_round),
    def("sprig_toDate", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Time(
            gotime::parse(a[0], a[1]).unwrap_or_else(|_| GoTime::zero()),
        ))
    }),
    def("sprig_mustToDate", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Time(gotime::parse(a[0], a[1])?))
    }),
    def("sprig_unixEpoch", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::str(&want_time(&c.args[0])?.unix.to_string()))
    }),
];

/// The value of a `time.Time` method without arguments (`.Unix`, `.Year`,
/// ...); `None` for any other name. `Month` and `Weekday` are their names.
pub(crate) fn time_method(t: &GoTime, name: &str) -> Option<Value> {
    let part = |layout: &str| Value::Int(gotime::format(t, layout).trim().parse().unwrap_or(0));
    Some(match name {
        "Unix" => Value::Int64(t.unix),
        "UnixMilli" => Value::Int64((t.unix_nanos() / 1_000_000) as i64),
        "UnixNano" => Value::Int64(t.unix_nanos() as i64),
        "Year" => part("2006"),
        "YearDay" => part("002"),
        "Day" => part("2"),
        "Hour" => part("15"),
        "Minute" => part("4"),
        "Second" => part("5"),
        "Nanosecond" => Value::Int(i64::from(t.nanos)),
        "Month" => Value::str(&gotime::format(t, "January")),
        "Weekday" => Value::str(&gotime::format(t, "Monday")),
        "IsZero" => Value::Bool(*t == GoTime::zero()),
        "UTC" | "Local" => Value::Time(t.in_zone("UTC", None)),
        "String" => Value::str(&t.string()),
        _ => return None,
    })
}

/// A Go `time.Time` parameter.
fn want_time(v: &Value) -> Result<&GoTime, String> {
    match v {
        Value::Time(t) => Ok(t),
        Value::Nil => Err("invalid value; expected time.Time".into()),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            other.type_name()
        )),
    }
}

/// Sprig's reading of a date argument.
fn as_time(v: &Value) -> GoTime {
    match v {
        Value::Time(t) => t.clone(),
        Value::Int(secs) | Value::Int64(secs) => GoTime::utc(*secs, 0),
        _ => GoTime::now(),
    }
}

/// DATE shown in ZONE (the agent supplies the zone database).
fn format_in(c: &Call<'_>, layout: &str, date: &Value, zone: &str) -> Value {
    let tzif = match zone {
        "" | "UTC" | "Local" => None,
        name => c.host.environment().zoneinfo(name),
    };
    Value::str(&gotime::format(
        &as_time(date).in_zone(zone, tzif.as_deref()),
        layout,
    ))
}

/// `dateInZone LAYOUT DATE ZONE`.
fn date_in_zone(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let layout = want_str(&c.args[0])?;
    let zone = want_str(&c.args[2])?;
    Ok(format_in(c, layout, &c.args[1], zone))
}

/// `dateModify DURATION DATE`: DATE moved by DURATION; an unparsable
/// duration leaves DATE as is (`must`: is an error).
fn date_modify(c: &mut Call<'_>, must: bool) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let spec = want_str(&c.args[0])?;
    let date = want_time(&c.args[1])?;
    match gotime::parse_duration(spec) {
        Ok(d) => Ok(Value::Time(date.add(d))),
        Err(e) if must => Err(e),
        Err(_) => Ok(Value::Time(date.clone())),
    }
}

/// Nanoseconds from `t` to now.
fn since(t: &GoTime) -> i64 {
    let d = GoTime::now().unix_nanos() - t.unix_nanos();
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `ago DATE`: the time since DATE, to the second.
fn ago(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let t = as_time(&c.args[0]);
    Ok(Value::str(&gotime::duration_string(
        gotime::round_duration(since(&t), 1_000_000_000),
    )))
}

/// `duration SECONDS`: a string (base 10) or an `int64`; anything else
/// (an `int` literal included) is 0.
fn duration(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let secs = match &c.args[0] {
        Value::Str(s) => s.parse::<i64>().unwrap_or(0),
        Value::Int64(n) => *n,
        _ => 0,
    };
    Ok(Value::str(&gotime::duration_string(
        secs.wrapping_mul(1_000_000_000),
    )))
}

/// `durationRound D`: the largest whole unit (y, mo, d, h, m, s) in D.
fn duration_round(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let d: i64 = match &c.args[0] {
        Value::Str(s) => gotime::parse_duration(s).unwrap_or(0),
        Value::Int64(n) => *n,
        Value::Time(t) => since(t),
        _ => 0,
    };
    const SECOND: u64 = 1_000_000_000;
    const UNITS: [(u64, &str); 6] = [
        (SECOND * 3600 * 24 * 365, "y"),
        (SECOND * 3600 * 24 * 30, "mo"),
        (SECOND * 3600 * 24, "d"),
        (SECOND * 3600, "h"),
        (SECOND * 60, "m"),
        (SECOND, "s"),
    ];
    let u = d.unsigned_abs();
    let text = UNITS
        .iter()
        .find(|(size, _)| u > *size)
        .map_or("0s".to_string(), |(size, unit)| {
            format!("{}{unit}", u / size)
        });
    Ok(Value::str(&text))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn dates_format_and_parse_like_go() {
        assert_eq!(
            render_text(r#"{{ $t := sprig_toDate "2006-01-02 15:04:05" "2024-03-10 08:09:10" }}{{ $t }} {{ sprig_unixEpoch $t }} {{ sprig_date "Jan 2, 2006 3:04PM" $t }} {{ sprig_dateInZone "15:04 MST" $t "Etc/GMT-2" }} {{ sprig_htmlDate 0 }}"#).unwrap(),
            "2024-03-10 08:09:10 +0000 UTC 1710058150 Mar 10, 2024 8:09AM 10:09 +02 1970-01-01"
        );
        assert_eq!(
            render_text(r#"{{ sprig_toDate "2006-01-02" "nope" }} {{ sprig_dateModify "1h30m" (sprig_toDate "2006-01-02" "2024-01-01") }} {{ sprig_dateModify "bad" (sprig_toDate "2006-01-02" "2024-01-01") | sprig_unixEpoch }}"#).unwrap(),
            "0001-01-01 00:00:00 +0000 UTC 2024-01-01 01:30:00 +0000 UTC 1704067200"
        );
        let err = render_text(r#"{{ sprig_mustToDate "2006-01-02" "2024-13-01" }}"#).unwrap_err();
        assert!(err.contains("month out of range"), "{err}");
    }

    #[test]
    fn durations_like_sprig() {
        assert_eq!(
            render_text(r#"{{ sprig_duration "95" }} {{ sprig_duration 95 }} {{ sprig_durationRound "2h10m" }} {{ sprig_durationRound "-800h" }} {{ sprig_durationRound "1s" }}"#).unwrap(),
            "1m35s 0s 2h 1mo 0s"
        );
        assert_eq!(render_text(r#"{{ sprig_ago (sprig_now) }}"#).unwrap(), "0s");
    }
}
