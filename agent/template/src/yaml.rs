//! `gopkg.in/yaml.v2` marshalling, as consul-template's `toYAML` produces it.

use std::fmt::Write as _;

use super::value::{Value, format_float_g, push_quoted};

/// `yaml.Marshal` of go-yaml v2 (before trimming).
pub(crate) fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) if !yaml_is_empty(v) => {
            yaml_block(v, 0, &mut out)
        }
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
            let mut e: Vec<(String, Value)> =
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            e.sort_by(|a, b| yaml_key_cmp(&a.0, &b.0));
            e
        }
        Value::StrMap(m) => {
            let mut e: Vec<(String, Value)> =
                m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect();
            e.sort_by(|a, b| yaml_key_cmp(&a.0, &b.0));
            e
        }
        // yaml.v2 lowercases struct field names by default.
        Value::Struct(s) => s
            .fields
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn yaml_items(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.as_ref().clone(),
        Value::Strings(Some(l)) => l.iter().map(|s| Value::str(s)).collect(),
        _ => Vec::new(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(
        v,
        Value::Map(_)
            | Value::StrMap(_)
            | Value::Struct(_)
            | Value::List(_)
            | Value::Strings(Some(_))
    ) && !yaml_is_empty(v)
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
                    {
                        // The first key (or nested item) sits on the dash line.
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
                    let child = if matches!(e, Value::List(_) | Value::Strings(_)) {
                        indent
                    } else {
                        indent + 2
                    };
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
        Value::Int(i) | Value::Int64(i) => {
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
        // go-yaml writes `!!binary`; kagi writes the lossy text (a known difference).
        Value::Bytes(b) => out.push_str(&yaml_string(&String::from_utf8_lossy(b), indent)),
        Value::Map(_) | Value::StrMap(_) | Value::Struct(_) => out.push_str("{}"),
        Value::List(_) | Value::Strings(_) => out.push_str("[]"),
    }
}

/// Would a plain scalar read back as something other than this string?
fn yaml_resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y",
        "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
        ".nan", ".NaN", ".NAN", "<<",
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
    if let Some(o) = body.strip_prefix("0o") {
        return !o.is_empty() && o.bytes().all(|b| (b'0'..=b'7').contains(&b));
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
            ':' => {
                return body
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            }
            _ => return false,
        }
    }
    seen_digit
}

fn yaml_string(s: &str, indent: usize) -> String {
    // Tabs and control characters force the double-quoted style.
    let printable = s.chars().all(|c| c == '\n' || !c.is_control());
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
    // A string that would read back as another type is double-quoted by the
    // encoder; one the emitter cannot write plain is single-quoted.
    if yaml_resolves_non_string(s) || is_timestamp(s) {
        return yaml_double(s);
    }
    if yaml_needs_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

/// YAML 1.1 timestamps (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`, ...),
/// which go-yaml v2 resolves to `time.Time`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 8 || !digits(0..4) || b[4] != b'-' {
        return false;
    }
    // YYYY-M(M)-D(D) followed by nothing or a time part.
    let mut i = 5;
    let month = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&month) {
        return false;
    }
    i += month;
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let day = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day) {
        return false;
    }
    i += day;
    i == b.len() || matches!(b[i], b'T' | b't' | b' ' | b'\t')
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
    let mut out = String::new();
    push_quoted(&mut out, s, |out, c| {
        match c {
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            _ => return false,
        }
        true
    });
    out
}

/// go-yaml v2's key order (`keyList.Less`): digit runs compare as numbers,
/// and a non-letter sorts before a letter.
fn yaml_key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i128, 0i128);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                if ar[j - 1] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let (an, ai) = digit_run(&ar, i, an);
        let (bn, bi) = digit_run(&br, i, bn);
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Reads the ASCII digits of `chars` from `start` on, appending them to `n`;
/// returns the number and the index after the run.
fn digit_run(chars: &[char], start: usize, mut n: i128) -> (i128, usize) {
    let mut i = start;
    while i < chars.len() && chars[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(i128::from(chars[i] as u8 - b'0'));
        i += 1;
    }
    (n, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from_json(&j)
    }

    #[test]
    fn yaml_like_go_yaml_v2() {
        let x = v(serde_json::json!({"b": ["x", "y"], "a": {"k": "true", "n": 5}, "s": "a: b"}));
        assert_eq!(
            yaml(&x),
            "a:\n  k: \"true\"\n  \"n\": 5\nb:\n- x\n- \"y\"\ns: 'a: b'\n"
        );
        assert_eq!(yaml_key_cmp("b64", "big"), std::cmp::Ordering::Less);
        assert_eq!(yaml_key_cmp("a2", "a10"), std::cmp::Ordering::Less);
    }
}
