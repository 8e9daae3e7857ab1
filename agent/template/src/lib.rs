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
//! Functions: Go's built-ins (`and or not eq ne lt le gt ge len index slice
//! print printf println html js urlquery call`) and consul-template's `secret
//! secrets pkiCert env mustEnv envOrDefault file writeToFile executeTemplate
//! toJSON toJSONPretty toUnescapedJSON toUnescapedJSONPretty toYAML toTOML
//! parseJSON parseYAML parseBool parseInt parseUint parseFloat base64Encode
//! base64Decode base64URLEncode base64URLDecode split splitToMap join trimSpace
//! trim trimPrefix trimSuffix toLower toUpper toTitle replaceAll regexMatch
//! regexReplaceAll indent contains containsAll containsAny containsNone
//! containsNotAll in loop add subtract multiply divide modulo minimum maximum
//! sha256Hex md5sum hmacSHA256Hex timestamp`. Anything else (Sprig, `plugin`,
//! `sockaddr`, `scratch`, Consul/Nomad functions) is a parse error naming it.
//!
//! Known differences from Vault Agent: strings are UTF-8, so `base64Decode`
//! of binary data is an error (Vault Agent writes the raw bytes); `parseYAML` follows YAML 1.2 (`yes` stays a string); floats from Vault lose their exact
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
mod lex;
mod limits;
mod parse;
mod toml;
mod value;
mod world;
mod yaml;

pub use funcs::names as function_names;
pub use world::{Dependency, Environment, FileWrite};

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
}

/// The result of one render pass.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Meaningful only when `missing` is empty.
    pub text: String,
    /// Every dependency this render used, in first-use order, deduplicated.
    pub dependencies: Vec<Dependency>,
    /// Asked for but `lookup` gave `None`: fetch them and render again.
    pub missing: Vec<Dependency>,
    /// `writeToFile` side effects for the caller to perform.
    pub file_writes: Vec<FileWrite>,
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
    let mut text = String::new();
    let result = st.walk_list(&value::Value::Nil, &template.root, &mut text);
    let rendered = |text: String, st: exec::State<'_>| Rendered {
        text,
        dependencies: st.dependencies,
        missing: st.missing,
        file_writes: st.file_writes,
    };
    match result {
        Ok(_) => Ok(rendered(text, st)),
        Err(_) if !st.missing.is_empty() => Ok(rendered(String::new(), st)),
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
