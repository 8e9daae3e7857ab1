//! The JSON patch between two JSON documents, keeping array elements in place.
//!
//! `json_patch::diff` compares arrays position by position, so inserting the agent in front
//! of a Pod's own init containers comes out as "rewrite element 0 into the agent, element 1
//! into what element 0 was, ..., add the last one". Applied to the Pod as the API server holds
//! it, that drags every field kagi does not model from one container into its neighbour.
//! Here, when the old array is an ordered subsequence of the new one (elements matched by
//! `name`, or by value when they have none), the patch adds the new elements where they go
//! and diffs each kept element with itself. Only arrays whose elements were removed or
//! reordered fall back to the positional diff.

use json_patch::jsonptr::{Pointer, PointerBuf, Token};
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;

/// The operations that turn `before` into `after`. `after` is taken apart: what it adds
/// moves into the operations instead of being copied.
#[cfg(test)] // the typed diff (`pod_diff`) is what the webhook runs; this is its reference
pub(crate) fn diff(before: &Value, after: Value) -> json_patch::Patch {
    let mut operations = Vec::new();
    diff_at(&PointerBuf::root(), before, after, &mut operations);
    json_patch::Patch(operations)
}

/// The operations that turn `before` into `after`, both found at `path`.
pub(super) fn diff_at(path: &Pointer, before: &Value, after: Value, out: &mut Vec<PatchOperation>) {
    if *before == after {
        return;
    }
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                out.push(PatchOperation::Remove(RemoveOperation {
                    path: path.with_trailing_token(Token::new(key.as_str())),
                }));
            }
            for (key, value) in new {
                member_at(path, old.get(&key), &key, value, out);
            }
        }
        (Value::Array(old), Value::Array(new)) => match kept_positions(old, &new) {
            Some(kept) => {
                // Adds first, in increasing final position: each lands where it belongs,
                // and afterwards every kept element sits at its final index.
                let mut kept_values = Vec::with_capacity(kept.len());
                let mut next_kept = kept.iter().peekable();
                for (index, value) in new.into_iter().enumerate() {
                    if next_kept.peek().is_some_and(|&&(_, at)| at == index) {
                        kept_values.push(value);
                        next_kept.next();
                    } else {
                        out.push(PatchOperation::Add(AddOperation {
                            path: path.with_trailing_token(Token::new(index.to_string())),
                            value,
                        }));
                    }
                }
                for ((from, to), value) in kept.into_iter().zip(kept_values) {
                    if old[from] != value {
                        let at = path.with_trailing_token(Token::new(to.to_string()));
                        diff_at(&at, &old[from], value, out);
                    }
                }
            }
            None => {
                let positional = json_patch::diff(before, &Value::Array(new));
                out.extend(positional.0.into_iter().map(|op| under(path, op)));
            }
        },
        (_, after) => out.push(PatchOperation::Replace(ReplaceOperation {
            path: path.to_buf(),
            value: after,
        })),
    }
}

/// The operations for member `key` of an object at `path`, `previous` its old value.
pub(super) fn member_at(
    path: &Pointer,
    previous: Option<&Value>,
    key: &str,
    value: Value,
    out: &mut Vec<PatchOperation>,
) {
    // Most keys of a changed object are unchanged: no path is built for them.
    if previous == Some(&value) {
        return;
    }
    let at = path.with_trailing_token(Token::new(key));
    match previous {
        Some(previous) => diff_at(&at, previous, value, out),
        None => out.push(PatchOperation::Add(AddOperation { path: at, value })),
    }
}

/// For each element of `old`, its index in `new`, if `old` is an ordered subsequence of `new`.
fn kept_positions(old: &[Value], new: &[Value]) -> Option<Vec<(usize, usize)>> {
    let mut kept = Vec::with_capacity(old.len());
    let mut candidates = new.iter().enumerate();
    for (from, element) in old.iter().enumerate() {
        let (to, _) = candidates.find(|(_, candidate)| same_element(element, candidate))?;
        kept.push((from, to));
    }
    Some(kept)
}

fn same_element(old: &Value, new: &Value) -> bool {
    match (old.get("name"), new.get("name")) {
        (Some(Value::String(a)), Some(Value::String(b))) => a == b,
        _ => old == new,
    }
}

/// Moves an operation from the root of a sub-document to `prefix`.
fn under(prefix: &Pointer, op: PatchOperation) -> PatchOperation {
    let at = |path: &PointerBuf| prefix.concat(path);
    match op {
        PatchOperation::Add(mut op) => {
            op.path = at(&op.path);
            PatchOperation::Add(op)
        }
        PatchOperation::Remove(mut op) => {
            op.path = at(&op.path);
            PatchOperation::Remove(op)
        }
        PatchOperation::Replace(mut op) => {
            op.path = at(&op.path);
            PatchOperation::Replace(op)
        }
        PatchOperation::Move(mut op) => {
            op.path = at(&op.path);
            op.from = at(&op.from);
            PatchOperation::Move(op)
        }
        PatchOperation::Copy(mut op) => {
            op.path = at(&op.path);
            op.from = at(&op.from);
            PatchOperation::Copy(op)
        }
        PatchOperation::Test(mut op) => {
            op.path = at(&op.path);
            PatchOperation::Test(op)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn applied(before: &Value, after: &Value) -> (Value, json_patch::Patch) {
        let patch = diff(before, after.clone());
        let mut patched = before.clone();
        json_patch::patch(&mut patched, &patch).expect("applies");
        (patched, patch)
    }

    #[test]
    fn inserting_in_front_adds_one_element_and_touches_no_other() {
        let before = json!({"init": [{"name": "a", "x": 1}, {"name": "b"}]});
        let after =
            json!({"init": [{"name": "agent"}, {"name": "a", "x": 1, "m": [1]}, {"name": "b"}]});
        let (patched, patch) = applied(&before, &after);
        assert_eq!(patched, after);
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([
                {"op": "add", "path": "/init/0", "value": {"name": "agent"}},
                {"op": "add", "path": "/init/1/m", "value": [1]}
            ])
        );
    }

    #[test]
    fn fields_only_the_raw_document_has_stay_with_their_element() {
        let typed_before = json!({"c": [{"name": "a"}, {"name": "b"}]});
        let typed_after =
            json!({"c": [{"name": "agent"}, {"name": "a"}, {"name": "b", "env": []}]});
        let mut raw = json!({"c": [{"name": "a", "future": "A"}, {"name": "b", "future": "B"}]});
        json_patch::patch(&mut raw, &diff(&typed_before, typed_after)).unwrap();
        assert_eq!(
            raw,
            json!({"c": [{"name": "agent"}, {"name": "a", "future": "A"}, {"name": "b", "future": "B", "env": []}]})
        );
    }

    #[test]
    fn unnamed_elements_match_by_value() {
        let before = json!({"args": ["x", "y"]});
        let after = json!({"args": ["run", "x", "y", "z"]});
        let (patched, patch) = applied(&before, &after);
        assert_eq!(patched, after);
        assert_eq!(patch.0.len(), 2);
    }

    #[test]
    fn removals_and_reorders_fall_back_to_a_positional_diff() {
        for (before, after) in [
            (
                json!({"a": [{"name": "x"}, {"name": "y"}]}),
                json!({"a": [{"name": "y"}, {"name": "x"}]}),
            ),
            (json!({"a": [1, 2, 3]}), json!({"a": [1, 3]})),
            (json!({"a": {"b~c/d": [1]}}), json!({"a": {"b~c/d": [2]}})),
        ] {
            assert_eq!(applied(&before, &after).0, after);
        }
    }

    #[test]
    fn objects_and_scalars_diff_by_key() {
        let before = json!({"keep": 1, "drop": 2, "change": {"deep": "x"}, "anno": {"a/b": "1"}});
        let after = json!({"keep": 1, "change": {"deep": "y"}, "anno": {"a/b": "1", "c/d": "2"}, "new": true});
        assert_eq!(applied(&before, &after).0, after);
    }
}
