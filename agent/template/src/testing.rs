//! Helpers for the unit tests of function families.

use crate::world::{Dependency, Environment};
use crate::{RenderOptions, Template, render};

/// An environment with no Vault data, variables or files.
pub(crate) struct Empty;

impl Environment for Empty {
    fn lookup(&self, _dep: &Dependency) -> Option<serde_json::Value> {
        None
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn read_file(&self, path: &str) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.to_string(),
        ))
    }
}

/// Renders `src` (no Vault data); a parse or execution error as its message.
pub(crate) fn render_text(src: &str) -> Result<String, String> {
    render_in(&Empty, src)
}

/// Renders `src` in `env`; a parse or execution error as its message.
pub(crate) fn render_in(env: &dyn Environment, src: &str) -> Result<String, String> {
    let t = Template::parse("t", src, "", "").map_err(|e| e.to_string())?;
    render(&t, env, &RenderOptions::default())
        .map(|r| r.text().into_owned())
        .map_err(|e| e.to_string())
}
