//! Go's built-in template functions and the stateless helpers behind
//! consul-template's string, collection and math functions.

use std::rc::Rc;

use super::gofmt;
use super::value::Value;

type FResult = Result<Value, String>;

/// Go's `strings.Split` (an empty separator splits into characters).
pub(crate) fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

pub(crate) fn indent(n: usize, s: &str) -> String {
    let prefix = " ".repeat(n);
    let mut out = String::with_capacity(s.len() + n);
    let mut at_line_start = true;
    for c in s.chars() {
        if at_line_start && c != '\n' {
            out.push_str(&prefix);
        }
        out.push(c);
        at_line_start = c == '\n';
    }
    out
}

/// Go's `strings.ToUpper`/`ToLower`: one-to-one character mappings only
/// (`ß` stays `ß`, unlike Rust's full mapping to `SS`).
pub(crate) fn simple_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            if upper {
                simple_upper(c)
            } else {
                simple_lower(c)
            }
        })
        .collect()
}

/// Go's `unicode.ToUpper`: the one-character uppercase mapping, or `c`.
pub(crate) fn simple_upper(c: char) -> char {
    let mut m = c.to_uppercase();
    match (m.next(), m.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: the one-character lowercase mapping, or `c`.
pub(crate) fn simple_lower(c: char) -> char {
    // The one lowercase mapping Rust spells with two characters (`i` and a
    // combining dot) whose simple form is the plain `i`.
    if c == '\u{130}' {
        return 'i';
    }
    let mut m = c.to_lowercase();
    match (m.next(), m.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`: like [`simple_upper`] except for the four
/// digraph letters, whose title case is their capital-small form (`ǆ` → `ǅ`).
pub(crate) fn simple_title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => simple_upper(c),
    }
}

/// Unicode title case of each word's first letter, leaving the rest as is
/// (x/text `cases.Title` with `NoLower`: `ß` becomes `Ss`).
pub(crate) fn to_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if !in_word && c.is_alphabetic() {
            for (i, u) in c.to_uppercase().enumerate() {
                if i == 0 {
                    out.push(u);
                } else {
                    out.extend(u.to_lowercase());
                }
            }
        } else {
            out.push(c);
        }
        in_word = c.is_alphanumeric() || c == '\'' || c == '_';
    }
    out
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac as _;
    // HMAC accepts keys of any length (longer ones are hashed first), so this cannot fail.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// consul-template's `in`: membership for slices (same kind), substring for strings.
pub(crate) fn contains_in(hay: &Value, needle: &Value) -> bool {
    let same = |e: &Value| match (e, needle) {
        (Value::Int(a) | Value::Int64(a), Value::Int(b) | Value::Int64(b)) => a == b,
        (Value::Float(a), Value::Float(b)) => a == b,
        (Value::Str(a), Value::Str(b)) | (Value::Number(a), Value::Number(b)) => a == b,
        _ => false,
    };
    match hay {
        Value::List(l) => l.iter().any(same),
        Value::Strings(l) => l
            .iter()
            .flat_map(|l| l.iter())
            .any(|e| same(&Value::str(e))),
        Value::Str(h) => matches!(needle, Value::Str(n) if h.contains(n.as_ref())),
        Value::Number(h) => matches!(needle, Value::Number(n) if h.contains(n.as_ref())),
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Number(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go 1.18+ `eq` for one pair.
pub(crate) fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return match (a, b) {
            (Value::Int(i) | Value::Int64(i), Value::Uint(u))
            | (Value::Uint(u), Value::Int(i) | Value::Int64(i)) => Ok(*i >= 0 && *i as u64 == *u),
            _ if ka != Kind::Invalid && kb != Kind::Invalid => {
                Err("incompatible types for comparison".into())
            }
            _ => Ok(false),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        _ if ka == Kind::Str => a.as_str_kind() == b.as_str_kind(),
        (Value::Nil, Value::Nil) => true,
        (Value::NilPtr(_), _) | (_, Value::NilPtr(_)) => {
            matches!((a, b), (Value::NilPtr(_), Value::NilPtr(_)))
        }
        (Value::Struct(x), Value::Struct(y)) => Rc::ptr_eq(x, y),
        _ => return Err(format!("non-comparable type {}", a.type_name())),
    })
}

pub(crate) fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Invalid | Kind::Other | Kind::Bool)
        || matches!(kb, Kind::Invalid | Kind::Other | Kind::Bool)
    {
        return Err("invalid type for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x < y,
        (Value::Uint(x), Value::Uint(y)) => x < y,
        (Value::Int(x) | Value::Int64(x), Value::Uint(y)) => *x < 0 || (*x as u64) < *y,
        (Value::Uint(x), Value::Int(y) | Value::Int64(y)) => *y >= 0 && *x < *y as u64,
        (Value::Float(x), Value::Float(y)) => x < y,
        _ if ka == Kind::Str && kb == Kind::Str => a.as_str_kind() < b.as_str_kind(),
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Arithmetic over Go's int, uint and float kinds; anything else (including a
/// `json.Number` straight from Vault) is refused, as consul-template does.
pub(crate) fn math(name: &str, a: &Value, b: &Value) -> FResult {
    #[derive(Clone, Copy)]
    enum N {
        I(i64),
        U(u64),
        F(f64),
    }
    let num = |v: &Value| match v {
        Value::Int(i) | Value::Int64(i) => Ok(N::I(*i)),
        Value::Uint(u) => Ok(N::U(*u)),
        Value::Float(f) => Ok(N::F(*f)),
        other => Err(format!(
            "{name}: unknown type for value ({})",
            other.type_name()
        )),
    };
    let (x, y) = (num(a)?, num(b)?);
    let as_f = |n: N| match n {
        N::I(i) => i as f64,
        N::U(u) => u as f64,
        N::F(f) => f,
    };
    let as_i = |n: N| match n {
        N::I(i) => i,
        N::U(u) => u as i64,
        N::F(f) => f as i64,
    };
    let back = |n: N| match n {
        N::I(i) => Value::Int64(i),
        N::U(u) => Value::Uint(u),
        N::F(f) => Value::Float(f),
    };
    match name {
        "minimum" | "maximum" => {
            // The winner keeps its own type, as in consul-template.
            let a_wins = if name == "minimum" {
                as_f(x) < as_f(y)
            } else {
                as_f(x) > as_f(y)
            };
            return Ok(back(if a_wins { x } else { y }));
        }
        "modulo" => {
            return match (x, y) {
                (N::F(_), _) | (_, N::F(_)) => Err("modulo: unsupported float operand".into()),
                (N::U(p), N::U(q)) => p
                    .checked_rem(q)
                    .map(Value::Uint)
                    .ok_or_else(|| "integer divide by zero".into()),
                _ => as_i(x)
                    .checked_rem(as_i(y))
                    .map(Value::Int64)
                    .ok_or_else(|| "integer divide by zero".into()),
            };
        }
        _ => {}
    }
    let float = matches!(x, N::F(_)) || matches!(y, N::F(_));
    if float {
        let (p, q) = (as_f(x), as_f(y));
        return Ok(Value::Float(match name {
            "add" => p + q,
            "subtract" => p - q,
            "multiply" => p * q,
            _ => p / q,
        }));
    }
    if let (N::U(p), N::U(q)) = (x, y) {
        let r = match name {
            "add" => Some(p.wrapping_add(q)),
            "subtract" => Some(p.wrapping_sub(q)),
            "multiply" => Some(p.wrapping_mul(q)),
            _ => p.checked_div(q),
        };
        return r
            .map(Value::Uint)
            .ok_or_else(|| "integer divide by zero".into());
    }
    let (p, q) = (as_i(x), as_i(y));
    let r = match name {
        "add" => Some(p.wrapping_add(q)),
        "subtract" => Some(p.wrapping_sub(q)),
        "multiply" => Some(p.wrapping_mul(q)),
        _ => p.checked_div(q),
    };
    r.map(Value::Int64)
        .ok_or_else(|| "integer divide by zero".into())
}

pub(crate) fn index(args: &[Value]) -> FResult {
    let Some((item, idx)) = args.split_first() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    let mut item = item.clone();
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    for i in idx {
        let pos = |len: usize| -> Result<usize, String> {
            match i {
                Value::Int(n) | Value::Int64(n) if *n >= 0 && (*n as usize) < len => {
                    Ok(*n as usize)
                }
                Value::Uint(n) if (*n as usize) < len => Ok(*n as usize),
                Value::Int(_) | Value::Int64(_) | Value::Uint(_) => {
                    Err("index out of range".into())
                }
                Value::Nil => Err("cannot index slice/array with nil".into()),
                other => Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                )),
            }
        };
        item = match &item {
            Value::List(l) => l[pos(l.len())?].clone(),
            Value::Strings(l) => {
                let l = l.as_ref().map(|l| l.as_slice()).unwrap_or_default();
                Value::str(&l[pos(l.len())?])
            }
            Value::Str(s) | Value::Number(s) => Value::Uint(u64::from(s.as_bytes()[pos(s.len())?])),
            Value::Map(m) => {
                let k = map_key(i)?;
                m.borrow().get(k).cloned().unwrap_or(Value::Nil)
            }
            Value::StrMap(m) => {
                let k = map_key(i)?;
                Value::str(m.get(k).map(String::as_str).unwrap_or(""))
            }
            Value::Nil => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

pub(crate) fn map_key(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!(
            "value has type {}; should be string",
            other.type_name()
        )),
    }
}

pub(crate) fn slice(args: &[Value]) -> FResult {
    let Some((item, idx)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let len = match item {
        Value::Str(s) | Value::Number(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Strings(l) => l.as_ref().map_or(0, |l| l.len()),
        Value::Nil => return Err("slice of untyped nil".into()),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if idx.len() > 3 || (idx.len() == 3 && matches!(item, Value::Str(_) | Value::Number(_))) {
        return Err("too many slice indexes".into());
    }
    let mut b = [0usize, len, len];
    for (k, i) in idx.iter().enumerate() {
        b[k] = match i {
            Value::Int(n) | Value::Int64(n) if *n >= 0 && (*n as usize) <= len => *n as usize,
            Value::Int(_) | Value::Int64(_) => return Err("index out of range".into()),
            other => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ));
            }
        };
    }
    if idx.len() < 2 {
        b[1] = len;
    }
    if b[0] > b[1] {
        return Err("invalid slice index".into());
    }
    Ok(match item {
        Value::Str(s) | Value::Number(s) => {
            let bytes = &s.as_bytes()[b[0]..b[1]];
            Value::str(&String::from_utf8_lossy(bytes))
        }
        Value::List(l) => Value::List(Rc::new(l[b[0]..b[1]].to_vec())),
        Value::Strings(l) => {
            let l = l.as_ref().map(|l| l.as_slice()).unwrap_or_default();
            Value::strings(l[b[0]..b[1]].to_vec())
        }
        _ => unreachable!("checked above"),
    })
}

/// The single string argument of `html`/`js`/`urlquery`, or `fmt.Sprint` of all.
pub(crate) fn escaper_arg(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    gofmt::sprint(args, false)
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn escape_js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn escape_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_skips_empty_lines() {
        assert_eq!(indent(2, "a\n\nb\n"), "  a\n\n  b\n");
    }

    #[test]
    fn title_case_keeps_rest() {
        assert_eq!(to_title("hello wORLD, it's me"), "Hello WORLD, It's Me");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a 131-byte key, longer than the block, is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn escapers() {
        assert_eq!(
            escape_html("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape_js("a'b\"<=>"), "a\\'b\\\"\\u003C\\u003D\\u003E");
        assert_eq!(escape_query("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
