//! Sprig's string functions (`strings.go` and the string entries of
//! `functions.go`), and its string-slice ones (`split splitList splitn join
//! sortAlpha toStrings`).
//!
//! Go strings are bytes: `trunc` and `substr` count bytes, and a cut inside a
//! UTF-8 sequence comes out lossy here where Go would keep the broken bytes.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::strval;
use crate::builtins::{go_split, simple_case};
use crate::funcs::consul::strings as consul;
use crate::funcs::{Call, Def, FResult, def, nargs, str_args, variadic_strs, want_int, want_str};
use crate::gofmt::go_quote;
use crate::limits::{MAX_OUTPUT, check_growth};
use crate::value::{Value, fmt_v};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_upper", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            true,
        )))
    }),
    def("sprig_lower", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            false,
        )))
    }),
    def("sprig_repeat", repeat),
    def("sprig_toString", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::str(&strval(&c.args[0])))
    }),
    def("sprig_trim", |c| {
        Ok(Value::str(str_args(c.name, &c.args, 1)?[0].trim()))
    }),
    // Same arguments and behaviour as consul-template's functions.
    def("sprig_trimAll", consul::trim),
    def("sprig_trimall", consul::trim),
    def("sprig_trimPrefix", consul::trim_prefix),
    def("sprig_trimSuffix", consul::trim_suffix),
    def("sprig_trunc", trunc),
    def("sprig_substr", substr),
    def("sprig_contains", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Bool(a[1].contains(a[0])))
    }),
    def("sprig_hasPrefix", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Bool(a[1].starts_with(a[0])))
    }),
    def("sprig_hasSuffix", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::Bool(a[1].ends_with(a[0])))
    }),
    def("sprig_quote", |c| {
        Ok(Value::str(&quote_each(&c.args, go_quote)))
    }),
    def("sprig_squote", |c| {
        Ok(Value::str(&quote_each(&c.args, |s| format!("'{s}'"))))
    }),
    def("sprig_cat", cat),
    def("sprig_indent", |c| indent(c, "")),
    def("sprig_nindent", |c| indent(c, "\n")),
    def("sprig_replace", consul::replace_all),
    def("sprig_plural", plural),
    def("sprig_split", split_map),
    def("sprig_splitn", splitn),
    def("sprig_splitList", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::strings(go_split(a[1], a[0])))
    }),
    def("sprig_join", |c| {
        nargs(c.name, &c.args, 2)?;
        let sep = want_str(&c.args[0])?;
        Ok(Value::str(&to_strings(&c.args[1]).join(sep)))
    }),
    def("sprig_sortAlpha", sort_alpha),
    def("sprig_toStrings", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(match &c.args[0] {
            // A `[]string` is returned as it is, nil included.
            v @ Value::Strings(_) => v.clone(),
            v => Value::strings(to_strings(v)),
        })
    }),
];

/// `repeat COUNT STR` (`strings.Repeat`, whose panic on a negative count Go's
/// template engine reports as the call's error).
fn repeat(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let count = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if (count as usize).saturating_mul(s.len()) > MAX_OUTPUT {
        return Err("result exceeds 64 MiB".into());
    }
    Ok(Value::str(&s.repeat(count as usize)))
}

/// The bytes `from..to` of `s`, lossy where the cut splits a character.
fn bytes_of(s: &str, from: usize, to: usize) -> Value {
    match s.get(from..to) {
        Some(t) => Value::str(t),
        None => Value::str(&String::from_utf8_lossy(&s.as_bytes()[from..to])),
    }
}

/// `trunc N STR`: the first N bytes, or the last -N.
fn trunc(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let n = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    let len = s.len() as i64;
    Ok(if n < 0 && len + n > 0 {
        bytes_of(s, (len + n) as usize, s.len())
    } else if n >= 0 && len > n {
        bytes_of(s, 0, n as usize)
    } else {
        Value::str(s)
    })
}

/// `substr START END STR`, with Go's slice panics as the call's error.
fn substr(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let start = want_int(&c.args[0])?;
    let end = want_int(&c.args[1])?;
    let s = want_str(&c.args[2])?;
    let len = s.len() as i64;
    let (from, to) = if start < 0 {
        if end < 0 {
            return Err(format!("runtime error: slice bounds out of range [:{end}]"));
        }
        if end > len {
            return Err(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            ));
        }
        (0, end)
    } else if end < 0 || end > len {
        if start > len {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{len}]"
            ));
        }
        (start, len)
    } else {
        if start > end {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{end}]"
            ));
        }
        (start, end)
    };
    Ok(bytes_of(s, from as usize, to as usize))
}

/// `quote`/`squote`: each non-nil argument as `strval`, quoted, joined by spaces.
fn quote_each(args: &[Value], quote: impl Fn(&str) -> String) -> String {
    let parts: Vec<String> = args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| quote(&strval(v)))
        .collect();
    parts.join(" ")
}

/// `cat ARGS...`: the non-nil arguments printed with `%v`, space-separated.
fn cat(c: &mut Call<'_>) -> FResult {
    let mut out = String::new();
    for (i, v) in c
        .args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        fmt_v(v, &mut out, true);
    }
    Ok(Value::str(&out))
}

/// `indent N STR` / `nindent N STR`: every line prefixed with N spaces
/// (empty lines too, unlike consul-template's `indent`).
fn indent(c: &mut Call<'_>, before: &str) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let n = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let lines = s.matches('\n').count() + 1;
    check_growth(s.len(), lines, n as usize)?;
    let pad = " ".repeat(n as usize);
    Ok(Value::str(&format!(
        "{before}{pad}{}",
        s.replace('\n', &format!("\n{pad}"))
    )))
}

/// `plural ONE MANY COUNT`.
fn plural(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let words = variadic_strs(&c.args[..2])?;
    let n = want_int(&c.args[2])?;
    Ok(Value::str(if n == 1 { words[0] } else { words[1] }))
}

/// The parts of a split as Sprig's map: `_0`, `_1`, ... (printed in string
/// order: `_10` before `_2`).
fn parts_map(parts: Vec<String>) -> Value {
    let m: BTreeMap<String, String> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), p))
        .collect();
    Value::StrMap(Rc::new(m))
}

/// `split SEP STR`.
fn split_map(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    Ok(parts_map(go_split(a[1], a[0])))
}

/// `splitn SEP N STR` (`strings.SplitN`).
fn splitn(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let sep = want_str(&c.args[0])?;
    let n = want_int(&c.args[1])?;
    let s = want_str(&c.args[2])?;
    Ok(parts_map(go_split_n(s, sep, n)))
}

/// Go's `strings.SplitN`: at most `n` parts (all when negative, none at 0).
pub(crate) fn go_split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n < 0 {
        return go_split(s, sep);
    }
    let n = n as usize;
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        let mut rest = s;
        while parts.len() + 1 < n {
            let Some(ch) = rest.chars().next() else { break };
            parts.push(ch.to_string());
            rest = &rest[ch.len_utf8()..];
        }
        if !rest.is_empty() {
            parts.push(rest.to_string());
        }
        return parts;
    }
    s.splitn(n, sep).map(str::to_string).collect()
}

/// Sprig's `strslice`: a `[]string` as it is, the non-nil elements of a list
/// as `strval`, nil as no strings, anything else as one string.
pub(crate) fn to_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Strings(l) => l.as_ref().map(|l| l.as_ref().clone()).unwrap_or_default(),
        Value::List(l) => l
            .iter()
            .filter(|e| !matches!(e, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// `sortAlpha LIST`: a list's strings sorted; anything else as one string.
fn sort_alpha(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let mut l = match &c.args[0] {
        v @ (Value::List(_) | Value::Strings(_)) => to_strings(v),
        other => vec![strval(other)],
    };
    l.sort_unstable();
    Ok(Value::strings(l))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn case_maps_one_character_to_one_like_go() {
        assert_eq!(
            render_text(r#"{{ "straße ǆ" | sprig_upper }}"#).unwrap(),
            "STRAßE Ǆ"
        );
        assert_eq!(
            render_text(r#"{{ "İSTANBUL" | sprig_lower }}"#).unwrap(),
            "istanbul"
        );
    }

    #[test]
    fn repeat_takes_an_int_count_and_refuses_a_negative_one() {
        assert_eq!(
            render_text(r#"{{ sprig_repeat 3 "ab" }}"#).unwrap(),
            "ababab"
        );
        let err = render_text(r#"{{ sprig_repeat -1 "x" }}"#).unwrap_err();
        assert!(
            err.contains("error calling sprig_repeat: strings: negative Repeat count"),
            "{err}"
        );
        let err = render_text(r#"{{ sprig_repeat "3" "x" }}"#).unwrap_err();
        assert!(err.contains("expected int; got string"), "{err}");
    }

    #[test]
    fn to_string_prints_like_fmt_v() {
        assert_eq!(
            render_text(r#"{{ sprig_toString 1.5 }} {{ sprig_toString nil }} {{ sprig_toString (split "," "a,b") }}"#)
                .unwrap(),
            "1.5 <nil> [a b]"
        );
    }
}
