//! BurntSushi TOML encoding, as consul-template's `toTOML` produces it.

use std::fmt::Write as _;

use super::value::{Value, push_quoted};
use super::yaml::yaml_items;

/// BurntSushi's `toml.NewEncoder(...).Encode(v)` (before trimming). Only maps
/// and structs can be encoded at the top level.
pub(crate) fn toml(v: &Value) -> Result<String, String> {
    let entries = match v {
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) => toml_entries(v),
        other => {
            return Err(format!(
                "toTOML: toml: top-level values must be Go maps or structs, not {}",
                other.type_name()
            ));
        }
    };
    let mut out = String::new();
    toml_table(&entries, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// The key/value pairs of a map or struct, sorted by key as BurntSushi writes them.
fn toml_entries(v: &Value) -> Vec<(String, Value)> {
    let mut entries: Vec<(String, Value)> = match v {
        Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::StrMap(m) => m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect(),
        Value::Struct(s) => s
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        _ => Vec::new(),
    };
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::StrMap(_) | Value::Struct(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

fn toml_table(
    entries: &[(String, Value)],
    path: &mut Vec<String>,
    out: &mut String,
) -> Result<(), String> {
    if path.len() > 64 {
        return Err("toTOML: nesting too deep".into());
    }
    // Keys sit one level deeper than their table's header.
    let indent = "  ".repeat(path.len());
    for (k, v) in entries {
        if matches!(v, Value::Nil | Value::NilPtr(_)) || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&indent);
        out.push_str(&toml_key(k));
        out.push_str(" = ");
        toml_inline(v, out)?;
        out.push('\n');
    }
    for (k, v) in entries {
        if is_table(v) {
            path.push(k.clone());
            // BurntSushi separates top-level tables only with a blank line.
            if path.len() == 1 {
                out.push('\n');
            }
            out.push_str(&"  ".repeat(path.len() - 1));
            let _ = writeln!(out, "[{}]", table_name(path));
            toml_table(&toml_entries(v), path, out)?;
            path.pop();
        } else if is_table_array(v) {
            path.push(k.clone());
            for e in yaml_items(v) {
                out.push('\n');
                out.push_str(&"  ".repeat(path.len() - 1));
                let _ = writeln!(out, "[[{}]]", table_name(path));
                toml_table(&toml_entries(&e), path, out)?;
            }
            path.pop();
        }
    }
    Ok(())
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        toml_quote(k)
    }
}

/// A table header's dotted name, e.g. `db."a b".c`.
fn table_name(path: &[String]) -> String {
    path.iter()
        .map(|p| toml_key(p))
        .collect::<Vec<_>>()
        .join(".")
}

fn toml_quote(s: &str) -> String {
    let mut out = String::new();
    push_quoted(&mut out, s, |out, c| {
        match c {
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            _ => return false,
        }
        true
    });
    out
}

/// BurntSushi float formatting: plain decimal digits, always with a point.
fn toml_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn toml_inline(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => out.push_str(&toml_float(*f)),
        // BurntSushi encodes a json.Number as an integer when it is one, else as a float.
        Value::Number(n) => match n.parse::<i64>() {
            Ok(i) => {
                let _ = write!(out, "{i}");
            }
            Err(_) => out.push_str(&toml_float(n.parse::<f64>().unwrap_or(0.0))),
        },
        Value::Str(s) => out.push_str(&toml_quote(s)),
        Value::Bytes(b) => out.push_str(&toml_quote(&String::from_utf8_lossy(b))),
        Value::List(_) | Value::Strings(_) => {
            out.push('[');
            for (i, e) in yaml_items(v).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_inline(e, out)?;
            }
            out.push(']');
        }
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) => {
            out.push('{');
            let mut first = true;
            for (k, e) in toml_entries(v) {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push(' ');
                out.push_str(&toml_key(&k));
                out.push_str(" = ");
                toml_inline(&e, out)?;
            }
            out.push_str(if first { "}" } else { " }" });
        }
        Value::Nil | Value::NilPtr(_) => return Err("toTOML: unsupported nil value".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from_json(&j)
    }

    #[test]
    fn toml_like_burntsushi() {
        let x = v(serde_json::json!({"name": "x", "db": {"port": 5432, "hosts": ["a", "b"]}}));
        assert_eq!(
            toml(&x).unwrap(),
            "name = \"x\"\n\n[db]\n  hosts = [\"a\", \"b\"]\n  port = 5432\n"
        );
    }
}
