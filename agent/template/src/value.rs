//! Values as a Go template sees them, and how Go's `fmt` prints them.
//!
//! Go distinguishes types that JSON flattens (`[]string` from `split` is not the
//! `[]interface{}` Vault data holds, `json.Number` is not `string`), and
//! consul-template templates notice: `join` only takes `[]string`, printing a
//! number shows its JSON digits. The variants keep exactly those distinctions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A Go `map[string]interface{}` (a reference: copies share it).
pub(crate) type GoMap = Rc<RefCell<BTreeMap<String, Value>>>;

/// A value during evaluation. `Nil` is Go's "no value" (an invalid
/// `reflect.Value` or a nil interface): printed alone it is `<no value>`,
/// inside a container it is `<nil>`.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    /// Go `int` (number literals, `len`, range indexes).
    Int(i64),
    /// Go `int64` (`parseInt`, `loop`, and consul-template's math results).
    Int64(i64),
    Uint(u64),
    Float(f64),
    /// `json.Number`: a string kind that prints and encodes as its digits.
    Number(Rc<str>),
    Str(Rc<str>),
    /// A Go string holding bytes that are not UTF-8 (`base64Decode` of a
    /// keystore): printed as the exact bytes, elsewhere as lossy text.
    Bytes(Rc<[u8]>),
    /// `[]interface{}`.
    List(Rc<Vec<Value>>),
    /// `[]string`; `None` is a nil slice (JSON `null`).
    Strings(Option<Rc<Vec<String>>>),
    /// `map[string]interface{}`, shared and mutable as a Go map is: Sprig's
    /// `set`, `unset` and `merge` change the map every holder of it sees.
    Map(GoMap),
    /// `map[string]string` (a missing key reads as `""`).
    StrMap(Rc<BTreeMap<String, String>>),
    /// A pointer to one of consul-template's structs (`*dependency.Secret`, ...).
    Struct(Rc<Struct>),
    /// A nil pointer to a struct type, e.g. `.Auth` of a secret without auth.
    NilPtr(&'static str),
    /// A Go `time.Time` (Sprig's date functions).
    Time(crate::gotime::GoTime),
}

/// A Go struct: its type name (with a leading `*` when templates see a
/// pointer to it) and its fields in declaration order.
#[derive(Debug)]
pub(crate) struct Struct {
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, Value)>,
}

impl Struct {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// What a type with a Go `String()` method prints as (its `String`
    /// field, e.g. `*semver.Version`); `fmt` and JSON use it instead of the fields.
    pub fn stringer(&self) -> Option<&str> {
        match self.field("String") {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// A Go string from raw bytes: [`Value::Str`] when they are UTF-8.
    pub fn from_bytes(bytes: Vec<u8>) -> Value {
        match String::from_utf8(bytes) {
            Ok(s) => Value::str(&s),
            Err(e) => Value::Bytes(Rc::from(e.into_bytes())),
        }
    }

    /// A new `map[string]interface{}`.
    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    pub fn strings(v: Vec<String>) -> Value {
        Value::Strings(Some(Rc::new(v)))
    }

    /// Converts JSON as Vault returns it; numbers stay `json.Number`.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(Rc::from(number_text(n).as_str())),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => {
                Value::List(Rc::new(a.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Go's type name, for error messages (never the value itself).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Number(_) => "json.Number",
            Value::Str(_) | Value::Bytes(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Strings(_) => "[]string",
            Value::Map(_) => "map[string]interface {}",
            Value::StrMap(_) => "map[string]string",
            Value::Struct(s) => s.type_name,
            Value::NilPtr(t) => t,
            Value::Time(_) => "time.Time",
        }
    }

    /// Go template truth: false, 0, "", empty collections and nil are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil | Value::NilPtr(_) => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Number(s) | Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Strings(l) => l.as_ref().is_some_and(|l| !l.is_empty()),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Struct(_) | Value::Time(_) => true,
        }
    }

    /// The string of a string-kinded value (`string` or `json.Number`).
    pub fn as_str_kind(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Number(s) => Some(s),
            _ => None,
        }
    }

    /// What `{{ pipeline }}` prints.
    /// Go's template printing follows a pointer before `fmt` sees it, so a
    /// pointer to a struct prints as `{...}` here (and as `&{...}` through
    /// `printf "%v"`).
    pub fn print_action(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            v => fmt_v(v, out, false),
        }
    }

    /// What `{{ pipeline }}` writes to the output: binary strings byte for byte.
    pub fn print_action_bytes(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Str(s) => out.extend_from_slice(s.as_bytes()),
            v => {
                let mut text = String::new();
                v.print_action(&mut text);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

/// The digits of a JSON number as Vault sent them. Integers round-trip
/// exactly; for floats serde_json keeps only the value, so the exponent is
/// written the usual way (`1e-06`, `1e+21`: sign and at least two digits).
fn number_text(n: &serde_json::Number) -> String {
    let text = n.to_string();
    match text.split_once(['e', 'E']) {
        Some((mant, exp)) if n.is_f64() => {
            let (sign, digits) = match exp.as_bytes().first() {
                Some(b'-') => ('-', &exp[1..]),
                Some(b'+') => ('+', &exp[1..]),
                _ => ('+', exp),
            };
            format!("{mant}e{sign}{digits:0>2}")
        }
        _ => text,
    }
}

/// Go's `%v`. `top` is true for the outermost value: a pointer to a struct
/// prints as `&{...}` there and as `{...}` below (Go prints an address).
pub(crate) fn fmt_v(v: &Value, out: &mut String, top: bool) {
    match v {
        Value::Nil | Value::NilPtr(_) => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::Number(s) | Value::Str(s) => out.push_str(s),
        Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        Value::Time(t) => out.push_str(&t.string()),
        Value::List(l) => push_spaced(out, "[", l.iter(), ']', |out, e| fmt_v(e, out, false)),
        Value::Strings(l) => {
            push_spaced(out, "[", l.iter().flat_map(|l| l.iter()), ']', |out, e| {
                out.push_str(e)
            })
        }
        Value::Map(m) => push_spaced(out, "map[", m.borrow().iter(), ']', |out, (k, e)| {
            out.push_str(k);
            out.push(':');
            fmt_v(e, out, false);
        }),
        Value::StrMap(m) => push_spaced(out, "map[", m.iter(), ']', |out, (k, e)| {
            out.push_str(k);
            out.push(':');
            out.push_str(e);
        }),
        Value::Struct(s) if s.stringer().is_some() => out.push_str(s.stringer().unwrap_or("")),
        Value::Struct(s) => {
            let open = if top && s.type_name.starts_with('*') {
                "&{"
            } else {
                "{"
            };
            push_spaced(out, open, s.fields.iter(), '}', |out, (_, e)| {
                fmt_v(e, out, false)
            });
        }
    }
}

/// Go's `fmt` layout of a slice, map or struct: `open`, then the items
/// separated by single spaces, then `close`.
pub(crate) fn push_spaced<T>(
    out: &mut String,
    open: &str,
    items: impl Iterator<Item = T>,
    close: char,
    mut item: impl FnMut(&mut String, T),
) {
    out.push_str(open);
    for (i, e) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        item(out, e);
    }
    out.push(close);
}

/// Writes `s` double-quoted, with the escapes all of Go's encoders share
/// (`\"`, `\\`, `\n`, `\r`, `\t`). `escape` handles the rest: it writes the
/// format's escape for `c` and returns true, or returns false to keep `c`.
pub(crate) fn push_quoted(
    out: &mut String,
    s: &str,
    mut escape: impl FnMut(&mut String, char) -> bool,
) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if escape(out, c) => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest decimal digits and the decimal exponent of a finite `f`
/// (`f = 0.d1d2d3... × 10^exp`), as Go's strconv computes them.
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-tripping digits: "1.2345e3".
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses.
pub(crate) fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (digits, dp) = shortest_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    let exp = dp - 1;
    // Shortest formatting decides with precision 6.
    if !(-4..6).contains(&exp) {
        // %e form with at least two exponent digits.
        return exponent_form(sign, &digits, exp, 2);
    }
    format!("{sign}{}", fixed(&digits, dp))
}

/// `d.ddde±x`: `digits` with the point after the first, and the exponent
/// `exp` written at least `exp_width` digits wide.
fn exponent_form(sign: &str, digits: &str, exp: i32, exp_width: usize) -> String {
    let mut s = String::from(sign);
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let _ = write!(
        s,
        "e{}{:0exp_width$}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    );
    s
}

/// Digits placed around the decimal point at position `dp`.
fn fixed(digits: &str, dp: i32) -> String {
    let nd = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= nd {
        format!("{}{}", digits, "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

/// Go's `encoding/json` float formatting: `%f` style unless the exponent is
/// below -6 or at least 21, then `%e` with a short exponent.
pub(crate) fn format_float_json(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (digits, dp) = shortest_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        return exponent_form(sign, &digits, dp - 1, 1);
    }
    format!("{sign}{}", fixed(&digits, dp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(100000.0), "100000");
        assert_eq!(format_float_g(1e6), "1e+06");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(-2.25), "-2.25");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1e20), "100000000000000000000");
        assert_eq!(format_float_json(0.0000001), "1e-7");
        assert_eq!(format_float_json(2.5), "2.5");
    }

    #[test]
    fn a_struct_pointer_prints_without_ampersand_in_an_action() {
        let v = Value::Struct(Rc::new(Struct {
            type_name: "*dependency.Secret",
            fields: vec![
                ("LeaseID", Value::str("l")),
                ("Auth", Value::NilPtr("*api.SecretAuth")),
            ],
        }));
        let mut action = String::new();
        v.print_action(&mut action);
        let mut formatted = String::new();
        fmt_v(&v, &mut formatted, true);
        assert_eq!(
            (action.as_str(), formatted.as_str()),
            ("{l <nil>}", "&{l <nil>}")
        );
    }

    #[test]
    fn containers_print_like_go() {
        let j = serde_json::json!({"b": [1, "x", null], "a": {"c": true}});
        let mut s = String::new();
        Value::from_json(&j).print_action(&mut s);
        assert_eq!(s, "map[a:map[c:true] b:[1 x <nil>]]");
        let mut s = String::new();
        Value::Nil.print_action(&mut s);
        assert_eq!(s, "<no value>");
    }
}
