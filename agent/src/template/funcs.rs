//! The function table: Go's built-ins and the consul-template functions.
//!
//! Argument checks follow Go's `text/template` call rules: a `string`
//! parameter refuses `json.Number` and nil, `join` wants a `[]string`, and so
//! on, because templates that work in Vault Agent rely on (and are limited by)
//! exactly those rules. Errors name types, never values.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;

use super::Dependency;
use super::encode;
use super::exec::{State, pem_from_json, secret_from_envelope};
use super::gofmt;
use super::value::Value;

type FResult = Result<Value, String>;

/// Every function a template may name; anything else is a parse error.
pub(crate) const FUNCTIONS: &[&str] = &[
    // Go built-ins
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "call", "eq", "ne", "lt", "le", "gt", "ge",
    // consul-template: Vault
    "secret", "secrets", "pkiCert",
    // consul-template: environment and files
    "env", "mustEnv", "envOrDefault", "file", "writeToFile", "executeTemplate",
    // encodings
    "toJSON", "toJSONPretty", "toUnescapedJSON", "toUnescapedJSONPretty", "toYAML", "toTOML",
    "parseJSON", "parseYAML", "parseBool", "parseInt", "parseUint", "parseFloat", "base64Encode",
    "base64Decode", "base64URLEncode", "base64URLDecode",
    // strings
    "split", "splitToMap", "join", "trimSpace", "trim", "trimPrefix", "trimSuffix", "toLower",
    "toUpper", "toTitle", "replaceAll", "regexMatch", "regexReplaceAll", "indent",
    // collections
    "contains", "containsAll", "containsAny", "containsNone", "containsNotAll", "in", "loop",
    // math
    "add", "subtract", "multiply", "divide", "modulo", "minimum", "maximum",
    // hashes and time
    "sha256Hex", "md5sum", "hmacSHA256Hex", "timestamp",
];

pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn nargs(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!("wrong number of args for {name}: want {want} got {}", args.len()));
    }
    Ok(())
}

/// A Go `string` parameter.
pub(crate) fn want_str(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("invalid value; expected string".into()),
        other => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
    }
}

/// A Go `int` parameter.
fn want_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil => Err("invalid value; expected int".into()),
        other => Err(format!("wrong type for value; expected int; got {}", other.type_name())),
    }
}

/// A Go `[]string` parameter (nil is an empty slice).
fn want_strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Strings(l) => Ok(l.as_ref().map(|l| l.as_ref().clone()).unwrap_or_default()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!("wrong type for value; expected []string; got {}", other.type_name())),
    }
}

/// A Go `[]interface{}` parameter (nil is an empty slice).
fn want_list(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!("wrong type for value; expected []interface {{}}; got {}", other.type_name())),
    }
}

fn str_args<'v>(name: &str, args: &'v [Value], want: usize) -> Result<Vec<&'v str>, String> {
    nargs(name, args, want)?;
    args.iter().map(want_str).collect()
}

/// `k=v` arguments of `secret` and `pkiCert`: split at the first `=`, both sides trimmed.
fn kv_pairs(rest: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for a in rest {
        if a.is_empty() {
            continue;
        }
        let Some((k, v)) = a.split_once('=') else {
            return Err("not k=v pair (argument has no '=')".into());
        };
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

fn vault_path(kind: &str, p: &str) -> Result<String, String> {
    let p = p.trim().trim_matches('/');
    if p.is_empty() {
        return Err(format!("vault.{kind}: invalid format"));
    }
    Ok(p.to_string())
}

pub(crate) fn call(st: &mut State<'_>, name: &str, args: Vec<Value>) -> FResult {
    match name {
        "not" => {
            nargs(name, &args, 1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => {
            nargs(name, &args, 1)?;
            let n = match &args[0] {
                Value::Str(s) | Value::Number(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Strings(l) => l.as_ref().map_or(0, |l| l.len()),
                Value::Map(m) => m.len(),
                Value::StrMap(m) => m.len(),
                Value::Nil => return Err("len of nil pointer".into()),
                other => return Err(format!("len of type {}", other.type_name())),
            };
            Ok(Value::Int(n as i64))
        }
        "index" => index(&args),
        "slice" => slice(&args),
        "print" => Ok(Value::str(&gofmt::sprint(&args, false))),
        "println" => Ok(Value::str(&gofmt::sprint(&args, true))),
        "printf" => {
            let Some(f) = args.first() else { return Err("wrong number of args for printf: want at least 1 got 0".into()) };
            let f = want_str(f)?;
            Ok(Value::str(&gofmt::sprintf(f, &args[1..])))
        }
        "html" => Ok(Value::str(&escape_html(&escaper_arg(&args)))),
        "js" => Ok(Value::str(&escape_js(&escaper_arg(&args)))),
        "urlquery" => Ok(Value::str(&escape_query(&escaper_arg(&args)))),
        "call" => Err("call of a non-function value".into()),
        "eq" => {
            let Some((a, rest)) = args.split_first() else { return Err("missing argument for comparison".into()) };
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
        "ne" => {
            nargs(name, &args, 2)?;
            Ok(Value::Bool(!eq(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            nargs(name, &args, 2)?;
            let lt = less(&args[0], &args[1])?;
            let r = match name {
                "lt" => lt,
                "le" => lt || eq(&args[0], &args[1])?,
                "gt" => !(lt || eq(&args[0], &args[1])?),
                _ => !lt,
            };
            Ok(Value::Bool(r))
        }

        "secret" => {
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let Some((path, rest)) = strs.split_first() else { return Ok(Value::Nil) };
            let write = if rest.is_empty() { None } else { Some(kv_pairs(rest)?) };
            let path = vault_path(if write.is_some() { "write" } else { "read" }, path)?;
            match st.use_dependency(Dependency::Secret { path, write }) {
                Some(j) => Ok(secret_from_envelope(&j)),
                None => Ok(Value::Nil),
            }
        }
        "secrets" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Strings(None));
            }
            let path = vault_path("list", a[0])?;
            match st.use_dependency(Dependency::List { path }) {
                Some(j) => {
                    let mut keys: Vec<String> = j
                        .pointer("/data/keys")
                        .and_then(|k| k.as_array())
                        .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    keys.sort();
                    Ok(Value::strings(keys))
                }
                None => Ok(Value::Strings(None)),
            }
        }
        "pkiCert" => {
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let Some((path, rest)) = strs.split_first() else { return Ok(Value::Nil) };
            let params = kv_pairs(rest)?;
            let path = vault_path("pki", path)?;
            match st.use_dependency(Dependency::PkiCert { path, params }) {
                Some(j) => Ok(pem_from_json(&j)),
                None => Ok(Value::Nil),
            }
        }

        "env" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(&st.env.env(a[0]).unwrap_or_default()))
        }
        "mustEnv" => {
            let a = str_args(name, &args, 1)?;
            match st.env.env(a[0]).filter(|v| !v.is_empty()) {
                Some(v) => Ok(Value::str(&v)),
                None => Err(format!("required environment variable {} is empty", a[0])),
            }
        }
        "envOrDefault" => {
            let a = str_args(name, &args, 2)?;
            Ok(Value::str(&st.env.env(a[0]).unwrap_or_else(|| a[1].to_string())))
        }
        "file" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::str(""));
            }
            match st.env.read_file(a[0]) {
                Ok(s) => Ok(Value::str(&s)),
                Err(e) => Err(format!("file {:?}: {}", a[0], e.kind())),
            }
        }
        "executeTemplate" => {
            let Some(tname) = args.first() else {
                return Err("wrong number of args for executeTemplate: want at least 1 got 0".into());
            };
            let tname = want_str(tname)?.to_string();
            let dot = match args.len() {
                1 => Value::Nil,
                2 => args[1].clone(),
                n => return Err(format!("executeTemplate: wrong number of arguments, expected 1 or 2, but got {n}")),
            };
            let mut out = String::new();
            st.exec_named(&tname, &dot, &mut out).map_err(|e| e.message)?;
            Ok(Value::str(&out))
        }
        "writeToFile" => {
            if args.len() < 5 || args.len() > 6 {
                return Err(format!("wrong number of args for writeToFile: want 5 or 6 got {}", args.len()));
            }
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let mode = u32::from_str_radix(strs[3], 8).map_err(|_| "writeToFile: invalid permissions".to_string())?;
            let flags = if strs.len() == 6 { strs[4] } else { "" };
            st.file_writes.push(super::FileWrite {
                path: strs[0].to_string(),
                user: strs[1].to_string(),
                group: strs[2].to_string(),
                mode,
                append: flags.contains("append"),
                newline: flags.contains("newline"),
                contents: strs[strs.len() - 1].to_string(),
            });
            Ok(Value::str(""))
        }

        "toJSON" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(&encode::json(&args[0], None, true)?))
        }
        "toJSONPretty" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(&encode::json(&args[0], Some("  "), true)?))
        }
        "toUnescapedJSON" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(&encode::json(&args[0], None, false)?))
        }
        "toUnescapedJSONPretty" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(&encode::json(&args[0], Some("  "), false)?))
        }
        "toYAML" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(encode::yaml(&args[0]).trim()))
        }
        "toTOML" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(encode::toml(&args[0])?.trim()))
        }
        "parseJSON" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Map(Rc::new(BTreeMap::new())));
            }
            let j: serde_json::Value = serde_json::from_str(a[0]).map_err(|e| format!("parseJSON: invalid JSON at line {} column {}", e.line(), e.column()))?;
            Ok(encode::from_parsed(&j, name == "parseYAML"))
        }
        "parseYAML" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Map(Rc::new(BTreeMap::new())));
            }
            let j: serde_json::Value = serde_saphyr::from_str(a[0]).map_err(|_| "parseYAML: invalid YAML".to_string())?;
            Ok(encode::from_parsed(&j, name == "parseYAML"))
        }
        "parseBool" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::Bool(match a[0] {
                "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                _ => return Err("parseBool: invalid syntax".into()),
            }))
        }
        "parseInt" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Int(0));
            }
            a[0].parse::<i64>().map(Value::Int).map_err(|_| "parseInt: invalid syntax".into())
        }
        "parseUint" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Uint(0));
            }
            a[0].parse::<u64>().map(Value::Uint).map_err(|_| "parseUint: invalid syntax".into())
        }
        "parseFloat" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Float(0.0));
            }
            a[0].parse::<f64>().map(Value::Float).map_err(|_| "parseFloat: invalid syntax".into())
        }
        "base64Encode" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(&base64::engine::general_purpose::STANDARD.encode(a[0])))
        }
        "base64URLEncode" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(&base64::engine::general_purpose::URL_SAFE.encode(a[0])))
        }
        "base64Decode" | "base64URLDecode" => {
            let a = str_args(name, &args, 1)?;
            // Go's decoder skips line breaks.
            let clean: String = a[0].chars().filter(|c| *c != '\r' && *c != '\n').collect();
            let engine = if name == "base64Decode" {
                &base64::engine::general_purpose::STANDARD
            } else {
                &base64::engine::general_purpose::URL_SAFE
            };
            let bytes = engine.decode(clean).map_err(|_| format!("{name}: illegal base64 data"))?;
            Ok(Value::str(&String::from_utf8_lossy(&bytes)))
        }

        "split" => {
            let a = str_args(name, &args, 2)?;
            let s = a[1].trim();
            if s.is_empty() {
                return Ok(Value::strings(Vec::new()));
            }
            Ok(Value::strings(go_split(s, a[0])))
        }
        "splitToMap" => {
            let a = str_args(name, &args, 3)?;
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
        "join" => {
            nargs(name, &args, 2)?;
            let sep = want_str(&args[0])?;
            Ok(Value::str(&want_strings(&args[1])?.join(sep)))
        }
        "trimSpace" => Ok(Value::str(str_args(name, &args, 1)?[0].trim())),
        "trim" => {
            let a = str_args(name, &args, 2)?;
            Ok(Value::str(a[1].trim_matches(|c| a[0].contains(c))))
        }
        "trimPrefix" => {
            let a = str_args(name, &args, 2)?;
            Ok(Value::str(a[1].strip_prefix(a[0]).unwrap_or(a[1])))
        }
        "trimSuffix" => {
            let a = str_args(name, &args, 2)?;
            Ok(Value::str(a[1].strip_suffix(a[0]).unwrap_or(a[1])))
        }
        "toLower" => Ok(Value::str(&str_args(name, &args, 1)?[0].to_lowercase())),
        "toUpper" => Ok(Value::str(&str_args(name, &args, 1)?[0].to_uppercase())),
        "toTitle" => Ok(Value::str(&to_title(str_args(name, &args, 1)?[0]))),
        "replaceAll" => {
            let a = str_args(name, &args, 3)?;
            Ok(Value::str(&a[2].replace(a[0], a[1])))
        }
        "regexMatch" => {
            let a = str_args(name, &args, 2)?;
            let re = regex::Regex::new(a[0]).map_err(|_| "regexMatch: invalid regular expression".to_string())?;
            Ok(Value::Bool(re.is_match(a[1])))
        }
        "regexReplaceAll" => {
            let a = str_args(name, &args, 3)?;
            let re = regex::Regex::new(a[0]).map_err(|_| "regexReplaceAll: invalid regular expression".to_string())?;
            Ok(Value::str(&re.replace_all(a[2], a[1])))
        }
        "indent" => {
            nargs(name, &args, 2)?;
            let n = want_int(&args[0])?;
            let s = want_str(&args[1])?;
            if n < 0 {
                return Err("indent value must be a positive integer".into());
            }
            Ok(Value::str(&indent(n as usize, s)))
        }

        "contains" => {
            nargs(name, &args, 2)?;
            Ok(Value::Bool(contains_in(&args[1], &args[0])))
        }
        "in" => {
            nargs(name, &args, 2)?;
            Ok(Value::Bool(contains_in(&args[0], &args[1])))
        }
        "containsAll" | "containsAny" | "containsNone" | "containsNotAll" => {
            nargs(name, &args, 2)?;
            let needles = want_list(&args[0])?;
            let hay = &args[1];
            let found = |v: &Value| contains_in(hay, v);
            Ok(Value::Bool(match name {
                "containsAll" => needles.iter().all(found),
                "containsAny" => needles.iter().any(found),
                "containsNone" => !needles.iter().any(found),
                _ => !needles.iter().all(found),
            }))
        }
        "loop" => {
            let to64 = |v: &Value| -> Result<i64, String> {
                match v {
                    Value::Int(i) => Ok(*i),
                    Value::Uint(u) => Ok(*u as i64),
                    Value::Str(s) | Value::Number(s) => {
                        if s.is_empty() { Ok(0) } else { s.parse().map_err(|_| "parseInt: invalid syntax".to_string()) }
                    }
                    other => Err(format!("loop: bad argument type: {}", other.type_name())),
                }
            };
            let (start, stop) = match args.as_slice() {
                [n] => (0, to64(n)?),
                [a, b] => (to64(a)?, to64(b)?),
                _ => return Err(format!("loop: wrong number of arguments, expected 1 or 2, but got {}", args.len())),
            };
            if stop.saturating_sub(start) > 10_000_000 {
                return Err("loop: range too large".into());
            }
            Ok(Value::List(Rc::new((start..stop).map(Value::Int).collect())))
        }

        "add" | "subtract" | "multiply" | "divide" | "modulo" | "minimum" | "maximum" => {
            nargs(name, &args, 2)?;
            // consul-template takes (b, a) so that `a | subtract b` reads naturally.
            math(name, &args[1], &args[0])
        }

        "sha256Hex" => {
            use sha2::Digest as _;
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(&hex(&sha2::Sha256::digest(a[0].as_bytes()))))
        }
        "md5sum" => {
            use md5::Digest as _;
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(&hex(&md5::Md5::digest(a[0].as_bytes()))))
        }
        "hmacSHA256Hex" => {
            let a = str_args(name, &args, 2)?;
            Ok(Value::str(&hex(&hmac_sha256(a[1].as_bytes(), a[0].as_bytes()))))
        }
        "timestamp" => {
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            match strs.as_slice() {
                [] => Ok(Value::str(&gofmt::format_time(now, "2006-01-02T15:04:05Z07:00"))),
                ["unix"] => Ok(Value::str(&now.to_string())),
                [layout] => Ok(Value::str(&gofmt::format_time(now, layout))),
                _ => Err(format!("timestamp: wrong number of arguments, expected 0 or 1, but got {}", strs.len())),
            }
        }
        other => Err(format!("function {other:?} not implemented")),
    }
}

/// Go's `strings.Split` (an empty separator splits into characters).
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

fn indent(n: usize, s: &str) -> String {
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

/// Unicode title case of each word's first letter, leaving the rest as is.
fn to_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if !in_word && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        in_word = c.is_alphanumeric() || c == '\'' || c == '_';
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut k = if key.len() > 64 { sha2::Sha256::digest(key).to_vec() } else { key.to_vec() };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha2::Sha256::new().chain_update(&ipad).chain_update(msg).finalize();
    sha2::Sha256::new().chain_update(&opad).chain_update(inner).finalize().to_vec()
}

/// consul-template's `in`: membership for slices (same kind), substring for strings.
fn contains_in(hay: &Value, needle: &Value) -> bool {
    let same = |e: &Value| match (e, needle) {
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Float(a), Value::Float(b)) => a == b,
        (Value::Str(a), Value::Str(b)) | (Value::Number(a), Value::Number(b)) => a == b,
        _ => false,
    };
    match hay {
        Value::List(l) => l.iter().any(same),
        Value::Strings(l) => l.iter().flat_map(|l| l.iter()).any(|e| same(&Value::str(e))),
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
        Value::Int(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Number(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go 1.18+ `eq` for one pair.
fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return match (a, b) {
            (Value::Int(i), Value::Uint(u)) | (Value::Uint(u), Value::Int(i)) => Ok(*i >= 0 && *i as u64 == *u),
            _ if ka != Kind::Invalid && kb != Kind::Invalid => Err("incompatible types for comparison".into()),
            _ => Ok(false),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        _ if ka == Kind::Str => a.as_str_kind() == b.as_str_kind(),
        (Value::Nil, Value::Nil) => true,
        (Value::NilPtr(_), _) | (_, Value::NilPtr(_)) => matches!((a, b), (Value::NilPtr(_), Value::NilPtr(_))),
        (Value::Struct(x), Value::Struct(y)) => Rc::ptr_eq(x, y),
        _ => return Err(format!("non-comparable type {}", a.type_name())),
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Invalid | Kind::Other | Kind::Bool) || matches!(kb, Kind::Invalid | Kind::Other | Kind::Bool) {
        return Err("invalid type for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Uint(x), Value::Uint(y)) => x < y,
        (Value::Int(x), Value::Uint(y)) => *x < 0 || (*x as u64) < *y,
        (Value::Uint(x), Value::Int(y)) => *y >= 0 && *x < *y as u64,
        (Value::Float(x), Value::Float(y)) => x < y,
        _ if ka == Kind::Str && kb == Kind::Str => a.as_str_kind() < b.as_str_kind(),
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Arithmetic over Go's int, uint and float kinds; anything else (including a
/// `json.Number` straight from Vault) is refused, as consul-template does.
fn math(name: &str, a: &Value, b: &Value) -> FResult {
    #[derive(Clone, Copy)]
    enum N {
        I(i64),
        U(u64),
        F(f64),
    }
    let num = |v: &Value| match v {
        Value::Int(i) => Ok(N::I(*i)),
        Value::Uint(u) => Ok(N::U(*u)),
        Value::Float(f) => Ok(N::F(*f)),
        other => Err(format!("{name}: unknown type for value ({})", other.type_name())),
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
        N::I(i) => Value::Int(i),
        N::U(u) => Value::Uint(u),
        N::F(f) => Value::Float(f),
    };
    match name {
        "minimum" | "maximum" => {
            // The winner keeps its own type, as in consul-template.
            let a_wins = if name == "minimum" { as_f(x) < as_f(y) } else { as_f(x) > as_f(y) };
            return Ok(back(if a_wins { x } else { y }));
        }
        "modulo" => {
            return match (x, y) {
                (N::F(_), _) | (_, N::F(_)) => Err("modulo: unsupported float operand".into()),
                (N::U(p), N::U(q)) => p.checked_rem(q).map(Value::Uint).ok_or_else(|| "integer divide by zero".into()),
                _ => as_i(x).checked_rem(as_i(y)).map(Value::Int).ok_or_else(|| "integer divide by zero".into()),
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
        return r.map(Value::Uint).ok_or_else(|| "integer divide by zero".into());
    }
    let (p, q) = (as_i(x), as_i(y));
    let r = match name {
        "add" => Some(p.wrapping_add(q)),
        "subtract" => Some(p.wrapping_sub(q)),
        "multiply" => Some(p.wrapping_mul(q)),
        _ => p.checked_div(q),
    };
    r.map(Value::Int).ok_or_else(|| "integer divide by zero".into())
}

fn index(args: &[Value]) -> FResult {
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
                Value::Int(n) if *n >= 0 && (*n as usize) < len => Ok(*n as usize),
                Value::Uint(n) if (*n as usize) < len => Ok(*n as usize),
                Value::Int(_) | Value::Uint(_) => Err("index out of range".into()),
                Value::Nil => Err("cannot index slice/array with nil".into()),
                other => Err(format!("cannot index slice/array with type {}", other.type_name())),
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
                m.get(k).cloned().unwrap_or(Value::Nil)
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

fn map_key(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!("value has type {}; should be string", other.type_name())),
    }
}

fn slice(args: &[Value]) -> FResult {
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
            Value::Int(n) if *n >= 0 && (*n as usize) <= len => *n as usize,
            Value::Int(_) => return Err("index out of range".into()),
            other => return Err(format!("cannot index slice/array with type {}", other.type_name())),
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
fn escaper_arg(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    gofmt::sprint(args, false)
}

fn escape_html(s: &str) -> String {
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

fn escape_js(s: &str) -> String {
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
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn escape_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
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
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn escapers() {
        assert_eq!(escape_html("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
        assert_eq!(escape_js("a'b\"<=>"), "a\\'b\\\"\\u003C\\u003D\\u003E");
        assert_eq!(escape_query("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
