//! consul-template's functions on the agent's surroundings: environment
//! variables, files, nested templates and the clock.

use crate::funcs::{Call, Def, FResult, def, str_args, variadic_strs, want_str};
use crate::gofmt;
use crate::value::Value;
use crate::world::FileWrite;

pub(super) const FUNCS: &[Def] = &[
    def("env", env),
    def("mustEnv", must_env),
    def("envOrDefault", env_or_default),
    def("file", file),
    def("writeToFile", write_to_file),
    def("executeTemplate", execute_template),
    def("timestamp", timestamp),
];

fn env(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    Ok(Value::str(
        &c.host.environment().env(a[0]).unwrap_or_default(),
    ))
}

fn must_env(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    match c.host.environment().env(a[0]).filter(|v| !v.is_empty()) {
        Some(v) => Ok(Value::str(&v)),
        None => Err(format!("required environment variable {} is empty", a[0])),
    }
}

fn env_or_default(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    Ok(Value::str(
        &c.host
            .environment()
            .env(a[0])
            .unwrap_or_else(|| a[1].to_string()),
    ))
}

fn file(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 1)?;
    if a[0].is_empty() {
        return Ok(Value::str(""));
    }
    if let Some(sandbox) = c.host.sandbox_path() {
        let resolved = c
            .host
            .environment()
            .resolve_path(a[0])
            .map_err(|e| format!("file {:?}: {}", a[0], e.kind()))?;
        if !within(sandbox, &resolved) {
            return Err(format!("'{}' is outside of sandbox", a[0]));
        }
    }
    match c.host.environment().read_file(a[0]) {
        Ok(s) => Ok(Value::str(&s)),
        Err(e) => Err(format!("file {:?}: {}", a[0], e.kind())),
    }
}

/// Whether `path` lies inside the directory `sandbox`, comparing cleaned
/// components (Go: `filepath.Rel` must not start with `..`).
fn within(sandbox: &str, path: &str) -> bool {
    fn clean(p: &str) -> Vec<&str> {
        let mut parts: Vec<&str> = Vec::new();
        for part in p.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts
    }
    if sandbox.starts_with('/') != path.starts_with('/') {
        return false;
    }
    let (sandbox, path) = (clean(sandbox), clean(path));
    path.starts_with(&sandbox)
}

fn execute_template(c: &mut Call<'_>) -> FResult {
    let Some(tname) = c.args.first() else {
        return Err("wrong number of args for executeTemplate: want at least 1 got 0".into());
    };
    let tname = want_str(tname)?.to_string();
    let dot = match c.args.len() {
        1 => Value::Nil,
        2 => c.args[1].clone(),
        n => {
            return Err(format!(
                "executeTemplate: wrong number of arguments, expected 1 or 2, but got {n}"
            ));
        }
    };
    c.host.execute_template(&tname, &dot)
}

fn write_to_file(c: &mut Call<'_>) -> FResult {
    if c.args.len() < 5 || c.args.len() > 6 {
        return Err(format!(
            "wrong number of args for writeToFile: want 5 or 6 got {}",
            c.args.len()
        ));
    }
    let strs = variadic_strs(&c.args)?;
    let mode = u32::from_str_radix(strs[3], 8)
        .map_err(|_| "writeToFile: invalid permissions".to_string())?;
    let flags = if strs.len() == 6 { strs[4] } else { "" };
    let write = FileWrite {
        path: strs[0].to_string(),
        user: strs[1].to_string(),
        group: strs[2].to_string(),
        mode,
        append: flags.contains("append"),
        newline: flags.contains("newline"),
        contents: strs[strs.len() - 1].to_string(),
    };
    c.host.write_file(write);
    Ok(Value::str(""))
}

fn timestamp(c: &mut Call<'_>) -> FResult {
    let strs = variadic_strs(&c.args)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match strs.as_slice() {
        [] => Ok(Value::str(&gofmt::format_time(
            now,
            "2006-01-02T15:04:05Z07:00",
        ))),
        ["unix"] => Ok(Value::str(&now.to_string())),
        [layout] => Ok(Value::str(&gofmt::format_time(now, layout))),
        _ => Err(format!(
            "timestamp: wrong number of arguments, expected 0 or 1, but got {}",
            strs.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn sandbox_compares_whole_components() {
        assert!(within("/srv/tpl", "/srv/tpl/a.txt"));
        assert!(within("/srv/tpl/", "/srv/tpl/./sub/../a"));
        assert!(!within("/srv/tpl", "/srv/tplx/a"));
        assert!(!within("/srv/tpl", "/srv/tpl/../etc/passwd"));
        assert!(!within("/srv/tpl", "relative/a"));
    }
}
