#![forbid(unsafe_code)]
//! A consul-template compatible template engine (Go `text/template` plus the
//! consul-template functions used with Vault), pure and free of I/O.
//!
//! Rendering is multi-pass, as in consul-template: a render records every
//! dependency it touched; those the [`Environment`] could not answer yet are
//! returned in [`Rendered::missing`], the caller fetches them and renders
//! again, until nothing is missing (callers should bound the passes).
//!
//! Output is meant to be byte-for-byte what Vault Agent renders: Go's `fmt`
//! printing (`map[k:v]`, `[a b]`, `<no value>`), `missingkey=zero` (or
//! `=error` with [`RenderOptions::error_on_missing_key`]), and the encoders of
//! the Go libraries consul-template uses. `tests/templates/` is the
//! differential corpus that checks this against a real `bao agent`.
//!
//! Functions: the registry in `funcs` (Go's built-ins, consul-template's,
//! Sprig's as `sprig_<name>`; [`function_names`] lists them). Any other name
//! is a parse error naming it; [`RenderOptions::function_denylist`] turns
//! registered ones off per template, as Vault Agent's `function_denylist`.
//!
//! Binary data (`base64Decode` of a keystore) is rendered byte for byte; string
//! functions other than printing, `len` and `executeTemplate` refuse it.
//!
//! Known differences from Vault Agent: `toYAML` of binary data writes lossy
//! text (go-yaml writes `!!binary`); `mergeMap` does not change its first
//! argument in place (mergo does); `spew_*` print maps of several entries
//! sorted (Go: random order); `parseYAML` follows YAML 1.2 (`yes` stays a string); floats from Vault lose their exact
//! spelling (serde_json keeps values, not text; exponents print as `1e-06`);
//! `printf` lacks `%#v`, `%U` and precision for `%g`; limits stop runaway
//! templates (64 MiB of output, 10 million range iterations, nesting depth 200).

use std::collections::HashMap;

mod builtins;
mod encode;
mod exec;
mod funcs;
mod gofmt;
mod goregex;
mod gotime;
mod lex;
mod limits;
mod parse;
mod toml;
mod value;
mod world;
mod yaml;

pub use funcs::consul::plugin::PLUGIN_TIMEOUT;
pub use funcs::names as function_names;
pub use world::{Dependency, Environment, FileWrite, NetInterface, PluginError};

/// A parsed template, ready to render any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    text: String,
    root: Vec<parse::Node>,
    defines: HashMap<String, Vec<parse::Node>>,
}

impl Template {
    /// Parses `text`. `name` is used in errors; empty delimiters mean `{{` and `}}`.
    /// Unknown functions and undefined variables are parse errors, as in Go.
    pub fn parse(
        name: &str,
        text: &str,
        left_delim: &str,
        right_delim: &str,
    ) -> Result<Template, TemplateError> {
        let parse_err = |pos: usize, message: String| {
            let (line, column) = line_col(text, pos);
            TemplateError::Parse {
                name: name.to_string(),
                line,
                column,
                message,
            }
        };
        let toks =
            lex::lex(text, left_delim, right_delim).map_err(|e| parse_err(e.pos, e.message))?;
        let parsed = parse::parse(&toks, text.len(), &|name| funcs::lookup(name).is_some())
            .map_err(|e| parse_err(e.pos, e.message))?;
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            root: parsed.root,
            defines: parsed.defines,
        })
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let mut start = pos;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Per-template render options.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Go `missingkey=error` instead of `missingkey=zero` (`<no value>`).
    pub error_on_missing_key: bool,
    /// Vault Agent's `function_denylist` (and `function_blacklist`): exact
    /// function names that still parse but fail when called.
    pub function_denylist: Vec<String>,
    /// Vault Agent's `sandbox_path`: `file` may read only below it (after
    /// [`Environment::resolve_path`]).
    pub sandbox_path: Option<String>,
}

/// The result of one render pass.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The rendered bytes (a binary secret stays binary). Meaningful only
    /// when `missing` is empty.
    pub output: Vec<u8>,
    /// Every dependency this render used, in first-use order, deduplicated.
    pub dependencies: Vec<Dependency>,
    /// Asked for but `lookup` gave `None`: fetch them and render again.
    pub missing: Vec<Dependency>,
    /// `writeToFile` side effects for the caller to perform.
    pub file_writes: Vec<FileWrite>,
}

impl Rendered {
    /// The output as text, invalid UTF-8 replaced (for logs and tests).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.output)
    }
}

/// A parse or execution error. It names the template and the position and
/// never carries a secret value (messages name types, not values).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}:{line}:{column}: {message}")]
    Parse {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("template {name}:{line}:{column}: executing: {message}")]
    Exec {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Renders `template` once against `env`.
///
/// While dependencies are still missing, execution errors are not reported
/// (data the template chains through may simply not be there yet): the result
/// lists what is missing, and the next pass reports any error that remains.
pub fn render(
    template: &Template,
    env: &dyn Environment,
    opts: &RenderOptions,
) -> Result<Rendered, TemplateError> {
    let mut st = exec::State::new(template, env, opts);
    let mut text = Vec::new();
    let result = st.walk_list(&value::Value::Nil, &template.root, &mut text);
    let rendered = |output: Vec<u8>, st: exec::State<'_>| Rendered {
        output,
        dependencies: st.dependencies,
        missing: st.missing,
        file_writes: st.file_writes,
    };
    match result {
        Ok(_) => Ok(rendered(text, st)),
        Err(_) if !st.missing.is_empty() => Ok(rendered(Vec::new(), st)),
        Err(e) => {
            let (line, column) = line_col(&template.text, e.pos);
            Err(TemplateError::Exec {
                name: template.name.clone(),
                line,
                column,
                message: e.message,
            })
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
