//! Sprig's path functions: `base dir clean ext isAbs` (Go's `path`) and
//! `osBase osDir osClean osExt osIsAbs` (Go's `path/filepath`, which on Linux,
//! where the agent runs, computes the same results).

use crate::funcs::{Def, FResult, def, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_base", |c| one(c.name, &c.args, base)),
    def("sprig_dir", |c| one(c.name, &c.args, dir)),
    def("sprig_clean", |c| one(c.name, &c.args, clean)),
    def("sprig_ext", |c| {
        one(c.name, &c.args, |p| ext(p).to_string())
    }),
    def("sprig_isAbs", |c| {
        Ok(Value::Bool(
            str_args(c.name, &c.args, 1)?[0].starts_with('/'),
        ))
    }),
    def("sprig_osBase", |c| one(c.name, &c.args, base)),
    def("sprig_osDir", |c| one(c.name, &c.args, dir)),
    def("sprig_osClean", |c| one(c.name, &c.args, clean)),
    def("sprig_osExt", |c| {
        one(c.name, &c.args, |p| ext(p).to_string())
    }),
    def("sprig_osIsAbs", |c| {
        Ok(Value::Bool(
            str_args(c.name, &c.args, 1)?[0].starts_with('/'),
        ))
    }),
];

fn one(name: &str, args: &[Value], f: fn(&str) -> String) -> FResult {
    Ok(Value::str(&f(str_args(name, args, 1)?[0])))
}

/// Go's `path.Clean`: the shortest equivalent path, lexically.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    // `..` elements a relative path keeps at its start.
    let mut leading_up = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.len() > leading_up {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                    leading_up += 1;
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`: the last element, trailing slashes ignored.
pub(crate) fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or("");
    if last.is_empty() {
        "/".into()
    } else {
        last.to_string()
    }
}

/// Go's `path.Dir`: everything before the last element, cleaned.
pub(crate) fn dir(path: &str) -> String {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..cut])
}

/// Go's `path.Ext`: the suffix from the last dot of the last element.
pub(crate) fn ext(path: &str) -> &str {
    let last = &path[path.rfind('/').map_or(0, |i| i + 1)..];
    last.rfind('.').map_or("", |i| &last[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_like_go() {
        for (p, want) in [
            ("", "."),
            ("a/../..", ".."),
            ("/../a//b/./c/", "/a/b/c"),
            ("../../x/../y", "../../y"),
            ("a/b/../../..", ".."),
            ("//", "/"),
        ] {
            assert_eq!(clean(p), want, "{p}");
        }
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("///"), "/");
        assert_eq!(dir("/a/b/c"), "/a/b");
        assert_eq!(dir("c"), ".");
        assert_eq!(ext("/a.b/c.tar.gz"), ".gz");
        assert_eq!(ext("/a.b/c"), "");
    }
}
