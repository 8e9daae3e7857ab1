//! Sprig's `defaults.go`: emptiness (`default empty coalesce all any
//! compact`), JSON (`fromJson toJson toPrettyJson toRawJson` and their
//! `must` forms), `ternary` and `deepCopy`.
//!
//! Sprig's "empty" is Go's zero value: false, 0, "", nil and empty
//! collections, which is exactly template falsehood ([`Value::is_true`]).
//! The plain JSON functions swallow errors (`toJson` of NaN is "",
//! `fromJson` of bad input is no value); the `must` forms fail.

use std::rc::Rc;

use crate::encode;
use crate::funcs::{Call, Def, FResult, def, nargs, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_default", default),
    def("sprig_empty", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Bool(!c.args[0].is_true()))
    }),
    def("sprig_coalesce", |c| {
        Ok(c.args
            .iter()
            .find(|v| v.is_true())
            .cloned()
            .unwrap_or(Value::Nil))
    }),
    def("sprig_all", |c| {
        Ok(Value::Bool(c.args.iter().all(Value::is_true)))
    }),
    def("sprig_any", |c| {
        Ok(Value::Bool(c.args.iter().any(Value::is_true)))
    }),
    def("sprig_compact", compact),
    def("sprig_mustCompact", compact),
    def("sprig_fromJson", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(from_json(s).unwrap_or(Value::Nil))
    }),
    def("sprig_mustFromJson", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        from_json(s)
    }),
    def("sprig_toJson", |c| to_json(c, None, true, false)),
    def("sprig_mustToJson", |c| to_json(c, None, true, true)),
    def("sprig_toPrettyJson", |c| {
        to_json(c, Some("  "), true, false)
    }),
    def("sprig_mustToPrettyJson", |c| {
        to_json(c, Some("  "), true, true)
    }),
    def("sprig_toRawJson", |c| to_json(c, None, false, false)),
    def("sprig_mustToRawJson", |c| to_json(c, None, false, true)),
    def("sprig_ternary", ternary),
    def("sprig_deepCopy", deep_copy),
    def("sprig_mustDeepCopy", deep_copy),
];

/// `default DEFAULT [GIVEN]`: GIVEN unless it is empty or missing.
fn default(c: &mut Call<'_>) -> FResult {
    let Some((dflt, given)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    Ok(match given.first() {
        Some(g) if g.is_true() => g.clone(),
        _ => dflt.clone(),
    })
}

/// `compact LIST`: the non-empty elements of a list.
fn compact(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let kept: Vec<Value> = match &c.args[0] {
        Value::List(l) => l.iter().filter(|v| v.is_true()).cloned().collect(),
        Value::Strings(l) => l
            .iter()
            .flat_map(|l| l.iter())
            .filter(|s| !s.is_empty())
            .map(|s| Value::str(s))
            .collect(),
        Value::Nil => {
            return Err("runtime error: invalid memory address or nil pointer dereference".into());
        }
        other => {
            return Err(format!(
                "Cannot compact on type {}",
                super::reflect::kind_name(other)
            ));
        }
    };
    Ok(Value::List(Rc::new(kept)))
}

/// `json.Unmarshal` into `interface{}`: numbers become `float64`.
fn from_json(s: &str) -> FResult {
    let j: serde_json::Value = serde_json::from_str(s).map_err(|e| {
        format!(
            "invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of JSON input",
                _ => "invalid character",
            }
        )
    })?;
    Ok(encode::from_parsed(&j, false))
}

/// `toJson`-family: `json.Marshal`, `MarshalIndent` or an encoder without
/// HTML escaping; `must` says whether an error fails the call.
fn to_json(c: &mut Call<'_>, indent: Option<&str>, escape_html: bool, must: bool) -> FResult {
    nargs(c.name, &c.args, 1)?;
    match encode::json(&c.args[0], indent, escape_html) {
        Ok(s) => Ok(Value::str(&s)),
        Err(e) if must => Err(e),
        Err(_) => Ok(Value::str("")),
    }
}

/// `deepCopy V`: values are immutable here, so a copy is the value itself;
/// nil fails as copystructure's reflection does in Go.
fn deep_copy(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    match &c.args[0] {
        Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        v => Ok(v.clone()),
    }
}

/// `ternary IFTRUE IFFALSE COND` (COND is a Go `bool` parameter).
fn ternary(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    match &c.args[2] {
        Value::Bool(b) => Ok(c.args[if *b { 0 } else { 1 }].clone()),
        Value::Nil => Err("invalid value; expected bool".into()),
        other => Err(format!(
            "wrong type for value; expected bool; got {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn emptiness_is_go_zero_values() {
        assert_eq!(
            render_text(r#"{{ sprig_default "d" "" }} {{ sprig_default "d" 0 }} {{ sprig_default "d" }} {{ "x" | sprig_default "d" }}"#).unwrap(),
            "d d d x"
        );
        assert_eq!(
            render_text(r#"{{ sprig_coalesce 0 "" "a" "b" }} {{ sprig_all 1 "x" true }} {{ sprig_any 0 "" false }} {{ sprig_coalesce 0 }}"#).unwrap(),
            "a true false <no value>"
        );
    }

    #[test]
    fn json_functions_swallow_or_report_errors() {
        assert_eq!(
            render_text(r#"{{ sprig_fromJson "{\"a\":[1,2.5]}" }}|{{ sprig_fromJson "nope" }}|{{ sprig_toRawJson "<&>" }}|{{ sprig_toJson "<&>" }}"#).unwrap(),
            r#"map[a:[1 2.5]]|<no value>|"<&>"|"\u003c\u0026\u003e""#
        );
        assert!(render_text(r#"{{ sprig_mustFromJson "{" }}"#).is_err());
    }
}
