//! Sprig's `reflect.go` (`typeOf typeIs typeIsLike kindOf kindIs`) and
//! `deepEqual` (Go's `reflect.DeepEqual`): Go's type and kind names of the
//! values templates hold.

use std::rc::Rc;

use crate::funcs::{Call, Def, def, nargs, want_str};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_typeOf", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::str(c.args[0].type_name()))
    }),
    def("sprig_typeIs", |c| {
        let (target, v) = target_and_value(c)?;
        Ok(Value::Bool(target == v.type_name()))
    }),
    def("sprig_typeIsLike", |c| {
        let (target, v) = target_and_value(c)?;
        let t = v.type_name();
        Ok(Value::Bool(
            target == t || t.strip_prefix('*') == Some(target.as_str()),
        ))
    }),
    def("sprig_kindOf", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::str(kind_name(&c.args[0])))
    }),
    def("sprig_kindIs", |c| {
        let (target, v) = target_and_value(c)?;
        Ok(Value::Bool(target == kind_name(&v)))
    }),
    def("sprig_deepEqual", |c| {
        nargs(c.name, &c.args, 2)?;
        Ok(Value::Bool(deep_equal(&c.args[0], &c.args[1])))
    }),
];

fn target_and_value(c: &Call<'_>) -> Result<(String, Value), String> {
    nargs(c.name, &c.args, 2)?;
    Ok((want_str(&c.args[0])?.to_string(), c.args[1].clone()))
}

/// Go's `reflect.Kind` name of `v` (`invalid` for nil).
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Uint(_) => "uint64",
        Value::Float(_) => "float64",
        Value::Number(_) | Value::Str(_) | Value::Bytes(_) => "string",
        Value::List(_) | Value::Strings(_) => "slice",
        Value::Map(_) | Value::StrMap(_) => "map",
        Value::Time(_) => "struct",
        Value::Struct(s) if !s.type_name.starts_with('*') => "struct",
        Value::Struct(_) | Value::NilPtr(_) => "ptr",
    }
}

/// Go's `reflect.DeepEqual`: same types, equal contents (a nil slice is not
/// an empty one; NaN is not equal to itself).
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) | (Value::Number(x), Value::Number(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Strings(x), Value::Strings(y)) => match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Map(x), Value::Map(y)) => {
            Rc::ptr_eq(x, y) || {
                let (x, y) = (x.borrow(), y.borrow());
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
            }
        }
        (Value::StrMap(x), Value::StrMap(y)) => x == y,
        (Value::Struct(x), Value::Struct(y)) => {
            x.type_name == y.type_name
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(y.fields.iter())
                    .all(|((_, p), (_, q))| deep_equal(p, q))
        }
        (Value::NilPtr(x), Value::NilPtr(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn types_and_kinds_are_go_names() {
        assert_eq!(
            render_text(r#"{{ sprig_typeOf 1 }} {{ sprig_typeOf 1.5 }} {{ sprig_typeOf "s" }} {{ sprig_typeOf nil }} {{ sprig_kindOf (split "," "a") }} {{ sprig_kindOf nil }} {{ sprig_typeOf (splitToMap "a=1" "," "=") }}"#).unwrap(),
            "int float64 string <nil> slice invalid map[string]string"
        );
        assert_eq!(
            render_text(r#"{{ sprig_typeIs "int" 1 }} {{ sprig_kindIs "string" "x" }} {{ sprig_typeIsLike "int" 1 }} {{ sprig_deepEqual 1 1 }} {{ sprig_deepEqual 1 1.0 }}"#).unwrap(),
            "true true true true false"
        );
    }
}
