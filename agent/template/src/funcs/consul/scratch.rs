//! consul-template's `scratch`: a per-render key/value store reached through
//! methods (`scratch.Set "k" v`, `scratch.Get "k"`, `scratch.MapSet "k" "mk" v`).

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::{Def, def, nargs, want_str};
use crate::gofmt::go_quote;
use crate::value::{Struct, Value};

/// The Go type templates see (`printf "%T" scratch`).
const SCRATCH_TYPE: &str = "*template.Scratch";

pub(super) const FUNCS: &[Def] = &[def("scratch", |_| {
    Ok(Value::Struct(Rc::new(Struct {
        type_name: SCRATCH_TYPE,
        fields: Vec::new(),
    })))
})];

/// Whether `v` is the value `scratch` returns.
pub(crate) fn is_scratch(v: &Value) -> bool {
    matches!(v, Value::Struct(s) if s.type_name == SCRATCH_TYPE)
}

/// Calls method `name` on the render's scratch `store`. `Err(None)` means
/// there is no such method (the caller reports it as a missing field).
pub(crate) fn method(
    store: &mut BTreeMap<String, Value>,
    name: &str,
    args: &[Value],
) -> Result<Value, Option<String>> {
    let key = |want: usize| -> Result<&str, String> {
        nargs(name, args, want)?;
        want_str(&args[0])
    };
    let result = match name {
        "Key" => key(1).map(|k| Value::Bool(store.contains_key(k))),
        "Get" => key(1).map(|k| store.get(k).cloned().unwrap_or(Value::Nil)),
        "Set" => key(2).map(|k| {
            store.insert(k.to_string(), args[1].clone());
            Value::str("")
        }),
        "SetX" => key(2).map(|k| {
            store
                .entry(k.to_string())
                .or_insert_with(|| args[1].clone());
            Value::str("")
        }),
        "MapSet" => map_set(store, name, args, true),
        "MapSetX" => map_set(store, name, args, false),
        "MapValues" => key(1).map(|k| match store.get(k) {
            // Values in key order; anything but a map gives a nil slice.
            Some(Value::Map(m)) => Value::List(Rc::new(m.values().cloned().collect())),
            _ => Value::List(Rc::new(Vec::new())),
        }),
        _ => return Err(None),
    };
    result.map_err(Some)
}

fn map_set(
    store: &mut BTreeMap<String, Value>,
    name: &str,
    args: &[Value],
    overwrite: bool,
) -> Result<Value, String> {
    nargs(name, args, 3)?;
    let k = want_str(&args[0])?;
    let mk = want_str(&args[1])?;
    let slot = store
        .entry(k.to_string())
        .or_insert_with(|| Value::Map(Rc::new(BTreeMap::new())));
    let Value::Map(m) = slot else {
        return Err(format!("{} is not a map", go_quote(k)));
    };
    let m = Rc::make_mut(m);
    if overwrite || !m.contains_key(mk) {
        m.insert(mk.to_string(), args[2].clone());
    }
    Ok(Value::str(""))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn scratch_is_fresh_per_render_and_keeps_values_within_one() {
        let src = r#"{{ scratch.Key "a" }}{{ scratch.Set "a" 1 }}{{ scratch.SetX "a" 2 }}{{ scratch.Get "a" }}"#;
        assert_eq!(render_text(src).unwrap(), "false1");
        assert_eq!(render_text(src).unwrap(), "false1");
    }

    #[test]
    fn map_values_come_in_key_order_and_map_set_refuses_a_non_map() {
        let src = r#"{{ scratch.MapSet "m" "b" 2 }}{{ scratch.MapSet "m" "a" 1 }}{{ scratch.MapSetX "m" "a" 9 }}{{ scratch.MapValues "m" }}"#;
        assert_eq!(render_text(src).unwrap(), "[1 2]");
        let err =
            render_text(r#"{{ scratch.Set "s" 1 }}{{ scratch.MapSet "s" "k" 2 }}"#).unwrap_err();
        assert!(
            err.contains(r#"error calling MapSet: "s" is not a map"#),
            "{err}"
        );
        let err = render_text(r#"{{ scratch.Get }}"#).unwrap_err();
        assert!(
            err.contains("wrong number of args for Get: want 1 got 0"),
            "{err}"
        );
    }
}
