//! Sprig's list functions (`list.go`). They take any slice (`[]interface{}`
//! or `[]string`) and return `[]interface{}`; the `must*` forms return the
//! error the plain forms panic with, which Go's template engine reports the
//! same way, so both behave alike in a template.

use std::rc::Rc;

use super::convert::{cast_int as to_int64, float_to_i64 as go_float_to_int};
use crate::funcs::{Call, Def, FResult, def, nargs, want_int};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_list", |c| Ok(list(std::mem::take(&mut c.args)))),
    def("sprig_tuple", |c| Ok(list(std::mem::take(&mut c.args)))),
    def("sprig_append", push),
    def("sprig_push", push),
    def("sprig_mustAppend", push),
    def("sprig_mustPush", push),
    def("sprig_prepend", prepend),
    def("sprig_mustPrepend", prepend),
    def("sprig_first", |c| end_item(c, "first", true)),
    def("sprig_mustFirst", |c| end_item(c, "first", true)),
    def("sprig_last", |c| end_item(c, "last", false)),
    def("sprig_mustLast", |c| end_item(c, "last", false)),
    def("sprig_rest", |c| all_but_one(c, "rest", true)),
    def("sprig_mustRest", |c| all_but_one(c, "rest", true)),
    def("sprig_initial", |c| all_but_one(c, "initial", false)),
    def("sprig_mustInitial", |c| all_but_one(c, "initial", false)),
    def("sprig_reverse", reverse),
    def("sprig_mustReverse", reverse),
    def("sprig_uniq", uniq),
    def("sprig_mustUniq", uniq),
    def("sprig_without", without),
    def("sprig_mustWithout", without),
    def("sprig_has", has),
    def("sprig_mustHas", has),
    def("sprig_slice", slice),
    def("sprig_mustSlice", slice),
    def("sprig_concat", concat),
    def("sprig_chunk", chunk),
    def("sprig_mustChunk", chunk),
];

pub(crate) use super::reflect::{deep_equal, kind_name};

/// What Go reports when Sprig asks `reflect.TypeOf(nil).Kind()`.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

pub(crate) fn list(items: Vec<Value>) -> Value {
    Value::List(Rc::new(items))
}

/// The elements of a slice argument, or Sprig's error naming the kind it
/// got (`Cannot {what} type KIND`, formatted by `message`).
fn elements(v: &Value, message: impl Fn(&str) -> String) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Strings(l) => Ok(l
            .iter()
            .flat_map(|l| l.iter())
            .map(|s| Value::str(s))
            .collect()),
        Value::Nil => Err(NIL_DEREF.into()),
        other => Err(message(kind_name(other))),
    }
}

fn contains(haystack: &[Value], needle: &Value) -> bool {
    haystack.iter().any(|h| deep_equal(needle, h))
}

/// `append`/`push LIST VALUE`.
fn push(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let mut items = elements(&c.args[0], |k| format!("Cannot push on type {k}"))?;
    items.push(c.args[1].clone());
    Ok(list(items))
}

/// `prepend LIST VALUE`.
fn prepend(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let mut items = elements(&c.args[0], |k| format!("Cannot prepend on type {k}"))?;
    items.insert(0, c.args[1].clone());
    Ok(list(items))
}

/// `first` or `last`: nil for an empty list.
fn end_item(c: &mut Call<'_>, what: &str, first: bool) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let items = elements(&c.args[0], |k| format!("Cannot find {what} on type {k}"))?;
    let item = if first { items.first() } else { items.last() };
    Ok(item.cloned().unwrap_or(Value::Nil))
}

/// `rest` (all but the first) or `initial` (all but the last).
fn all_but_one(c: &mut Call<'_>, what: &str, drop_first: bool) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let mut items = elements(&c.args[0], |k| format!("Cannot find {what} on type {k}"))?;
    if !items.is_empty() {
        if drop_first {
            items.remove(0);
        } else {
            items.pop();
        }
    }
    Ok(list(items))
}

fn reverse(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let mut items = elements(&c.args[0], |k| format!("Cannot find reverse on type {k}"))?;
    items.reverse();
    Ok(list(items))
}

/// `uniq LIST`: first occurrences, by `reflect.DeepEqual`.
fn uniq(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 1)?;
    let items = elements(&c.args[0], |k| format!("Cannot find uniq on type {k}"))?;
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !contains(&out, &item) {
            out.push(item);
        }
    }
    Ok(list(out))
}

/// `without LIST VALUE...`.
fn without(c: &mut Call<'_>) -> FResult {
    let Some((first, omit)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    let items = elements(first, |k| format!("Cannot find without on type {k}"))?;
    Ok(list(
        items.into_iter().filter(|i| !contains(omit, i)).collect(),
    ))
}

/// `has NEEDLE LIST` (a nil list has nothing).
fn has(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    if matches!(c.args[1], Value::Nil) {
        return Ok(Value::Bool(false));
    }
    let items = elements(&c.args[1], |k| format!("Cannot find has on type {k}"))?;
    Ok(Value::Bool(contains(&items, &c.args[0])))
}

/// `slice LIST [START [END]]`: the same slice type back, nil for an empty list.
fn slice(c: &mut Call<'_>) -> FResult {
    let Some((first, indices)) = c.args.split_first() else {
        return Err(format!(
            "wrong number of args for {}: want at least 1 got 0",
            c.name
        ));
    };
    let len = match first {
        Value::List(l) => l.len(),
        Value::Strings(l) => l.as_ref().map_or(0, |l| l.len()),
        Value::Nil => return Err(NIL_DEREF.into()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                kind_name(other)
            ));
        }
    };
    if len == 0 {
        return Ok(Value::Nil);
    }
    let start = indices.first().map_or(0, to_int64);
    let end = indices.get(1).map_or(len as i64, to_int64);
    if start < 0 || end < start || end > len as i64 {
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    let range = start as usize..end as usize;
    Ok(match first {
        Value::Strings(Some(l)) => Value::strings(l[range].to_vec()),
        Value::List(l) => list(l[range].to_vec()),
        _ => Value::Nil,
    })
}

/// `concat LIST...`: one `[]interface{}` (nil when there is nothing).
fn concat(c: &mut Call<'_>) -> FResult {
    let mut out = Vec::new();
    for l in &c.args {
        out.extend(elements(l, |k| format!("Cannot concat type {k} as list"))?);
    }
    Ok(list(out))
}

/// `chunk SIZE LIST`, with Sprig's float arithmetic for the chunk count (so
/// a size of 0 or below fails, or yields nothing, where Go does).
fn chunk(c: &mut Call<'_>) -> FResult {
    const BAD_LEN: &str = "runtime error: makeslice: len out of range";
    nargs(c.name, &c.args, 2)?;
    let size = want_int(&c.args[0])?;
    let items = elements(&c.args[1], |k| format!("Cannot chunk type {k}"))?;
    let len = items.len() as i64;
    let count = go_float_to_int(((len - 1) as f64 / size as f64).floor() + 1.0);
    if count < 0 {
        return Err(BAD_LEN.into());
    }
    let mut chunks = Vec::new();
    for i in 0..count {
        let mut chunk_len = size;
        if i == count - 1 {
            chunk_len = (len as f64 % size as f64).floor() as i64;
            if chunk_len == 0 {
                chunk_len = size;
            }
        }
        if chunk_len < 0 {
            return Err(BAD_LEN.into());
        }
        let start = (i * size) as usize;
        let Some(part) = items.get(start..start + chunk_len as usize) else {
            return Err("runtime error: index out of range".into());
        };
        chunks.push(list(part.to_vec()));
    }
    Ok(list(chunks))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn lists_print_and_compare_like_go() {
        assert_eq!(
            render_text(r#"{{ sprig_uniq (sprig_list 1 1 "1" 1.0 (sprig_list 1) (sprig_list 1)) }} {{ sprig_without (sprig_list 1 2 3 1) 1 3 }} {{ sprig_chunk 2 (sprig_list 1 2 3 4 5) }}"#).unwrap(),
            "[1 1 1 [1]] [2] [[1 2] [3 4] [5]]"
        );
        assert_eq!(
            render_text(r#"{{ sprig_slice (split "," "a,b,c") 1 }} {{ sprig_first (sprig_list) }} {{ sprig_rest (sprig_list) }}"#).unwrap(),
            "[b c] <no value> []"
        );
    }

    #[test]
    fn wrong_kinds_fail_with_sprigs_message() {
        let err = render_text(r#"{{ sprig_push "s" 1 }}"#).unwrap_err();
        assert!(err.contains("Cannot push on type string"), "{err}");
        let err = render_text(r#"{{ sprig_first nil }}"#).unwrap_err();
        assert!(err.contains("nil pointer dereference"), "{err}");
        let err = render_text(r#"{{ sprig_chunk 0 (sprig_list 1) }}"#).unwrap_err();
        assert!(err.contains("makeslice: len out of range"), "{err}");
        let err = render_text(r#"{{ sprig_slice (sprig_list 1 2) 2 1 }}"#).unwrap_err();
        assert!(err.contains("slice index out of bounds"), "{err}");
    }
}
