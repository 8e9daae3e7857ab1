//! The patch between two typed Pods, built without serializing either whole Pod.
//!
//! [`patch::diff`] over the two Pods' JSON trees is the patch the webhook has always sent;
//! this builds the same operations in the same order while serializing only what changed
//! (`tests.rs` holds it to the whole-tree diff). The parts the mutation touches are compared
//! as typed values: the Pod's members, the metadata's annotations, the spec's containers, init
//! containers and volumes (element by element, matched by name as [`patch`] matches them).
//! The other members of the metadata and of the spec are one small JSON tree per side, made
//! only when they differ.
//!
//! Members are visited in the order serde_json's map (a BTreeMap: keys in byte order) visits
//! them in the whole-tree diff: the removed keys first, then every key of the new object.
//!
//! The operations are written as JSON text as they are found ([`Ops`]): what a patch adds (an
//! agent container, a volume) goes from the typed struct straight to bytes, never through a
//! `serde_json::Value` tree and a `json_patch::Patch`.

use std::collections::BTreeMap;

use json_patch::PatchOperation;
use json_patch::jsonptr::{Pointer, PointerBuf, Token};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::{Map, Value};

use super::patch::{diff_at, member_at};

type Result<T = ()> = std::result::Result<T, serde_json::Error>;
/// Writes the operations of one typed member, given its path.
type MemberDiff<'a> = Box<dyn FnOnce(&Pointer, &mut Ops) -> Result + 'a>;

/// The operations that turn `before` into `after`, as [`patch::diff`] of their JSON trees
/// would give them, as the JSON text `serde_json` writes for that `json_patch::Patch`.
pub(crate) fn diff(before: Pod, after: Pod) -> Result<Vec<u8>> {
    let mut out = Ops::default();
    if before == after {
        return Ok(out.finish());
    }
    // apiVersion and kind are constants of the type: never a change.
    let Pod {
        metadata: meta_before,
        spec: spec_before,
        status: status_before,
    } = before;
    let Pod {
        metadata: meta_after,
        spec: spec_after,
        status: status_after,
    } = after;
    let status = Member::new(
        "status",
        status_before.is_some(),
        status_after.is_some(),
        move |at, out| whole(at, status_before.as_ref(), status_after.as_ref(), out),
    );
    let spec = Member::new(
        "spec",
        spec_before.is_some(),
        spec_after.is_some(),
        move |at, out| match (spec_before, spec_after) {
            (Some(before), Some(after)) => spec(at, before, after, out),
            (before, after) => whole(at, before.as_ref(), after.as_ref(), out),
        },
    );
    let metadata = Member::new("metadata", true, true, move |at, out| {
        metadata(at, meta_before, meta_after, out)
    });
    let members = vec![metadata, spec, status];
    object(
        &PointerBuf::root(),
        &Map::new(),
        Map::new(),
        members,
        &mut out,
    )?;
    Ok(out.finish())
}

/// A JSON patch being written: `[`, then each operation as `json_patch` serializes it.
///
/// Byte for byte what `serde_json::to_vec(&json_patch::Patch)` gives for the same
/// operations: an operation writes `op` first, then its members in the order the
/// `json_patch` structs declare them; and a typed value written directly has its keys in byte
/// order, as in a `Value` map (k8s-openapi serializes every field in key order, and its maps
/// are BTreeMaps). `tests_patch.rs` holds it to the encoded whole-tree patch.
#[derive(Default)]
pub(crate) struct Ops {
    json: Vec<u8>,
}

impl Ops {
    /// Opens an operation `{"op":OP,"path":PATH`; the caller writes the rest and the `}`.
    fn open(&mut self, op: &str, path: &Pointer) -> Result {
        self.json
            .push(if self.json.is_empty() { b'[' } else { b',' });
        self.json.extend_from_slice(b"{\"op\":\"");
        self.json.extend_from_slice(op.as_bytes());
        self.json.extend_from_slice(b"\",\"path\":");
        serde_json::to_writer(&mut self.json, path.as_str())
    }

    /// An `add` or `replace` of `value`, written from its type.
    fn put<T: Serialize + ?Sized>(&mut self, op: &str, path: &Pointer, value: &T) -> Result {
        self.open(op, path)?;
        self.json.extend_from_slice(b",\"value\":");
        serde_json::to_writer(&mut self.json, value)?;
        self.json.push(b'}');
        Ok(())
    }

    fn add<T: Serialize + ?Sized>(&mut self, path: &Pointer, value: &T) -> Result {
        self.put("add", path, value)
    }

    fn replace<T: Serialize + ?Sized>(&mut self, path: &Pointer, value: &T) -> Result {
        self.put("replace", path, value)
    }

    fn remove(&mut self, path: &Pointer) -> Result {
        self.open("remove", path)?;
        self.json.push(b'}');
        Ok(())
    }

    /// Operations found by the tree diff ([`patch`]).
    fn extend(&mut self, ops: Vec<PatchOperation>) -> Result {
        for op in ops {
            self.json
                .push(if self.json.is_empty() { b'[' } else { b',' });
            serde_json::to_writer(&mut self.json, &op)?;
        }
        Ok(())
    }

    /// The tree diff of two JSON values at `at`.
    fn diff_trees(&mut self, at: &Pointer, before: &Value, after: Value) -> Result {
        let mut ops = Vec::new();
        diff_at(at, before, after, &mut ops);
        self.extend(ops)
    }

    /// The JSON text of the patch (`[]` when it has no operation).
    fn finish(mut self) -> Vec<u8> {
        if self.json.is_empty() {
            self.json.extend_from_slice(b"[]");
        } else {
            self.json.push(b']');
        }
        self.json
    }
}

fn metadata(at: &Pointer, mut before: ObjectMeta, mut after: ObjectMeta, out: &mut Ops) -> Result {
    if before == after {
        return Ok(());
    }
    let annotations_before = before.annotations.take();
    let annotations_after = after.annotations.take();
    let annotations = Member::new(
        "annotations",
        annotations_before.is_some(),
        annotations_after.is_some(),
        move |at, out| string_map(at, annotations_before, annotations_after, out),
    );
    let (old, new) = rest(&before, &after, &[])?;
    object(at, &old, new, vec![annotations], out)
}

fn spec(at: &Pointer, mut before: PodSpec, mut after: PodSpec, out: &mut Ops) -> Result {
    if before == after {
        return Ok(());
    }
    let containers_before = std::mem::take(&mut before.containers);
    let containers_after = std::mem::take(&mut after.containers);
    let init_before = before.init_containers.take();
    let init_after = after.init_containers.take();
    let volumes_before = before.volumes.take();
    let volumes_after = after.volumes.take();
    let members = vec![
        Member::new("containers", true, true, move |at, out| {
            list(at, Some(containers_before), Some(containers_after), out)
        }),
        Member::new(
            "initContainers",
            init_before.is_some(),
            init_after.is_some(),
            move |at, out| list(at, init_before, init_after, out),
        ),
        Member::new(
            "volumes",
            volumes_before.is_some(),
            volumes_after.is_some(),
            move |at, out| list(at, volumes_before, volumes_after, out),
        ),
    ];
    // `containers` is required, so the rest still writes it (empty on both sides).
    let (old, new) = rest(&before, &after, &["containers"])?;
    object(at, &old, new, members, out)
}

/// One member of an object that is diffed as a typed value.
struct Member<'a> {
    key: &'static str,
    /// Whether the old and the new JSON object have the key.
    before: bool,
    after: bool,
    /// The operations for a key the new object has.
    diff: MemberDiff<'a>,
}

impl<'a> Member<'a> {
    fn new(
        key: &'static str,
        before: bool,
        after: bool,
        diff: impl FnOnce(&Pointer, &mut Ops) -> Result + 'a,
    ) -> Self {
        Self {
            key,
            before,
            after,
            diff: Box::new(diff),
        }
    }
}

/// An object whose members are `old`/`new` (JSON trees) and `members` (typed, none of them
/// in `old` or `new`), diffed as [`patch::diff`] diffs objects.
fn object(
    path: &Pointer,
    old: &Map<String, Value>,
    new: Map<String, Value>,
    mut members: Vec<Member<'_>>,
    out: &mut Ops,
) -> Result {
    let mut removed: Vec<&str> = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .map(String::as_str)
        .chain(
            members
                .iter()
                .filter(|m| m.before && !m.after)
                .map(|m| m.key),
        )
        .collect();
    removed.sort_unstable();
    for key in removed {
        out.remove(&path.with_trailing_token(Token::new(key)))?;
    }
    members.retain(|m| m.after);
    members.sort_unstable_by_key(|m| m.key);
    let mut members = members.into_iter().peekable();
    let run = |member: Member<'_>, out: &mut Ops| -> Result {
        let at = path.with_trailing_token(Token::new(member.key));
        (member.diff)(&at, out)
    };
    for (key, value) in new {
        while let Some(member) = members.next_if(|m| m.key < key.as_str()) {
            run(member, out)?;
        }
        let mut ops = Vec::new();
        member_at(path, old.get(&key), &key, value, &mut ops);
        out.extend(ops)?;
    }
    for member in members {
        run(member, out)?;
    }
    Ok(())
}

/// The JSON trees of two structs whose typed members were taken out, without `skip` (keys
/// the typed members stand for); empty when the two are equal.
fn rest<T: Serialize + PartialEq>(
    before: &T,
    after: &T,
    skip: &[&str],
) -> Result<(Map<String, Value>, Map<String, Value>)> {
    if before == after {
        return Ok((Map::new(), Map::new()));
    }
    let tree = |value: &T| -> Result<Map<String, Value>> {
        match serde_json::to_value(value)? {
            Value::Object(mut map) => {
                for key in skip {
                    map.remove(*key);
                }
                Ok(map)
            }
            _ => Err(serde::ser::Error::custom(
                "a struct did not serialize to an object",
            )),
        }
    };
    Ok((tree(before)?, tree(after)?))
}

/// A member that is diffed as one JSON tree per side. A member only `before` has was removed
/// by the caller.
fn whole<T: Serialize + PartialEq>(
    at: &Pointer,
    before: Option<&T>,
    after: Option<&T>,
    out: &mut Ops,
) -> Result {
    match (before, after) {
        (_, None) => {}
        (None, Some(after)) => out.add(at, after)?,
        (Some(before), Some(after)) if before != after => {
            let before = serde_json::to_value(before)?;
            out.diff_trees(at, &before, serde_json::to_value(after)?)?;
        }
        (Some(_), Some(_)) => {}
    }
    Ok(())
}

/// A map of strings (annotations), key by key.
fn string_map(
    at: &Pointer,
    before: Option<BTreeMap<String, String>>,
    after: Option<BTreeMap<String, String>>,
    out: &mut Ops,
) -> Result {
    let Some((before, after)) = on_both_sides(at, before, after, out)? else {
        return Ok(());
    };
    for key in before.keys().filter(|key| !after.contains_key(*key)) {
        out.remove(&at.with_trailing_token(Token::new(key.as_str())))?;
    }
    for (key, value) in &after {
        let previous = before.get(key);
        if previous == Some(value) {
            continue;
        }
        let path = at.with_trailing_token(Token::new(key.as_str()));
        match previous {
            Some(_) => out.replace(&path, value)?,
            None => out.add(&path, value)?,
        }
    }
    Ok(())
}

/// What an array element is matched by.
trait Named: Serialize + PartialEq + Sized {
    fn name(&self) -> &str;

    /// The operations for an element kept at `at` that changed: by default the diff of its
    /// two JSON trees.
    fn diff_kept(at: &Pointer, before: Self, after: Self, out: &mut Ops) -> Result {
        let old = serde_json::to_value(&before)?;
        out.diff_trees(at, &old, serde_json::to_value(&after)?)
    }
}

impl Named for Container {
    fn name(&self) -> &str {
        &self.name
    }

    /// An app container the mutation changed got volume mounts: those are diffed as a typed
    /// list (the added mount written from its struct), the rest as JSON trees only if it
    /// changed too.
    fn diff_kept(at: &Pointer, mut before: Self, mut after: Self, out: &mut Ops) -> Result {
        let mounts_before = before.volume_mounts.take();
        let mounts_after = after.volume_mounts.take();
        let mounts = Member::new(
            "volumeMounts",
            mounts_before.is_some(),
            mounts_after.is_some(),
            move |at, out| list(at, mounts_before, mounts_after, out),
        );
        let (old, new) = rest(&before, &after, &[])?;
        object(at, &old, new, vec![mounts], out)
    }
}

impl Named for VolumeMount {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Volume {
    fn name(&self) -> &str {
        &self.name
    }
}

/// A list of named elements: when the old list is an ordered subsequence of the new one,
/// the new elements are added where they go and each kept element is diffed with itself
/// (as [`patch`] does for arrays); otherwise the positional diff of the two JSON arrays.
fn list<T: Named>(
    at: &Pointer,
    before: Option<Vec<T>>,
    after: Option<Vec<T>>,
    out: &mut Ops,
) -> Result {
    let Some((before, after)) = on_both_sides(at, before, after, out)? else {
        return Ok(());
    };
    if before == after {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(before.len());
    let mut candidates = after.iter().enumerate();
    for (from, element) in before.iter().enumerate() {
        match candidates.find(|(_, candidate)| candidate.name() == element.name()) {
            Some((to, _)) => kept.push((from, to)),
            None => {
                let old = serde_json::to_value(&before)?;
                return out.diff_trees(at, &old, serde_json::to_value(&after)?);
            }
        }
    }
    let index = |i: usize| at.with_trailing_token(Token::new(i.to_string()));
    let mut next_kept = kept.iter().peekable();
    for (i, element) in after.iter().enumerate() {
        if next_kept.next_if(|&&(_, to)| to == i).is_none() {
            out.add(&index(i), element)?;
        }
    }
    // Every element of `before` is kept, in order, at increasing positions of `after`.
    let mut after = after.into_iter().enumerate();
    for (element, &(_, to)) in before.into_iter().zip(&kept) {
        let Some((_, new)) = after.find(|(i, _)| *i == to) else {
            unreachable!("kept positions increase");
        };
        if element != new {
            T::diff_kept(&index(to), element, new, out)?;
        }
    }
    Ok(())
}

/// Both sides of a member, when both have it. A member only `after` has is added here; one
/// only `before` has was removed by the caller.
fn on_both_sides<T: Serialize>(
    at: &Pointer,
    before: Option<T>,
    after: Option<T>,
    out: &mut Ops,
) -> Result<Option<(T, T)>> {
    match (before, after) {
        (Some(before), Some(after)) => Ok(Some((before, after))),
        (None, Some(after)) => {
            out.add(at, &after)?;
            Ok(None)
        }
        (_, None) => Ok(None),
    }
}
