//! Sprig's dictionary functions (`dict.go`). A dict is a Go
//! `map[string]interface{}`, a reference: `set`, `unset` and `merge` change
//! the map itself, and every variable holding it sees the change.
//!
//! Go ranges over maps in random order, so `keys` and `values` of more than
//! one key are in random order in bao; here they are in key order.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::lists::list;
use super::strval;
use crate::funcs::{Call, Def, FResult, def, nargs, want_str};
use crate::value::{GoMap, Value};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_dict", dict),
    def("sprig_get", get),
    def("sprig_set", set),
    def("sprig_unset", unset),
    def("sprig_hasKey", |c| {
        nargs(c.name, &c.args, 2)?;
        let d = want_map(&c.args[0])?;
        let key = want_str(&c.args[1])?;
        Ok(Value::Bool(d.is_some_and(|d| d.borrow().contains_key(key))))
    }),
    def("sprig_pluck", pluck),
    def("sprig_keys", keys),
    def("sprig_pick", |c| pick(c, true)),
    def("sprig_omit", |c| pick(c, false)),
    def("sprig_merge", |c| merge(c, false)),
    def("sprig_mustMerge", |c| merge(c, false)),
    def("sprig_mergeOverwrite", |c| merge(c, true)),
    def("sprig_mustMergeOverwrite", |c| merge(c, true)),
    def("sprig_values", |c| {
        nargs(c.name, &c.args, 1)?;
        let d = want_map(&c.args[0])?;
        Ok(list(
            d.map(|d| d.borrow().values().cloned().collect())
                .unwrap_or_default(),
        ))
    }),
    def("sprig_dig", dig),
];

/// A Go `map[string]interface{}` parameter; nil is a nil map.
fn want_map(v: &Value) -> Result<Option<&GoMap>, String> {
    match v {
        Value::Map(m) => Ok(Some(m)),
        Value::Nil => Ok(None),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

/// The map to write into: Go panics on a write to a nil map.
fn writable(v: &Value) -> Result<&GoMap, String> {
    want_map(v)?.ok_or_else(|| "assignment to entry in nil map".to_string())
}

/// Whether `v` is, or (through maps and lists) holds, the map `m`: storing
/// it in `m` would make a map that contains itself.
fn holds(v: &Value, m: &GoMap) -> bool {
    match v {
        Value::Map(x) => Rc::ptr_eq(x, m) || x.borrow().values().any(|e| holds(e, m)),
        Value::List(l) => l.iter().any(|e| holds(e, m)),
        _ => false,
    }
}

/// `dict KEY VALUE ...`: keys as `strval`, a key without value maps to "".
fn dict(c: &mut Call<'_>) -> FResult {
    let mut out = BTreeMap::new();
    for pair in c.args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_else(|| Value::str(""));
        out.insert(strval(&pair[0]), value);
    }
    Ok(Value::map(out))
}

/// `get DICT KEY`: the value, or "" when the key is absent.
fn get(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let d = want_map(&c.args[0])?;
    let key = want_str(&c.args[1])?;
    Ok(d.and_then(|d| d.borrow().get(key).cloned())
        .unwrap_or_else(|| Value::str("")))
}

/// `set DICT KEY VALUE`: changes DICT and returns it.
fn set(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 3)?;
    let d = writable(&c.args[0])?;
    let key = want_str(&c.args[1])?;
    if holds(&c.args[2], d) {
        return Err("a map cannot be stored inside itself".into());
    }
    d.borrow_mut().insert(key.to_string(), c.args[2].clone());
    Ok(c.args[0].clone())
}

/// `unset DICT KEY`: changes DICT and returns it.
fn unset(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let key = want_str(&c.args[1])?;
    if let Some(d) = want_map(&c.args[0])? {
        d.borrow_mut().remove(key);
    }
    Ok(c.args[0].clone())
}

/// `pluck KEY DICT...`: the values KEY has in each dict that has it.
fn pluck(c: &mut Call<'_>) -> FResult {
    let Some((key, dicts)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    let key = want_str(key)?;
    let mut out = Vec::new();
    for d in dicts {
        if let Some(v) = want_map(d)?.and_then(|d| d.borrow().get(key).cloned()) {
            out.push(v);
        }
    }
    Ok(list(out))
}

/// `keys DICT...`: every key of every dict (duplicates kept).
fn keys(c: &mut Call<'_>) -> FResult {
    let mut out = Vec::new();
    for d in &c.args {
        if let Some(d) = want_map(d)? {
            out.extend(d.borrow().keys().cloned());
        }
    }
    Ok(Value::strings(out))
}

/// `pick DICT KEY...` (`keep`) or `omit DICT KEY...`: a new dict.
fn pick(c: &mut Call<'_>, keep: bool) -> FResult {
    let Some((d, names)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    let d = want_map(d)?;
    let names: Vec<&str> = names.iter().map(want_str).collect::<Result<_, _>>()?;
    let out = d
        .map(|d| {
            d.borrow()
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()) == keep)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Value::map(out))
}

/// `merge DST SRC...` (mergo.Merge) or `mergeOverwrite` (mergo.MergeWithOverwrite):
/// DST is changed and returned.
fn merge(c: &mut Call<'_>, overwrite: bool) -> FResult {
    let Some((dst, srcs)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    let srcs: Vec<Option<&GoMap>> = srcs.iter().map(want_map).collect::<Result<_, _>>()?;
    let Some(dst_map) = want_map(dst)? else {
        return Ok(Value::Nil);
    };
    for src in srcs.into_iter().flatten() {
        let entries: Vec<(String, Value)> = src
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if entries.iter().any(|(_, v)| holds(v, dst_map)) {
            return Err("a map cannot be merged into itself".into());
        }
        merge_into(dst_map, entries, overwrite);
    }
    Ok(dst.clone())
}

/// mergo's rules for one map: a key DST lacks (or holds an empty value for)
/// takes SRC's value; two maps merge deeply; otherwise DST keeps its value,
/// unless `overwrite`, where SRC's value wins (nil included). A nil in SRC
/// never fills a key without `overwrite`.
fn merge_into(dst: &GoMap, src: Vec<(String, Value)>, overwrite: bool) {
    for (key, value) in src {
        let current = dst.borrow().get(&key).cloned();
        match (current, &value) {
            (_, Value::Nil) if !overwrite => {}
            (Some(Value::Map(d)), Value::Map(s)) if !d.borrow().is_empty() => {
                if !Rc::ptr_eq(&d, s) {
                    let entries = s
                        .borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    merge_into(&d, entries, overwrite);
                }
            }
            (Some(current), _) if !overwrite && is_empty_value(&current) => {
                dst.borrow_mut().insert(key, value);
            }
            (Some(_), _) if !overwrite => {}
            _ => {
                dst.borrow_mut().insert(key, value);
            }
        }
    }
}

/// mergo's `isEmptyValue`: Go's zero values and empty collections.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Nil | Value::NilPtr(_) => true,
        Value::Struct(_) => false,
        other => !other.is_true(),
    }
}

/// `dig KEY... DEFAULT DICT`: the value at the path of keys, or DEFAULT.
fn dig(c: &mut Call<'_>) -> FResult {
    if c.args.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let (dict, rest) = c.args.split_last().expect("three arguments");
    let (default, path) = rest.split_last().expect("two arguments");
    let mut current = as_dict(dict)?;
    let keys: Vec<&str> = path
        .iter()
        .map(|k| {
            k.as_str_kind()
                .filter(|_| matches!(k, Value::Str(_)))
                .ok_or_else(|| conversion_error(k, "string"))
        })
        .collect::<Result<_, _>>()?;
    for (i, key) in keys.iter().enumerate() {
        let Some(step) = current.borrow().get(*key).cloned() else {
            return Ok(default.clone());
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        let next = as_dict(&step)?;
        current = next;
    }
    Ok(default.clone())
}

/// Go's `v.(map[string]interface{})`.
fn as_dict(v: &Value) -> Result<GoMap, String> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        other => Err(conversion_error(other, "map[string]interface {}")),
    }
}

/// The panic of a failed Go type assertion on an `interface{}`.
fn conversion_error(v: &Value, want: &str) -> String {
    match v {
        Value::Nil => format!("interface conversion: interface is nil, not {want}"),
        other => format!(
            "interface conversion: interface {{}} is {}, not {want}",
            other.type_name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn set_and_merge_change_the_map_itself() {
        assert_eq!(
            render_text(r#"{{ $d := sprig_dict "a" 1 }}{{ $_ := sprig_set $d "b" 2 }}{{ $n := sprig_merge $d (sprig_dict "c" 3) }}{{ $d }} {{ sprig_unset $n "a" }} {{ $d }}"#).unwrap(),
            "map[a:1 b:2 c:3] map[b:2 c:3] map[b:2 c:3]"
        );
    }

    #[test]
    fn merge_follows_mergo() {
        assert_eq!(
            render_text(r#"{{ sprig_merge (sprig_dict "a" "" "b" 1 "n" (sprig_dict "x" 1 "y" "")) (sprig_dict "a" "x" "b" 2 "c" 3 "n" (sprig_dict "y" 2 "z" 3)) }}"#).unwrap(),
            "map[a:x b:1 c:3 n:map[x:1 y:2 z:3]]"
        );
        assert_eq!(
            render_text(r#"{{ sprig_mergeOverwrite (sprig_dict "a" "x" "b" 1 "s" "str" "n" (sprig_dict "x" 1)) (sprig_dict "a" "" "b" 0 "c" nil "s" (sprig_dict "z" 1) "n" (sprig_dict "x" 2)) }}"#).unwrap(),
            "map[a: b:0 c:<nil> n:map[x:2] s:map[z:1]]"
        );
    }

    #[test]
    fn a_map_cannot_hold_itself() {
        let err = render_text(r#"{{ $d := sprig_dict }}{{ sprig_set $d "me" $d }}"#).unwrap_err();
        assert!(err.contains("inside itself"), "{err}");
        let err =
            render_text(r#"{{ $d := sprig_dict "a" 1 }}{{ sprig_merge $d (sprig_dict "me" $d) }}"#)
                .unwrap_err();
        assert!(err.contains("into itself"), "{err}");
    }

    #[test]
    fn dig_walks_nested_dicts() {
        assert_eq!(
            render_text(r#"{{ sprig_dig "a" "b" "def" (sprig_dict "a" (sprig_dict "b" 5)) }} {{ sprig_dig "a" "z" "def" (sprig_dict "a" (sprig_dict "b" 5)) }}"#).unwrap(),
            "5 def"
        );
        let err = render_text(r#"{{ sprig_dig "a" "b" 0 (sprig_dict "a" 1) }}"#).unwrap_err();
        assert!(
            err.contains("interface conversion: interface {} is int, not map[string]interface {}"),
            "{err}"
        );
    }
}
