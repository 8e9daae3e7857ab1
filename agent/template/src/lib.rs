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

use std::collections::{BTreeMap, HashMap};

mod builtins;
mod encode;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod toml;
mod value;
mod yaml;

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
        let parsed = parse::parse(&toks, text.len(), &funcs::is_function)
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

/// A thing the template asked Vault for.
///
/// `path` is the path as written or computed in the template, trimmed of
/// whitespace and of `/` at both ends (consul-template does the same, so
/// `secret "/kv/a"` and `secret "kv/a"` are one dependency). It may carry a
/// query string (`kv/app?version=1`). KV v2 rewriting (`kv/app` →
/// `kv/data/app`, `kv/metadata/` for lists, wrapping a write body in
/// `{"data": ...}`) is the caller's job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// `secret "p"` (a read) or `secret "p" "k=v"...` (a write whose body is
    /// `write`: keys and values trimmed, values always strings, empty
    /// arguments skipped). `lookup` answers with the Vault response envelope.
    Secret {
        path: String,
        write: Option<BTreeMap<String, String>>,
    },
    /// `secrets "p"` (a LIST). `lookup` answers with the response envelope whose
    /// `data.keys` holds the names; the engine sorts them. A 404 should be
    /// answered with `{}` (an empty list), not `None`.
    List { path: String },
    /// `pkiCert "p" "k=v"...`: a PKI issue whose result is cached in the
    /// template's destination file.
    ///
    /// What the runtime must do to answer `lookup` for it (consul-template's
    /// `VaultPKIQuery`):
    /// 1. Read the template's destination file. If it is readable and not
    ///    empty, split it into PEM blocks: a block whose type ends in
    ///    `PRIVATE KEY` is the key; a certificate with the CA flag is the CA
    ///    (the last such wins) and is appended to the chain; any other
    ///    certificate is the leaf.
    /// 2. If there was no leaf, or the leaf has expired, or less than 10 % of
    ///    its lifetime would remain after waiting 90 % of what remains (i.e.
    ///    `0.9 × (not_after − now) ≤ 0.1 × (not_after − not_before)`), issue a
    ///    new one: `PUT <path>` with `params` as the body, then take every
    ///    string value of `data` (each followed by `\n`) plus the `ca_chain`
    ///    entries and split them as in step 1.
    /// 3. Answer `{"Cert": ..., "Key": ..., "CA": ...}`, each PEM block
    ///    re-encoded in standard form (64-column base64, a trailing newline),
    ///    missing parts as `""`. (OpenBao's consul-template has no `CAChain`
    ///    field; the template sees `.Cert`, `.Key`, `.CA` and `.Data.*` of them.)
    ///    As a fallback the engine also accepts the raw `pki/issue` response
    ///    envelope (`data.certificate`, `data.private_key`, `data.ca_chain`,
    ///    `data.issuing_ca`), which gives the same fields but no caching.
    /// 4. Schedule the next check at about 90 % of the remaining validity.
    ///
    /// The destination must contain the certificate (and the key, if it is to
    /// be recovered on restart), which is why templates render `.Cert` and
    /// `.Key` into it; `writeToFile` may copy parts elsewhere.
    PkiCert {
        path: String,
        params: BTreeMap<String, String>,
    },
}

/// What the engine may ask of the outside world.
pub trait Environment {
    /// The Vault HTTP response body for `dep` as Vault returns it (envelope with
    /// `request_id`, `lease_id`, `lease_duration`, `renewable`, `data`,
    /// `warnings`, `auth`, ...), or `None` when it has not been fetched yet.
    /// For `List`: the response whose `data.keys` is the list. For `PkiCert`:
    /// see [`Dependency::PkiCert`].
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value>;
    /// An environment variable of the agent process.
    fn env(&self, name: &str) -> Option<String>;
    /// The contents of a file (`file` function). Sandboxing is the caller's job.
    fn read_file(&self, path: &str) -> std::io::Result<String>;
}

/// Per-template render options.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Go `missingkey=error` instead of `missingkey=zero` (`<no value>`).
    pub error_on_missing_key: bool,
}

/// A `writeToFile PATH USER GROUP PERMS [FLAGS] CONTENT` side effect, for the
/// caller to perform once the render is complete (nothing missing).
/// consul-template writes at once, creating parent directories (0777 before
/// umask) unless appending, chowning only when `user` or `group` is set
/// (names or numeric ids), then chmodding to `mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: String,
    pub user: String,
    pub group: String,
    /// Permission bits parsed from the octal string given in the template.
    pub mode: u32,
    /// FLAGS contained "append": open for appending instead of truncating.
    pub append: bool,
    /// FLAGS contained "newline": write `\n` after the contents.
    pub newline: bool,
    pub contents: String,
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
mod tests;
