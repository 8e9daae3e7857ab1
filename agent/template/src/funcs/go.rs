//! Go's `text/template` built-in functions.

use super::{Call, Def, FResult, Impl, def, nargs, want_str};
use crate::builtins::{eq, escape_html, escape_js, escape_query, escaper_arg, index, less, slice};
use crate::gofmt;
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    Def {
        name: "and",
        imp: Impl::ShortCircuit { stop_at: false },
    },
    Def {
        name: "or",
        imp: Impl::ShortCircuit { stop_at: true },
    },
    def("not", not),
    def("len", len),
    def("index", |c| index(&c.args)),
    def("slice", |c| slice(&c.args)),
    def("print", |c| Ok(Value::str(&gofmt::sprint(&c.args, false)))),
    def("println", |c| Ok(Value::str(&gofmt::sprint(&c.args, true)))),
    def("printf", printf),
    def("html", |c| {
        Ok(Value::str(&escape_html(&escaper_arg(&c.args))))
    }),
    def("js", |c| Ok(Value::str(&escape_js(&escaper_arg(&c.args))))),
    def("urlquery", |c| {
        Ok(Value::str(&escape_query(&escaper_arg(&c.args))))
    }),
    def("call", |_| Err("call of a non-function value".into())),
    def("eq", eq_any),
    def("ne", |c| {
        nargs(c.name, &c.args, 2)?;
        Ok(Value::Bool(!eq(&c.args[0], &c.args[1])?))
    }),
    def("lt", |c| compare(c, false, |lt, _| lt)),
    def("le", |c| compare(c, true, |lt, eq| lt || eq)),
    def("gt", |c| compare(c, true, |lt, eq| !(lt || eq))),
    def("ge", |c| compare(c, false, |lt, _| !lt)),
];

fn not(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    Ok(Value::Bool(!c.args[0].is_true()))
}

fn len(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let n = match &c.args[0] {
        Value::Str(s) | Value::Number(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Strings(l) => l.as_ref().map_or(0, |l| l.len()),
        Value::Map(m) => m.len(),
        Value::StrMap(m) => m.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn printf(c: &mut Call<'_>) -> FResult {
    let Some(f) = c.args.first() else {
        return Err("wrong number of args for printf: want at least 1 got 0".into());
    };
    let f = want_str(f)?;
    Ok(Value::str(&gofmt::sprintf(f, &c.args[1..])))
}

/// `eq a b c...`: whether `a` equals any of the others.
fn eq_any(c: &mut Call<'_>) -> FResult {
    let Some((a, rest)) = c.args.split_first() else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for b in rest {
        if eq(a, b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `lt le gt ge`: `decide(a < b, a == b)`. Equality is asked only by `le`
/// and `gt` (`with_eq`) and only when `a < b` is false, as Go does.
fn compare(c: &mut Call<'_>, with_eq: bool, decide: fn(bool, bool) -> bool) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let (a, b) = (&c.args[0], &c.args[1]);
    let lt = less(a, b)?;
    let equal = with_eq && !lt && eq(a, b)?;
    Ok(Value::Bool(decide(lt, equal)))
}
