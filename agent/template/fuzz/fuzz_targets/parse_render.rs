//! Fuzz target: parse arbitrary bytes as a template (default or custom
//! delimiters) and render whatever parses against an environment that answers
//! every dependency (and `plugin` with the engine's default: not available), with and
//! without `missingkey=error`, a denylist and a sandbox. Neither step may panic, loop
//! forever or overflow the stack.
#![no_main]

use kagi_template::{Dependency, Environment, RenderOptions, Template, render};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

struct AnyEnv;

impl Environment for AnyEnv {
    fn lookup(&self, dep: &Dependency) -> Option<serde_json::Value> {
        Some(match dep {
            Dependency::List { .. } => json!({"data": {"keys": ["a", "b/"]}}),
            Dependency::PkiCert { .. } => {
                json!({"Cert": "c", "Key": "k", "CA": "ca", "CAChain": ["ca"]})
            }
            Dependency::Secret { .. } => json!({
                "request_id": "r", "lease_duration": 60, "renewable": true,
                "data": {"a": "x", "n": 5, "l": [1, "two", null], "m": {"k": "v"}, "data": {"u": "p"}},
            }),
        })
    }
    fn env(&self, name: &str) -> Option<String> {
        Some(name.to_owned())
    }
    fn read_file(&self, _path: &str) -> std::io::Result<String> {
        Ok("file".into())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A leading byte picks the delimiters, so both lexer paths get explored.
    let (left, right, text) = match text.strip_prefix('\u{1}') {
        Some(rest) => ("[[", "]]", rest),
        None => ("{{", "}}", text),
    };
    if let Ok(t) = Template::parse("fuzz", text, left, right) {
        let _ = render(&t, &AnyEnv, &RenderOptions::default());
        let _ = render(
            &t,
            &AnyEnv,
            &RenderOptions {
                error_on_missing_key: true,
                function_denylist: vec!["toUpper".into(), "sprig_upper".into()],
                sandbox_path: Some("/srv".into()),
            },
        );
    }
});
