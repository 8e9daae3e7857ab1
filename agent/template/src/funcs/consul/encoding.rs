//! consul-template's encoders and parsers: JSON, YAML, TOML, base64 and the
//! `strconv` parsers.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

use crate::funcs::{Call, Def, FResult, def, nargs, str_args};
use crate::value::Value;
use crate::{encode, toml, yaml};

pub(super) const FUNCS: &[Def] = &[
    def("toJSON", |c| json(c, None, true)),
    def("toJSONPretty", |c| json(c, Some("  "), true)),
    def("toUnescapedJSON", |c| json(c, None, false)),
    def("toUnescapedJSONPretty", |c| json(c, Some("  "), false)),
    def("toYAML", to_yaml),
    def("toTOML", to_toml),
    def("parseJSON", parse_json),
    def("parseYAML", parse_yaml),
    def("parseBool", parse_bool),
    def("parseInt", parse_int),
    def("parseUint", parse_uint),
    def("parseFloat", parse_float),
    def("base64Encode", |c| encode_base64(c, &STANDARD)),
    def("base64URLEncode", |c| encode_base64(c, &URL_SAFE)),
    def("base64Decode", |c| decode_base64(c, &STANDARD)),
    def("base64URLDecode", |c| decode_base64(c, &URL_SAFE)),
];

fn json(c: &mut Call<'_>, indent: Option<&str>, escape_html: bool) -> FResult {
    nargs(c.name, &c.args, 1)?;
    Ok(Value::str(&encode::json(&c.args[0], indent, escape_html)?))
}

fn to_yaml(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    Ok(Value::str(yaml::yaml(&c.args[0]).trim()))
}

fn to_toml(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    Ok(Value::str(toml::toml(&c.args[0])?.trim()))
}

fn parse_json(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
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
    Ok(encode::from_parsed(&j, false))
}

fn parse_yaml(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::Map(Rc::new(BTreeMap::new())));
    }
    let j: serde_json::Value =
        serde_saphyr::from_str(a[0]).map_err(|_| "parseYAML: invalid YAML".to_string())?;
    Ok(encode::from_parsed(&j, true))
}

fn parse_bool(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    Ok(Value::Bool(match a[0] {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
        "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
        _ => return Err("parseBool: invalid syntax".into()),
    }))
}

fn parse_int(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::Int64(0));
    }
    a[0].parse::<i64>()
        .map(Value::Int64)
        .map_err(|_| "parseInt: invalid syntax".into())
}

fn parse_uint(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::Uint(0));
    }
    a[0].parse::<u64>()
        .map(Value::Uint)
        .map_err(|_| "parseUint: invalid syntax".into())
}

fn parse_float(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::Float(0.0));
    }
    a[0].parse::<f64>()
        .map(Value::Float)
        .map_err(|_| "parseFloat: invalid syntax".into())
}

fn encode_base64(c: &mut Call<'_>, engine: &base64::engine::GeneralPurpose) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    Ok(Value::str(&engine.encode(a[0])))
}

fn decode_base64(c: &mut Call<'_>, engine: &base64::engine::GeneralPurpose) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    // Go's decoder skips line breaks.
    let clean: String = a[0].chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let bytes = engine
        .decode(clean)
        .map_err(|_| format!("{}: illegal base64 data", c.name))?;
    // A Go string carries any bytes: a decoded keystore is written as it is.
    Ok(Value::from_bytes(bytes))
}
