//! Encoders with the exact output of the Go libraries consul-template uses:
//! `encoding/json`, `gopkg.in/yaml.v2` and `BurntSushi/toml`.

use std::fmt::Write as _;
use std::rc::Rc;

use super::value::{Value, format_float_g, format_float_json};

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
        serde_json::Value::Array(a) => Value::List(Rc::new(a.iter().map(|e| from_parsed(e, ints)).collect())),
        serde_json::Value::Object(o) => {
            Value::Map(Rc::new(o.iter().map(|(k, v)| (k.clone(), from_parsed(v, ints))).collect()))
        }
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

fn json_value(v: &Value, indent: Option<&str>, depth: usize, esc: bool, out: &mut String) -> Result<(), String> {
    if depth > 512 {
        return Err("json: nesting too deep".into());
    }
    match v {
        Value::Nil | Value::NilPtr(_) | Value::Strings(None) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
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
        Value::List(l) => json_seq(l.iter().cloned(), l.len(), indent, depth, esc, out)?,
        Value::Strings(Some(l)) => json_seq(l.iter().map(|s| Value::str(s)), l.len(), indent, depth, esc, out)?,
        Value::Map(m) => json_obj(m.iter().map(|(k, v)| (k.as_str(), v.clone())), m.len(), indent, depth, esc, out)?,
        Value::StrMap(m) => {
            json_obj(m.iter().map(|(k, v)| (k.as_str(), Value::str(v))), m.len(), indent, depth, esc, out)?
        }
        Value::Struct(s) => {
            json_obj(s.fields.iter().map(|(k, v)| (*k, v.clone())), s.fields.len(), indent, depth, esc, out)?
        }
    }
    Ok(())
}

fn json_seq(
    items: impl Iterator<Item = Value>,
    len: usize,
    indent: Option<&str>,
    depth: usize,
    esc: bool,
    out: &mut String,
) -> Result<(), String> {
    out.push('[');
    if len == 0 {
        out.push(']');
        return Ok(());
    }
    for (i, e) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_newline(out, indent, depth + 1);
        json_value(&e, indent, depth + 1, esc, out)?;
    }
    json_newline(out, indent, depth);
    out.push(']');
    Ok(())
}

fn json_obj<'k>(
    items: impl Iterator<Item = (&'k str, Value)>,
    len: usize,
    indent: Option<&str>,
    depth: usize,
    esc: bool,
    out: &mut String,
) -> Result<(), String> {
    out.push('{');
    if len == 0 {
        out.push('}');
        return Ok(());
    }
    for (i, (k, e)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_newline(out, indent, depth + 1);
        json_string(k, esc, out);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        json_value(&e, indent, depth + 1, esc, out)?;
    }
    json_newline(out, indent, depth);
    out.push('}');
    Ok(())
}

fn json_string(s: &str, esc: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' | '>' | '&' if esc => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------- YAML (go-yaml v2)

/// `yaml.Marshal` of go-yaml v2 (before trimming).
pub(crate) fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) if !yaml_is_empty(v) => yaml_block(v, 0, &mut out),
        Value::List(_) | Value::Strings(_) if !yaml_is_empty(v) => yaml_block(v, 0, &mut out),
        _ => {
            out.push_str(&yaml_scalar(v));
            out.push('\n');
        }
    }
    out
}

fn yaml_is_empty(v: &Value) -> bool {
    match v {
        Value::Map(m) => m.is_empty(),
        Value::StrMap(m) => m.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Strings(l) => l.as_ref().is_none_or(|l| l.is_empty()),
        Value::Struct(s) => s.fields.is_empty(),
        _ => false,
    }
}

fn yaml_entries(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => {
            let mut e: Vec<(String, Value)> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            e.sort_by(|a, b| yaml_key_cmp(&a.0, &b.0));
            e
        }
        Value::StrMap(m) => {
            let mut e: Vec<(String, Value)> = m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect();
            e.sort_by(|a, b| yaml_key_cmp(&a.0, &b.0));
            e
        }
        // yaml.v2 lowercases struct field names by default.
        Value::Struct(s) => s.fields.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

fn yaml_items(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.as_ref().clone(),
        Value::Strings(Some(l)) => l.iter().map(|s| Value::str(s)).collect(),
        _ => Vec::new(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::StrMap(_) | Value::Struct(_) | Value::List(_) | Value::Strings(Some(_)))
        && !yaml_is_empty(v)
}

/// A block collection at `indent` spaces; each line ends with a newline.
fn yaml_block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::List(_) | Value::Strings(_) => {
            for e in yaml_items(v) {
                out.push_str(&pad);
                out.push('-');
                if is_block(&e) {
                    if matches!(e, Value::List(_) | Value::Strings(_)) {
                        out.push('\n');
                        yaml_block(&e, indent + 2, out);
                    } else {
                        // The first key sits on the dash line.
                        out.push(' ');
                        let mut inner = String::new();
                        yaml_block(&e, indent + 2, &mut inner);
                        out.push_str(&inner[indent + 2..]);
                    }
                } else {
                    out.push(' ');
                    yaml_scalar_into(&e, indent + 2, out);
                    out.push('\n');
                }
            }
        }
        _ => {
            for (k, e) in yaml_entries(v) {
                out.push_str(&pad);
                out.push_str(&yaml_string(&k, indent));
                out.push(':');
                if is_block(&e) {
                    out.push('\n');
                    // go-yaml v2 does not indent a sequence under a mapping key.
                    let child = if matches!(e, Value::List(_) | Value::Strings(_)) { indent } else { indent + 2 };
                    yaml_block(&e, child, out);
                } else {
                    out.push(' ');
                    yaml_scalar_into(&e, indent + 2, out);
                    out.push('\n');
                }
            }
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    let mut s = String::new();
    yaml_scalar_into(v, 0, &mut s);
    s
}

fn yaml_scalar_into(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Nil | Value::NilPtr(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            if f.is_nan() {
                out.push_str(".nan");
            } else if f.is_infinite() {
                out.push_str(if *f > 0.0 { ".inf" } else { "-.inf" });
            } else {
                out.push_str(&format_float_g(*f));
            }
        }
        // yaml.v2 writes a json.Number that parses as a number bare.
        Value::Number(n) if n.parse::<f64>().is_ok() => out.push_str(n),
        Value::Number(n) => out.push_str(&yaml_string(n, indent)),
        Value::Str(s) => out.push_str(&yaml_string(s, indent)),
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) => out.push_str("{}"),
        Value::List(_) | Value::Strings(_) => out.push_str("[]"),
    }
}

/// Would a plain scalar read back as something other than this string?
fn yaml_resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y",
        "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN",
        ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if body.is_empty() {
        return false;
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if let Some(h) = body.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(b) = body.strip_prefix("0b") {
        return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1');
    }
    // Floats: digits with one point and an optional exponent.
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => seen_digit = true,
            '.' if !seen_dot => seen_dot = true,
            'e' | 'E' if seen_digit => {
                let rest: String = chars.collect();
                let rest = rest.strip_prefix(['+', '-']).unwrap_or(&rest);
                return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
            }
            ':' => return body.split(':').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
            _ => return false,
        }
    }
    seen_digit
}

fn yaml_string(s: &str, indent: usize) -> String {
    let printable = s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if !printable {
        return yaml_double(s);
    }
    if s.contains('\n') {
        // go-yaml v2 emits multi-line text in literal style.
        let mut out = String::from("|");
        if s.starts_with(' ') {
            out.push('2');
        }
        if !s.ends_with('\n') {
            out.push('-');
        } else if s.ends_with("\n\n") {
            out.push('+');
        }
        let pad = " ".repeat(indent.max(2));
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if yaml_resolves_non_string(s) || yaml_needs_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

fn yaml_needs_quotes(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if first == ' ' || last == ' ' || first == '\t' || last == '\t' {
        return true;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // "-", "?" and ":" are fine as indicators only when followed by a non-space.
        let second = s.chars().nth(1);
        if matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ') {
            return s.contains(": ") || s.contains(" #") || s.ends_with(':');
        }
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains(['\t'])
}

fn yaml_double(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// go-yaml v2's key order: numbers inside keys compare numerically, letters
/// sort before non-letters.
fn yaml_key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if al { Ordering::Less } else { Ordering::Greater };
        }
        // Compare digit runs numerically (starting back at the run's start).
        let mut s = i;
        while s > 0 && ar[s - 1].is_ascii_digit() {
            s -= 1;
        }
        let run = |v: &[char]| {
            let mut e = s;
            while e < v.len() && v[e].is_ascii_digit() {
                e += 1;
            }
            e
        };
        let (ae, be) = (run(&ar), run(&br));
        if ae > s && be > s {
            let an: String = ar[s..ae].iter().collect();
            let bn: String = br[s..be].iter().collect();
            let (an, bn) = (an.trim_start_matches('0'), bn.trim_start_matches('0'));
            let o = an.len().cmp(&bn.len()).then_with(|| an.cmp(bn));
            if o != Ordering::Equal {
                return o;
            }
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

// ---------------------------------------------------------------- TOML (BurntSushi)

/// BurntSushi's `toml.NewEncoder(...).Encode(v)` (before trimming). Only maps
/// and structs can be encoded at the top level.
pub(crate) fn toml(v: &Value) -> Result<String, String> {
    let entries = match v {
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) => toml_entries(v),
        other => return Err(format!("toTOML: toml: top-level values must be Go maps or structs, not {}", other.type_name())),
    };
    let mut out = String::new();
    toml_table(&entries, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn toml_entries(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::StrMap(m) => m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect(),
        Value::Struct(s) => s.fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::StrMap(_) | Value::Struct(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

fn toml_table(entries: &[(String, Value)], path: &mut Vec<String>, out: &mut String) -> Result<(), String> {
    if path.len() > 64 {
        return Err("toTOML: nesting too deep".into());
    }
    // Keys sit one level deeper than their table's header.
    let indent = "  ".repeat(path.len());
    let mut sorted: Vec<&(String, Value)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in &sorted {
        if matches!(v, Value::Nil | Value::NilPtr(_)) || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&indent);
        out.push_str(&toml_key(k));
        out.push_str(" = ");
        toml_inline(v, out)?;
        out.push('\n');
    }
    for (k, v) in &sorted {
        if is_table(v) {
            path.push(k.clone());
            out.push('\n');
            out.push_str(&"  ".repeat(path.len() - 1));
            out.push('[');
            out.push_str(&path.iter().map(|p| toml_key(p)).collect::<Vec<_>>().join("."));
            out.push_str("]\n");
            toml_table(&toml_entries(v), path, out)?;
            path.pop();
        } else if is_table_array(v) {
            path.push(k.clone());
            for e in yaml_items(v) {
                out.push('\n');
                out.push_str(&"  ".repeat(path.len() - 1));
                out.push_str("[[");
                out.push_str(&path.iter().map(|p| toml_key(p)).collect::<Vec<_>>().join("."));
                out.push_str("]]\n");
                toml_table(&toml_entries(&e), path, out)?;
            }
            path.pop();
        }
    }
    Ok(())
}

fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        k.to_string()
    } else {
        toml_quote(k)
    }
}

fn toml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_inline(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            let s = format_float_g(*f);
            out.push_str(&s);
            if !s.contains(['.', 'e', 'n', 'N', 'I']) {
                out.push_str(".0");
            }
        }
        Value::Number(n) => out.push_str(n),
        Value::Str(s) => out.push_str(&toml_quote(s)),
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
            let mut entries = toml_entries(v);
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, e) in entries {
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
    fn json_like_go() {
        let x = v(serde_json::json!({"b": "<&>", "a": [1, 2.5, null], "c": {}}));
        assert_eq!(json(&x, None, true).unwrap(), r#"{"a":[1,2.5,null],"b":"\u003c\u0026\u003e","c":{}}"#);
        assert_eq!(json(&x, Some("  "), false).unwrap(), "{\n  \"a\": [\n    1,\n    2.5,\n    null\n  ],\n  \"b\": \"<&>\",\n  \"c\": {}\n}");
    }

    #[test]
    fn yaml_like_go_yaml_v2() {
        let x = v(serde_json::json!({"b": ["x", "y"], "a": {"k": "true", "n": 5}, "s": "a: b"}));
        assert_eq!(yaml(&x), "a:\n  k: 'true'\n  'n': 5\nb:\n- x\n- 'y'\ns: 'a: b'\n");
    }

    #[test]
    fn toml_like_burntsushi() {
        let x = v(serde_json::json!({"name": "x", "db": {"port": 5432, "hosts": ["a", "b"]}}));
        assert_eq!(toml(&x).unwrap(), "name = \"x\"\n\n[db]\n  hosts = [\"a\", \"b\"]\n  port = 5432\n");
    }
}
