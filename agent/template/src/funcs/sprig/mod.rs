//! Sprig v3.2.3 (`TxtFuncMap`), which `bao agent` exposes with the prefix
//! `sprig_`: `{{ "x" | sprig_upper }}`.
//!
//! One file per Sprig group (strings, lists, dicts, math, date, crypto, ...),
//! each with a `FUNCS` table naming the full template name (`sprig_upper`)
//! next to its implementation; a new file is added to [`FAMILIES`] below.
//! Sprig takes most arguments as `interface{}` and converts them itself
//! ([`strval`] is its `strval`); a parameter Sprig declares as `string` or
//! `int` follows Go's call rules ([`crate::funcs::want_str`], ...).

use super::Def;

use crate::value::{Value, fmt_v};
pub(crate) use date::time_method;

mod certs;
mod crypto;
mod date;
mod dicts;
mod lists;
mod math;
#[cfg(test)]
mod proptests;
mod strings;
// sprig1: strings, conversion, regex, encoding, paths, url, defaults, reflection, os.
mod convert;
mod defaults;
mod encoding;
mod os;
mod paths;
#[cfg(test)]
mod props;
mod random;
mod reflect;
mod regex;
mod semver;
mod url;
mod words;

pub(super) const FAMILIES: &[&[Def]] = &[
    strings::FUNCS,
    lists::FUNCS,
    dicts::FUNCS,
    math::FUNCS,
    date::FUNCS,
    crypto::FUNCS,
    certs::FUNCS,
    // sprig1
    words::FUNCS,
    random::FUNCS,
    convert::FUNCS,
    regex::FUNCS,
    encoding::FUNCS,
    paths::FUNCS,
    url::FUNCS,
    defaults::FUNCS,
    reflect::FUNCS,
    os::FUNCS,
    semver::FUNCS,
];

/// Sprig's `strval`: a string as it is, anything else as `fmt.Sprintf("%v")`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => {
            let mut out = String::new();
            fmt_v(other, &mut out, true);
            out
        }
    }
}
