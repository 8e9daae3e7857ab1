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
use super::builtins::{
    contains_in, eq, escape_html, escape_js, escape_query, escaper_arg, go_split, hex, hmac_sha256,
    indent, index, less, math, simple_case, slice, to_title,
};
use super::encode;
use super::exec::{State, pem_from_json, secret_from_envelope};
use super::gofmt;
use super::value::Value;

type FResult = Result<Value, String>;

/// Every function a template may name; anything else is a parse error.
pub(crate) const FUNCTIONS: &[&str] = &[
    // Go built-ins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "call",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    // consul-template: Vault
    "secret",
    "secrets",
    "pkiCert",
    // consul-template: environment and files
    "env",
    "mustEnv",
    "envOrDefault",
    "file",
    "writeToFile",
    "executeTemplate",
    // encodings
    "toJSON",
    "toJSONPretty",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "toYAML",
    "toTOML",
    "parseJSON",
    "parseYAML",
    "parseBool",
    "parseInt",
    "parseUint",
    "parseFloat",
    "base64Encode",
    "base64Decode",
    "base64URLEncode",
    "base64URLDecode",
    // strings
    "split",
    "splitToMap",
    "join",
    "trimSpace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "toLower",
    "toUpper",
    "toTitle",
    "replaceAll",
    "regexMatch",
    "regexReplaceAll",
    "indent",
    // collections
    "contains",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "in",
    "loop",
    // math
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
    // hashes and time
    "sha256Hex",
    "md5sum",
    "hmacSHA256Hex",
    "timestamp",
];

pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn nargs(name: &str, args: &[Value], want: usize) -> Result<(), String> {
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
fn want_int(v: &Value) -> Result<i64, String> {
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
fn want_strings(v: &Value) -> Result<Vec<String>, String> {
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
fn want_list(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!(
            "wrong type for value; expected []interface {{}}; got {}",
            other.type_name()
        )),
    }
}

fn str_args<'v>(name: &str, args: &'v [Value], want: usize) -> Result<Vec<&'v str>, String> {
    nargs(name, args, want)?;
    args.iter().map(want_str).collect()
}

/// Refuses a replacement whose result would pass the output limit.
fn check_growth(len: usize, hits: usize, per_hit: usize) -> Result<(), String> {
    if len.saturating_add(hits.saturating_mul(per_hit)) > super::exec::MAX_OUTPUT {
        return Err("result exceeds 64 MiB".into());
    }
    Ok(())
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
            let Some(f) = args.first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            let f = want_str(f)?;
            Ok(Value::str(&gofmt::sprintf(f, &args[1..])))
        }
        "html" => Ok(Value::str(&escape_html(&escaper_arg(&args)))),
        "js" => Ok(Value::str(&escape_js(&escaper_arg(&args)))),
        "urlquery" => Ok(Value::str(&escape_query(&escaper_arg(&args)))),
        "call" => Err("call of a non-function value".into()),
        "eq" => {
            let Some((a, rest)) = args.split_first() else {
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
            let Some((path, rest)) = strs.split_first() else {
                return Ok(Value::Nil);
            };
            let write = if rest.is_empty() {
                None
            } else {
                Some(kv_pairs(rest)?)
            };
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
                        .map(|a| {
                            a.iter()
                                .filter_map(|k| k.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    keys.sort();
                    Ok(Value::strings(keys))
                }
                None => Ok(Value::Strings(None)),
            }
        }
        "pkiCert" => {
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let Some((path, rest)) = strs.split_first() else {
                return Ok(Value::Nil);
            };
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
            Ok(Value::str(
                &st.env.env(a[0]).unwrap_or_else(|| a[1].to_string()),
            ))
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
                return Err(
                    "wrong number of args for executeTemplate: want at least 1 got 0".into(),
                );
            };
            let tname = want_str(tname)?.to_string();
            let dot = match args.len() {
                1 => Value::Nil,
                2 => args[1].clone(),
                n => {
                    return Err(format!(
                        "executeTemplate: wrong number of arguments, expected 1 or 2, but got {n}"
                    ));
                }
            };
            let mut out = String::new();
            st.exec_named(&tname, &dot, &mut out)
                .map_err(|e| e.message)?;
            Ok(Value::str(&out))
        }
        "writeToFile" => {
            if args.len() < 5 || args.len() > 6 {
                return Err(format!(
                    "wrong number of args for writeToFile: want 5 or 6 got {}",
                    args.len()
                ));
            }
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let mode = u32::from_str_radix(strs[3], 8)
                .map_err(|_| "writeToFile: invalid permissions".to_string())?;
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
            Ok(Value::str(super::yaml::yaml(&args[0]).trim()))
        }
        "toTOML" => {
            nargs(name, &args, 1)?;
            Ok(Value::str(super::toml::toml(&args[0])?.trim()))
        }
        "parseJSON" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Map(Rc::new(BTreeMap::new())));
            }
            let j: serde_json::Value = serde_json::from_str(a[0]).map_err(|e| {
                format!(
                    "parseJSON: invalid JSON at line {} column {}",
                    e.line(),
                    e.column()
                )
            })?;
            Ok(encode::from_parsed(&j, name == "parseYAML"))
        }
        "parseYAML" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Map(Rc::new(BTreeMap::new())));
            }
            let j: serde_json::Value =
                serde_saphyr::from_str(a[0]).map_err(|_| "parseYAML: invalid YAML".to_string())?;
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
                return Ok(Value::Int64(0));
            }
            a[0].parse::<i64>()
                .map(Value::Int64)
                .map_err(|_| "parseInt: invalid syntax".into())
        }
        "parseUint" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Uint(0));
            }
            a[0].parse::<u64>()
                .map(Value::Uint)
                .map_err(|_| "parseUint: invalid syntax".into())
        }
        "parseFloat" => {
            let a = str_args(name, &args, 1)?;
            if a[0].is_empty() {
                return Ok(Value::Float(0.0));
            }
            a[0].parse::<f64>()
                .map(Value::Float)
                .map_err(|_| "parseFloat: invalid syntax".into())
        }
        "base64Encode" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(
                &base64::engine::general_purpose::STANDARD.encode(a[0]),
            ))
        }
        "base64URLEncode" => {
            let a = str_args(name, &args, 1)?;
            Ok(Value::str(
                &base64::engine::general_purpose::URL_SAFE.encode(a[0]),
            ))
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
            let bytes = engine
                .decode(clean)
                .map_err(|_| format!("{name}: illegal base64 data"))?;
            // Go strings carry any bytes; ours are UTF-8. Refuse binary data
            // rather than write a silently corrupted file.
            let text = String::from_utf8(bytes).map_err(|_| {
                format!("{name}: decoded data is binary, not UTF-8 text (not supported by kagi)")
            })?;
            Ok(Value::str(&text))
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
        "toLower" => Ok(Value::str(&simple_case(
            str_args(name, &args, 1)?[0],
            false,
        ))),
        "toUpper" => Ok(Value::str(&simple_case(str_args(name, &args, 1)?[0], true))),
        "toTitle" => Ok(Value::str(&to_title(str_args(name, &args, 1)?[0]))),
        "replaceAll" => {
            let a = str_args(name, &args, 3)?;
            let hits = if a[0].is_empty() {
                a[2].chars().count() + 1
            } else {
                a[2].matches(a[0]).count()
            };
            check_growth(a[2].len(), hits, a[1].len())?;
            Ok(Value::str(&a[2].replace(a[0], a[1])))
        }
        "regexMatch" => {
            let a = str_args(name, &args, 2)?;
            let re = regex::Regex::new(a[0])
                .map_err(|_| "regexMatch: invalid regular expression".to_string())?;
            Ok(Value::Bool(re.is_match(a[1])))
        }
        "regexReplaceAll" => {
            let a = str_args(name, &args, 3)?;
            let re = regex::Regex::new(a[0])
                .map_err(|_| "regexReplaceAll: invalid regular expression".to_string())?;
            // `$1` expansions copy at most the whole input per match.
            let per_hit = if a[1].contains('$') {
                a[1].len() + a[2].len()
            } else {
                a[1].len()
            };
            check_growth(a[2].len(), re.find_iter(a[2]).count(), per_hit)?;
            Ok(Value::str(&re.replace_all(a[2], a[1])))
        }
        "indent" => {
            nargs(name, &args, 2)?;
            let n = want_int(&args[0])?;
            let s = want_str(&args[1])?;
            if n < 0 {
                return Err("indent value must be a positive integer".into());
            }
            if (n as usize).saturating_mul(s.len().max(1)) > super::exec::MAX_OUTPUT {
                return Err("result exceeds 64 MiB".into());
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
                    Value::Int(i) | Value::Int64(i) => Ok(*i),
                    Value::Uint(u) => Ok(*u as i64),
                    Value::Str(s) | Value::Number(s) => {
                        if s.is_empty() {
                            Ok(0)
                        } else {
                            s.parse()
                                .map_err(|_| "parseInt: invalid syntax".to_string())
                        }
                    }
                    other => Err(format!("loop: bad argument type: {}", other.type_name())),
                }
            };
            let (start, stop) = match args.as_slice() {
                [n] => (0, to64(n)?),
                [a, b] => (to64(a)?, to64(b)?),
                _ => {
                    return Err(format!(
                        "loop: wrong number of arguments, expected 1 or 2, but got {}",
                        args.len()
                    ));
                }
            };
            if stop.saturating_sub(start) > 1_000_000 {
                return Err("loop: range too large".into());
            }
            Ok(Value::List(Rc::new(
                (start..stop).map(Value::Int64).collect(),
            )))
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
            Ok(Value::str(&hex(&hmac_sha256(
                a[1].as_bytes(),
                a[0].as_bytes(),
            ))))
        }
        "timestamp" => {
            let strs: Vec<&str> = args.iter().map(want_str).collect::<Result<_, _>>()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            match strs.as_slice() {
                [] => Ok(Value::str(&gofmt::format_time(
                    now,
                    "2006-01-02T15:04:05Z07:00",
                ))),
                ["unix"] => Ok(Value::str(&now.to_string())),
                [layout] => Ok(Value::str(&gofmt::format_time(now, layout))),
                _ => Err(format!(
                    "timestamp: wrong number of arguments, expected 0 or 1, but got {}",
                    strs.len()
                )),
            }
        }
        other => Err(format!("function {other:?} not implemented")),
    }
}
