//! consul-template's map functions: `explodeMap`, `mergeMap`,
//! `mergeMapWithOverride`.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::{Call, Def, FResult, def, nargs};
use crate::gofmt::go_quote;
use crate::value::Value;

type Map = BTreeMap<String, Value>;

pub(super) const FUNCS: &[Def] = &[
    def("explodeMap", explode_map),
    def("mergeMap", |c| merge_map(c, false)),
    def("mergeMapWithOverride", |c| merge_map(c, true)),
];

/// A Go `map[string]interface{}` parameter (nil is an empty map).
fn want_map(v: &Value) -> Result<Map, String> {
    match v {
        Value::Map(m) => Ok(m.as_ref().clone()),
        Value::Nil => Ok(Map::new()),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

/// `explodeMap MAP`: `a/b/c` keys become nested maps, keys taken in sorted order.
fn explode_map(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let flat = want_map(&c.args[0])?;
    let mut out = Map::new();
    for (k, v) in &flat {
        explode_into(&mut out, k, v, k).map_err(|e| format!("explodeMap: {e}"))?;
    }
    Ok(Value::Map(Rc::new(out)))
}

fn explode_into(m: &mut Map, key: &str, v: &Value, whole: &str) -> Result<(), String> {
    let Some((top, rest)) = key.split_once('/') else {
        if !key.is_empty() {
            m.insert(key.to_string(), v.clone());
        }
        return Ok(());
    };
    let slot = m
        .entry(top.to_string())
        .or_insert_with(|| Value::Map(Rc::new(Map::new())));
    let Value::Map(nested) = slot else {
        return Err(format!(
            "not a map: {}: {} already has value {}",
            go_quote(whole),
            go_quote(top),
            quoted_value(slot)
        ));
    };
    explode_into(Rc::make_mut(nested), rest, v, key)
}

/// Go's `%q` of an interface value: strings quoted, others as `%!q(T=v)`.
fn quoted_value(v: &Value) -> String {
    match v {
        Value::Str(s) => go_quote(s),
        other => format!(
            "%!q({}={})",
            other.type_name(),
            crate::gofmt::sprint(std::slice::from_ref(other), false)
        ),
    }
}

/// `mergeMap DST SRC` (mergo.Map): keys of SRC that DST lacks or holds empty
/// are added, nested maps merge, and with override SRC's other values win.
///
/// Known difference: mergo also changes DST in place, so a template that
/// prints DST after merging sees the merge in `bao agent`, not in kagi.
fn merge_map(c: &mut Call<'_>, overwrite: bool) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let mut dst = want_map(&c.args[0])?;
    let src = want_map(&c.args[1])?;
    merge_into(&mut dst, &src, overwrite);
    Ok(Value::Map(Rc::new(dst)))
}

fn merge_into(dst: &mut Map, src: &Map, overwrite: bool) {
    for (k, sv) in src {
        if matches!(sv, Value::Nil) {
            if overwrite {
                dst.insert(k.clone(), Value::Nil);
            }
            continue;
        }
        let dv = dst.get_mut(k);
        let dst_empty = dv.as_ref().is_none_or(|d| is_empty(d));
        match (sv, dv) {
            (Value::Map(s), Some(Value::Map(d))) if !dst_empty => {
                merge_into(Rc::make_mut(d), s, overwrite);
                continue;
            }
            (Value::Map(_), Some(_)) if !dst_empty => continue,
            (Value::List(_), Some(_)) if !dst_empty && !overwrite => continue,
            _ => {}
        }
        if overwrite || dst_empty {
            dst.insert(k.clone(), sv.clone());
        }
    }
}

/// Go's zero values and empty containers (mergo's `isEmptyValue`).
fn is_empty(v: &Value) -> bool {
    !v.is_true()
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn explode_nests_slash_keys() {
        let out = render_text(r#"{{ explodeMap (parseJSON `{"a/b": 1, "a/c": 2, "d": 3}`) }}"#);
        assert_eq!(out.unwrap(), "map[a:map[b:1 c:2] d:3]");
        let err =
            render_text(r#"{{ explodeMap (parseJSON `{"a": "x", "a/b": 1}`) }}"#).unwrap_err();
        assert!(
            err.contains(r#"explodeMap: not a map: "a/b": "a" already has value "x""#),
            "{err}"
        );
    }

    #[test]
    fn merge_keeps_or_overrides_and_merges_nested_maps() {
        let dst = r#"(parseJSON `{"a": 1, "n": {"x": 1}, "l": [1], "e": ""}`)"#;
        let src = r#"(parseJSON `{"a": 2, "n": {"y": 2}, "l": [2], "e": "f", "b": 3}`)"#;
        assert_eq!(
            render_text(&format!("{{{{ mergeMap {dst} {src} }}}}")).unwrap(),
            "map[a:1 b:3 e:f l:[1] n:map[x:1 y:2]]"
        );
        assert_eq!(
            render_text(&format!("{{{{ mergeMapWithOverride {dst} {src} }}}}")).unwrap(),
            "map[a:2 b:3 e:f l:[2] n:map[x:1 y:2]]"
        );
    }
}
