//! consul-template's Vault functions: `secret`, `secrets`, `pkiCert`.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::{Call, Def, FResult, def, str_args, variadic_strs};
use crate::value::{Struct, Value};
use crate::world::Dependency;

pub(super) const FUNCS: &[Def] = &[
    def("secret", secret),
    def("secrets", secrets),
    def("pkiCert", pki_cert),
];

fn secret(c: &mut Call<'_>) -> FResult {
    let strs = variadic_strs(&c.args)?;
    let Some((path, rest)) = strs.split_first() else {
        return Ok(Value::Nil);
    };
    let write = if rest.is_empty() {
        None
    } else {
        Some(kv_pairs(rest)?)
    };
    let path = vault_path(if write.is_some() { "write" } else { "read" }, path)?;
    match c.host.use_dependency(Dependency::Secret { path, write }) {
        Some(j) => Ok(secret_from_envelope(&j)),
        None => Ok(Value::Nil),
    }
}

fn secrets(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::Strings(None));
    }
    let path = vault_path("list", a[0])?;
    match c.host.use_dependency(Dependency::List { path }) {
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

fn pki_cert(c: &mut Call<'_>) -> FResult {
    let strs = variadic_strs(&c.args)?;
    let Some((path, rest)) = strs.split_first() else {
        return Ok(Value::Nil);
    };
    let params = kv_pairs(rest)?;
    let path = vault_path("pki", path)?;
    match c.host.use_dependency(Dependency::PkiCert { path, params }) {
        Some(j) => Ok(pem_from_json(&j)),
        None => Ok(Value::Nil),
    }
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

/// Builds consul-template's `*dependency.Secret` from a Vault response envelope.
fn secret_from_envelope(j: &serde_json::Value) -> Value {
    let s = |k: &str| Value::str(j.get(k).and_then(|v| v.as_str()).unwrap_or(""));
    let int = |v: Option<&serde_json::Value>| Value::Int(v.and_then(|v| v.as_i64()).unwrap_or(0));
    let boolean =
        |v: Option<&serde_json::Value>| Value::Bool(v.and_then(|v| v.as_bool()).unwrap_or(false));
    let data = match j.get("data") {
        Some(serde_json::Value::Object(o)) => Value::Map(Rc::new(
            o.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
        )),
        _ => Value::Map(Rc::new(BTreeMap::new())),
    };
    let strings = |v: Option<&serde_json::Value>| match v.and_then(|v| v.as_array()) {
        Some(a) if !a.is_empty() => Value::strings(
            a.iter()
                .map(|e| e.as_str().unwrap_or_default().to_string())
                .collect(),
        ),
        _ => Value::Strings(None),
    };
    let auth = match j.get("auth") {
        Some(a @ serde_json::Value::Object(_)) => {
            let meta: BTreeMap<String, String> = a
                .get("metadata")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Value::Struct(Rc::new(Struct {
                type_name: "*dependency.SecretAuth",
                fields: vec![
                    (
                        "ClientToken",
                        Value::str(a.get("client_token").and_then(|v| v.as_str()).unwrap_or("")),
                    ),
                    (
                        "Accessor",
                        Value::str(a.get("accessor").and_then(|v| v.as_str()).unwrap_or("")),
                    ),
                    ("Policies", strings(a.get("policies"))),
                    ("Metadata", Value::StrMap(Rc::new(meta))),
                    ("LeaseDuration", int(a.get("lease_duration"))),
                    ("Renewable", boolean(a.get("renewable"))),
                ],
            }))
        }
        _ => Value::NilPtr("*dependency.SecretAuth"),
    };
    Value::Struct(Rc::new(Struct {
        type_name: "*dependency.Secret",
        fields: vec![
            ("RequestID", s("request_id")),
            ("LeaseID", s("lease_id")),
            ("LeaseDuration", int(j.get("lease_duration"))),
            ("Renewable", boolean(j.get("renewable"))),
            ("Data", data),
            ("Warnings", strings(j.get("warnings"))),
            ("Auth", auth),
            ("WrapInfo", Value::NilPtr("*dependency.SecretWrapInfo")),
        ],
    }))
}

/// Builds consul-template's `dependency.PemEncoded` from the runtime's answer
/// for a [`Dependency::PkiCert`]: either the documented
/// `{"Cert","Key","CA"}` object, or the raw `pki/issue` response
/// envelope, whose PEM strings are taken as Vault returns them (standard
/// 64-column blocks) and given the trailing newline Go's PEM encoder adds.
fn pem_from_json(j: &serde_json::Value) -> Value {
    let pem = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("{s}\n"))
            .unwrap_or_default()
    };
    let (cert, key, ca) = if j.get("Cert").is_some() {
        (pem(j.get("Cert")), pem(j.get("Key")), pem(j.get("CA")))
    } else {
        let data = j.get("data").unwrap_or(&serde_json::Value::Null);
        let chain_last = data
            .get("ca_chain")
            .and_then(|v| v.as_array())
            .and_then(|a| a.last());
        let ca = match pem(chain_last) {
            s if s.is_empty() => pem(data.get("issuing_ca")),
            s => s,
        };
        (
            pem(data.get("certificate")),
            pem(data.get("private_key")),
            ca,
        )
    };
    // OpenBao's consul-template has exactly these three fields (no CAChain).
    Value::Struct(Rc::new(Struct {
        type_name: "dependency.PemEncoded",
        fields: vec![
            ("Cert", Value::str(&cert)),
            ("Key", Value::str(&key)),
            ("CA", Value::str(&ca)),
        ],
    }))
}
