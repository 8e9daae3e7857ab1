//! Pod annotations (`vault.hashicorp.com/*`, alias `openbao.org/*`) parsed into typed settings.
//!
//! [`Annotations`] merges the two prefixes into one view keyed by suffix; [`PodSettings`]
//! (in `pod.rs`) is the typed result with vault-k8s's defaults filled in from the injector
//! settings. [`ANNOTATIONS`] lists every annotation once; the README table is generated from it.

mod env;
mod pod;
mod render_command;
mod shell_words;
mod table;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commands;

use std::collections::BTreeMap;
use std::fmt;

pub use env::{ENV_PREFIX, EnvSettings};
pub use pod::{AgentResources, CacheSettings, PodSettings, SecretFile, TemplateDefaults};
pub use render_command::RenderCommand;
pub use table::{ANNOTATIONS, AnnotationDoc};

/// The vault-k8s annotation prefix.
pub const PREFIX: &str = "vault.hashicorp.com/";
/// Accepted as an alias of [`PREFIX`] for every suffix.
pub const ALIAS_PREFIX: &str = "openbao.org/";
/// Written on every injected pod; a pod that already carries `injected` is skipped.
pub const STATUS_ANNOTATION: &str = "vault.hashicorp.com/agent-inject-status";
pub const STATUS_INJECTED: &str = "injected";

/// The template used for a secret that has a Vault path but no template of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DefaultTemplate {
    /// One `key: value` line per field of `.Data`.
    Map,
    /// `.Data` as one JSON document.
    Json,
}

impl DefaultTemplate {
    /// The consul-template text reading `path`.
    pub fn render_for(self, path: &str) -> String {
        match self {
            DefaultTemplate::Map => format!(
                "{{{{ with secret \"{path}\" }}}}{{{{ range $k, $v := .Data }}}}{{{{ $k }}}}: {{{{ $v }}}}\n{{{{ end }}}}{{{{ end }}}}"
            ),
            DefaultTemplate::Json => {
                format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data | toJSON }}}}\n{{{{ end }}}}")
            }
        }
    }
}

impl fmt::Display for DefaultTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultTemplate::Map => "map",
            DefaultTemplate::Json => "json",
        })
    }
}

/// An annotation whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("annotation {annotation} has invalid value {value:?}: expected {accepted}")]
    Invalid {
        annotation: String,
        value: String,
        accepted: String,
    },
    #[error(
        "annotations {vault_key}={vault_value:?} and {alias_key}={alias_value:?} conflict: \
         set it under one prefix, or give both the same value"
    )]
    Conflict {
        vault_key: String,
        vault_value: String,
        alias_key: String,
        alias_value: String,
    },
    #[error("annotations {first} and {second} cannot be combined: {hint}")]
    Exclusive {
        first: String,
        second: String,
        hint: String,
    },
}

/// The accepted spellings of a boolean (Go's `strconv.ParseBool`).
pub const GO_BOOL_ACCEPTED: &str = "one of true, false, 1, 0, t, f, T, F, TRUE, FALSE, True, False";

/// Parses a boolean exactly like Go's `strconv.ParseBool`: mixed case such as `tRuE` and
/// words such as `yes` are rejected, as are empty strings.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "{text:?} is not a boolean: expected {GO_BOOL_ACCEPTED}"
        )),
    }
}

/// Checks Kubernetes resource quantity syntax (`250m`, `64Mi`, `1.5`, `1e3`); negative
/// quantities are refused because requests and limits cannot be negative.
pub fn validate_quantity(text: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "{text:?} is not a resource quantity (expected e.g. 250m, 0.5, 64Mi, 1G)"
        ))
    };
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return bad();
    }
    let suffix_ok = match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        exp if exp.starts_with(['e', 'E']) => {
            let exp = &exp[1..];
            let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if suffix_ok { Ok(()) } else { bad() }
}

/// One annotation value and the key it was found under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
}

/// A pod's annotations under both prefixes, keyed by suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    by_suffix: BTreeMap<String, Entry>,
    conflicts: Vec<AnnotationError>,
}

impl Annotations {
    /// Collects every `vault.hashicorp.com/*` and `openbao.org/*` annotation. A suffix given
    /// under both prefixes with different values is recorded as a conflict.
    pub fn new(annotations: Option<&BTreeMap<String, String>>) -> Self {
        let mut merged = Annotations::default();
        let Some(annotations) = annotations else {
            return merged;
        };
        for (key, value) in annotations {
            let Some(suffix) = key.strip_prefix(PREFIX) else {
                continue;
            };
            merged.by_suffix.insert(
                suffix.to_owned(),
                Entry {
                    key: key.clone(),
                    value: value.clone(),
                },
            );
        }
        for (key, value) in annotations {
            let Some(suffix) = key.strip_prefix(ALIAS_PREFIX) else {
                continue;
            };
            match merged.by_suffix.get(suffix) {
                Some(existing) if existing.value != *value => {
                    merged.conflicts.push(AnnotationError::Conflict {
                        vault_key: existing.key.clone(),
                        vault_value: existing.value.clone(),
                        alias_key: key.clone(),
                        alias_value: value.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    merged.by_suffix.insert(
                        suffix.to_owned(),
                        Entry {
                            key: key.clone(),
                            value: value.clone(),
                        },
                    );
                }
            }
        }
        merged
    }

    /// The value of `suffix` under either prefix.
    pub fn get(&self, suffix: &str) -> Option<&str> {
        self.by_suffix.get(suffix).map(|e| e.value.as_str())
    }

    /// The first conflicting pair, if any.
    pub fn first_conflict(&self) -> Option<&AnnotationError> {
        self.conflicts.first()
    }

    /// Whether `suffix` was given in conflicting values.
    pub fn conflicts_on(&self, suffix: &str) -> bool {
        self.conflicts.iter().any(|c| match c {
            AnnotationError::Conflict { vault_key, .. } => {
                vault_key.strip_prefix(PREFIX) == Some(suffix)
            }
            AnnotationError::Invalid { .. } | AnnotationError::Exclusive { .. } => false,
        })
    }

    /// Every `(rest, value)` whose suffix starts with `prefix`, in suffix order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.by_suffix
            .iter()
            .filter_map(move |(suffix, e)| Some((suffix.strip_prefix(prefix)?, e.value.as_str())))
    }

    /// An [`AnnotationError::Invalid`] naming the key as the user wrote it.
    pub fn invalid(&self, suffix: &str, accepted: impl Into<String>) -> AnnotationError {
        AnnotationError::Invalid {
            annotation: self.key_as_written(suffix),
            value: self.get(suffix).unwrap_or_default().to_owned(),
            accepted: accepted.into(),
        }
    }

    /// The full key of `suffix` as the user wrote it (`vault.hashicorp.com/` when absent).
    pub fn key_as_written(&self, suffix: &str) -> String {
        match self.by_suffix.get(suffix) {
            Some(e) => e.key.clone(),
            None => format!("{PREFIX}{suffix}"),
        }
    }

    /// A boolean annotation: absent gives `default`; empty is false (as in vault-k8s).
    pub fn bool_or(&self, suffix: &str, default: bool) -> Result<bool, AnnotationError> {
        match self.get(suffix) {
            None => Ok(default),
            Some("") => Ok(false),
            Some(text) => parse_go_bool(text).map_err(|_| self.invalid(suffix, GO_BOOL_ACCEPTED)),
        }
    }

    /// A boolean annotation that is `None` when absent.
    pub fn bool_opt(&self, suffix: &str) -> Result<Option<bool>, AnnotationError> {
        match self.get(suffix) {
            None => Ok(None),
            Some(_) => self.bool_or(suffix, false).map(Some),
        }
    }

    /// A string annotation; absent and empty are both `None`.
    pub fn text(&self, suffix: &str) -> Option<String> {
        self.get(suffix)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }

    /// A string annotation falling back to an injector default (empty means unset).
    pub fn text_or(&self, suffix: &str, default: &str) -> Option<String> {
        self.text(suffix)
            .or_else(|| (!default.is_empty()).then(|| default.to_owned()))
    }

    /// Parses a non-empty annotation with `parse`, naming `accepted` on failure.
    pub fn parsed<T>(
        &self,
        suffix: &str,
        accepted: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, AnnotationError> {
        match self.text(suffix) {
            None => Ok(None),
            Some(text) => parse(text.trim())
                .map(Some)
                .ok_or_else(|| self.invalid(suffix, accepted)),
        }
    }
}

/// The annotation table as Markdown, for the README.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "Every annotation is `vault.hashicorp.com/<name>`; `openbao.org/<name>` is accepted as an alias \
         (the same name under both prefixes with different values is refused). Booleans accept \
         `true`/`false`, `1`/`0`, `t`/`f`, `T`/`F`, `TRUE`/`FALSE`, `True`/`False`.\n\n\
         | Annotation | Default | Description |\n|---|---|---|\n",
    );
    for doc in ANNOTATIONS {
        let default = if doc.default.is_empty() {
            "—".to_owned()
        } else {
            doc.default.replace('|', "\\|")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            doc.name,
            default,
            doc.description.replace('|', "\\|")
        ));
    }
    out
}

/// The README markers the generated table sits between.
pub const README_BEGIN: &str = "<!-- section:annotations -->";
pub const README_END: &str = "<!-- /section:annotations -->";

/// `readme` with the annotation section replaced by [`markdown_table`], or `None` when the
/// markers are missing. Lets a command rewrite the README in place.
pub fn readme_with_table(readme: &str) -> Option<String> {
    let start = readme.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + readme[start..].find(README_END)?;
    Some(format!(
        "{}\n{}{}",
        &readme[..start],
        markdown_table(),
        &readme[end..]
    ))
}
