//! Go's argument rules for template function parameters.

use crate::value::Value;

/// Exactly `want` arguments.
pub(crate) fn nargs(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// A Go `string` parameter.
pub(crate) fn want_str(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// A Go `int` parameter.
pub(crate) fn want_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil => Err("invalid value; expected int".into()),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// A Go `[]string` parameter (nil is an empty slice).
pub(crate) fn want_strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Strings(l) => Ok(l.as_ref().map(|l| l.as_ref().clone()).unwrap_or_default()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!(
            "wrong type for value; expected []string; got {}",
            other.type_name()
        )),
    }
}

/// A Go `[]interface{}` parameter (nil is an empty slice).
pub(crate) fn want_list(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!(
            "wrong type for value; expected []interface {{}}; got {}",
            other.type_name()
        )),
    }
}

/// Exactly `want` Go `string` arguments.
pub(crate) fn str_args<'v>(
    name: &str,
    args: &'v [Value],
    want: usize,
) -> Result<Vec<&'v str>, String> {
    nargs(name, args, want)?;
    args.iter().map(want_str).collect()
}

/// Any number of Go `string` arguments (a `...string` parameter).
pub(crate) fn variadic_strs(args: &[Value]) -> Result<Vec<&str>, String> {
    args.iter().map(want_str).collect()
}
