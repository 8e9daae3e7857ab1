//! The function registry: every function a template may name, each declared
//! once as a name next to its implementation, grouped by family.
//!
//! A family is a file with a `FUNCS` table (`go` for Go's built-ins,
//! `consul/*` for consul-template's, `sprig/*` for Sprig's, exposed as
//! `sprig_<name>`); this module only gathers the tables. A name without code
//! cannot be written down, and a name that is not here is a parse error.
//!
//! Argument checks follow Go's `text/template` call rules: a `string`
//! parameter refuses `json.Number` and nil, `join` wants a `[]string`, and so
//! on, because templates that work in Vault Agent rely on (and are limited
//! by) exactly those rules. Errors name types, never values.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::value::Value;
use crate::world::{Dependency, Environment, FileWrite};

mod args;
pub(crate) mod consul;
mod go;
pub(crate) mod sprig;

pub(crate) use args::*;

/// What a function returns: a value, or an error message without secret
/// values (the evaluator prefixes `error calling NAME: `).
pub(crate) type FResult = Result<Value, String>;

/// A function implementation.
pub(crate) type Func = fn(&mut Call<'_>) -> FResult;

/// One call: the function's registered name, its evaluated arguments (the
/// piped value last), and the executing template.
pub(crate) struct Call<'c> {
    pub name: &'static str,
    pub args: Vec<Value>,
    pub host: &'c mut dyn Host,
}

/// What a function may ask of the template being executed.
pub(crate) trait Host {
    /// Records `dep` as used; returns the environment's answer, if it has one.
    fn use_dependency(&mut self, dep: Dependency) -> Option<serde_json::Value>;
    /// The outside world (environment variables, files).
    fn environment(&self) -> &dyn Environment;
    /// The template's `sandbox_path`, if any.
    fn sandbox_path(&self) -> Option<&str>;
    /// Runs a `define`d template with `dot` and returns its output (a Go string).
    fn execute_template(&mut self, name: &str, dot: &Value) -> Result<Value, String>;
    /// Queues a `writeToFile` side effect.
    fn write_file(&mut self, write: FileWrite);
}

/// How the evaluator runs a function.
pub(crate) enum Impl {
    /// Arguments are evaluated first, then the function runs.
    Eager(Func),
    /// Go's `and` (stops at the first false operand) and `or` (at the first
    /// true one): arguments are evaluated only until one decides, and that
    /// operand is the result.
    ShortCircuit { stop_at: bool },
}

/// A registered function.
pub(crate) struct Def {
    pub name: &'static str,
    pub imp: Impl,
}

/// A table entry: `name` runs `func`.
pub(crate) const fn def(name: &'static str, func: Func) -> Def {
    Def {
        name,
        imp: Impl::Eager(func),
    }
}

/// Every family table, in registration order.
fn families() -> impl Iterator<Item = &'static [Def]> {
    std::iter::once(go::FUNCS)
        .chain(consul::FAMILIES.iter().copied())
        .chain(sprig::FAMILIES.iter().copied())
}

fn registry() -> &'static HashMap<&'static str, &'static Def> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static Def>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut map = HashMap::new();
        for def in families().flatten() {
            let earlier = map.insert(def.name, def);
            debug_assert!(earlier.is_none(), "function {} registered twice", def.name);
        }
        map
    })
}

/// The function called `name`, if a template may name it.
pub(crate) fn lookup(name: &str) -> Option<&'static Def> {
    registry().get(name).copied()
}

/// Every registered name, sorted.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = registry().keys().copied().collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_name_is_registered_twice() {
        let all: Vec<&str> = families().flatten().map(|d| d.name).collect();
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<&&str> = all.iter().filter(|n| !seen.insert(**n)).collect();
        assert!(twice.is_empty(), "registered twice: {twice:?}");
        assert_eq!(names().len(), all.len());
    }

    #[test]
    fn a_denied_function_parses_and_fails_naming_itself() {
        use crate::{RenderOptions, Template, render, testing::Empty};
        let t = Template::parse("t", r#"{{ "ok" }} {{ "x" | toUpper }}"#, "", "").unwrap();
        let opts = RenderOptions {
            function_denylist: vec!["toUpper".into(), "sprig_*".into()],
            ..RenderOptions::default()
        };
        let err = render(&t, &Empty, &opts).unwrap_err().to_string();
        assert!(
            err.contains("error calling toUpper: function is disabled"),
            "{err}"
        );
        // Names are exact: a pattern denies nothing else.
        let t = Template::parse("t", r#"{{ "x" | sprig_upper }}"#, "", "").unwrap();
        assert_eq!(render(&t, &Empty, &opts).unwrap().text(), "X");
    }

    #[test]
    fn sandbox_limits_file_to_its_directory() {
        use crate::{RenderOptions, Template, render, testing::Empty};
        let opts = RenderOptions {
            sandbox_path: Some("/srv/tpl".into()),
            ..RenderOptions::default()
        };
        let t = Template::parse("t", r#"{{ file "/srv/tpl/../etc/passwd" }}"#, "", "").unwrap();
        let err = render(&t, &Empty, &opts).unwrap_err().to_string();
        assert!(
            err.contains("'/srv/tpl/../etc/passwd' is outside of sandbox"),
            "{err}"
        );
    }
}
