//! consul-template's string functions.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::builtins::{go_split, indent, simple_case, to_title};
use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_str, want_strings};
use crate::goregex;
use crate::limits::{MAX_OUTPUT, check_growth};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("split", split),
    def("splitToMap", split_to_map),
    def("join", join),
    def("trimSpace", |c| {
        Ok(Value::str(str_args(c.name, &c.args, 1)?[0].trim()))
    }),
    def("trim", trim),
    def("trimPrefix", trim_prefix),
    def("trimSuffix", trim_suffix),
    def("toLower", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            false,
        )))
    }),
    def("toUpper", |c| {
        Ok(Value::str(&simple_case(
            str_args(c.name, &c.args, 1)?[0],
            true,
        )))
    }),
    def("toTitle", |c| {
        Ok(Value::str(&to_title(str_args(c.name, &c.args, 1)?[0])))
    }),
    def("replaceAll", replace_all),
    def("regexMatch", regex_match),
    def("regexReplaceAll", regex_replace_all),
    def("indent", indent_fn),
];

fn split(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    let s = a[1].trim();
    if s.is_empty() {
        return Ok(Value::strings(Vec::new()));
    }
    Ok(Value::strings(go_split(s, a[0])))
}

fn split_to_map(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 3)?;
    let s = a[2].trim();
    let mut m = BTreeMap::new();
    if !s.is_empty() {
        for part in go_split(s, a[0]) {
            if let Some((k, v)) = part.split_once(a[1]).filter(|_| !a[1].is_empty()) {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(Value::StrMap(Rc::new(m)))
}

fn join(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let sep = want_str(&c.args[0])?;
    Ok(Value::str(&want_strings(&c.args[1])?.join(sep)))
}

/// `trim CUTSET STR` (`strings.Trim`; Sprig's `trimAll` too).
pub(crate) fn trim(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    Ok(Value::str(a[1].trim_matches(|ch| a[0].contains(ch))))
}

/// `trimPrefix PREFIX STR` (Sprig's too).
pub(crate) fn trim_prefix(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    Ok(Value::str(a[1].strip_prefix(a[0]).unwrap_or(a[1])))
}

/// `trimSuffix SUFFIX STR` (Sprig's too).
pub(crate) fn trim_suffix(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    Ok(Value::str(a[1].strip_suffix(a[0]).unwrap_or(a[1])))
}

/// `replaceAll OLD NEW STR` (Sprig's `replace` too).
pub(crate) fn replace_all(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 3)?;
    let hits = if a[0].is_empty() {
        a[2].chars().count() + 1
    } else {
        a[2].matches(a[0]).count()
    };
    check_growth(a[2].len(), hits, a[1].len())?;
    Ok(Value::str(&a[2].replace(a[0], a[1])))
}

fn regex_match(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    let re = goregex::compile(a[0])?;
    Ok(Value::Bool(re.is_match(a[1])))
}

fn regex_replace_all(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 3)?;
    let re = goregex::compile(a[0])?;
    // `$1` expansions copy at most the whole input per match.
    let per_hit = if a[1].contains('$') {
        a[1].len() + a[2].len()
    } else {
        a[1].len()
    };
    check_growth(a[2].len(), re.find_iter(a[2]).count(), per_hit)?;
    Ok(Value::str(&goregex::replace_all(&re, a[2], a[1])))
}

fn indent_fn(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let n = want_int(&c.args[0])?;
    let s = want_str(&c.args[1])?;
    if n < 0 {
        return Err("indent value must be a positive integer".into());
    }
    if (n as usize).saturating_mul(s.len().max(1)) > MAX_OUTPUT {
        return Err("result exceeds 64 MiB".into());
    }
    Ok(Value::str(&indent(n as usize, s)))
}
