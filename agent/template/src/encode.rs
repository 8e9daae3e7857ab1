//! `encoding/json` output as consul-template's `toJSON` family produces it,
//! and the decoding side of `parseJSON`/`parseYAML`.

use std::fmt::Write as _;
use std::rc::Rc;

use super::value::{Value, format_float_json, push_quoted};

/// Data decoded by `parseJSON` (numbers are `float64`, as `json.Unmarshal` into
/// `interface{}` makes them) or `parseYAML` (`ints` keeps integers as `int`).
pub(crate) fn from_parsed(j: &serde_json::Value, ints: bool) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (ints, n.as_i64()) {
            (true, Some(i)) => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => {
            Value::List(Rc::new(a.iter().map(|e| from_parsed(e, ints)).collect()))
        }
        serde_json::Value::Object(o) => Value::map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_parsed(v, ints)))
                .collect(),
        ),
    }
}

/// `json.Marshal` / `json.MarshalIndent(v, "", indent)`, trimmed; `escape_html`
/// is false for the `toUnescapedJSON` variants.
pub(crate) fn json(v: &Value, indent: Option<&str>, escape_html: bool) -> Result<String, String> {
    let mut out = String::new();
    json_value(v, indent, 0, escape_html, &mut out)?;
    Ok(out)
}

fn json_newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn json_value(
    v: &Value,
    indent: Option<&str>,
    depth: usize,
    esc: bool,
    out: &mut String,
) -> Result<(), String> {
    if depth > 512 {
        return Err("json: nesting too deep".into());
    }
    match v {
        Value::Nil | Value::NilPtr(_) | Value::Strings(None) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err("json: unsupported value: non-finite float".into());
            }
            out.push_str(&format_float_json(*f));
        }
        Value::Number(n) => out.push_str(if n.is_empty() { "0" } else { n }),
        Value::Str(s) => json_string(s, esc, out),
        // encoding/json writes each invalid byte as U+FFFD, as the lossy conversion does.
        Value::Bytes(b) => json_string(&String::from_utf8_lossy(b), esc, out),
        Value::Time(t) => json_string(&t.rfc3339_nano(), esc, out),
        Value::List(l) => json_container(
            ['[', ']'],
            l.iter().map(|e| (None, e.clone())),
            indent,
            depth,
            esc,
            out,
        )?,
        Value::Strings(Some(l)) => json_container(
            ['[', ']'],
            l.iter().map(|e| (None, Value::str(e))),
            indent,
            depth,
            esc,
            out,
        )?,
        Value::Map(m) => json_container(
            ['{', '}'],
            m.borrow()
                .iter()
                .map(|(k, v)| (Some(k.as_str()), v.clone())),
            indent,
            depth,
            esc,
            out,
        )?,
        Value::StrMap(m) => json_container(
            ['{', '}'],
            m.iter().map(|(k, v)| (Some(k.as_str()), Value::str(v))),
            indent,
            depth,
            esc,
            out,
        )?,
        Value::Struct(s) if s.stringer().is_some() => {
            json_string(s.stringer().unwrap_or(""), esc, out)
        }
        Value::Struct(s) => json_container(
            ['{', '}'],
            s.fields.iter().map(|(k, v)| (Some(*k), v.clone())),
            indent,
            depth,
            esc,
            out,
        )?,
    }
    Ok(())
}

/// An array (items without keys) or an object, laid out as Go's
/// `json.Marshal` / `MarshalIndent` do; an empty one stays on one line.
fn json_container<'k>(
    [open, close]: [char; 2],
    items: impl Iterator<Item = (Option<&'k str>, Value)>,
    indent: Option<&str>,
    depth: usize,
    esc: bool,
    out: &mut String,
) -> Result<(), String> {
    let mut items = items.peekable();
    out.push(open);
    if items.peek().is_none() {
        out.push(close);
        return Ok(());
    }
    for (i, (k, e)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_newline(out, indent, depth + 1);
        if let Some(k) = k {
            json_string(k, esc, out);
            out.push(':');
            if indent.is_some() {
                out.push(' ');
            }
        }
        json_value(&e, indent, depth + 1, esc, out)?;
    }
    json_newline(out, indent, depth);
    out.push(close);
    Ok(())
}

fn json_string(s: &str, esc: bool, out: &mut String) {
    push_quoted(out, s, |out, c| {
        match c {
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20
                || matches!(c, '\u{2028}' | '\u{2029}')
                || (esc && matches!(c, '<' | '>' | '&')) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => return false,
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from_json(&j)
    }

    #[test]
    fn json_like_go() {
        let x = v(serde_json::json!({"b": "<&>", "a": [1, 2.5, null], "c": {}}));
        assert_eq!(
            json(&x, None, true).unwrap(),
            r#"{"a":[1,2.5,null],"b":"\u003c\u0026\u003e","c":{}}"#
        );
        assert_eq!(
            json(&x, Some("  "), false).unwrap(),
            "{\n  \"a\": [\n    1,\n    2.5,\n    null\n  ],\n  \"b\": \"<&>\",\n  \"c\": {}\n}"
        );
    }
}
