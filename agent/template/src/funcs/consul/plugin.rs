//! consul-template's `plugin NAME ARGS...`: runs a program and renders its
//! standard output, trimmed.
//!
//! consul-template's rules: an empty NAME renders nothing; each argument is
//! trimmed and empty ones are dropped; the program gets 30 seconds, then it
//! is killed and the render fails; a failed start or a non-zero exit fails the
//! render with the program's output in the message.

use std::time::Duration;

use crate::funcs::{Call, Def, FResult, def, variadic_strs};
use crate::gofmt::go_quote;
use crate::value::Value;
use crate::world::PluginError;

/// How long a plugin may run (consul-template's fixed limit).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) const FUNCS: &[Def] = &[def("plugin", plugin)];

fn plugin(c: &mut Call<'_>) -> FResult {
    let Some((name, rest)) = c.args.split_first() else {
        return Err("wrong number of args for plugin: want at least 1 got 0".into());
    };
    let name = crate::funcs::want_str(name)?;
    let rest = variadic_strs(rest)?;
    if name.is_empty() {
        return Ok(Value::str(""));
    }
    let args: Vec<String> = rest
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    let quoted = go_quote(name);
    match c.host.environment().run_plugin(name, &args, PLUGIN_TIMEOUT) {
        Ok(stdout) => Ok(Value::from_bytes(trim_space(&stdout).to_vec())),
        Err(PluginError::Start(e)) => {
            Err(format!("exec {quoted}: {e}\n\nstdout:\n\n\n\nstderr:\n\n"))
        }
        Err(PluginError::Failed {
            status,
            stdout,
            stderr,
        }) => Err(format!(
            "exec {quoted}: {status}\n\nstdout:\n\n{}\n\nstderr:\n\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )),
        Err(PluginError::TimedOut) => Err(format!(
            "exec {quoted}: did not finish in {}s",
            PLUGIN_TIMEOUT.as_secs()
        )),
    }
}

/// Go's `strings.TrimSpace` on bytes (Unicode spaces when the output is text).
fn trim_space(b: &[u8]) -> &[u8] {
    match std::str::from_utf8(b) {
        Ok(s) => s.trim().as_bytes(),
        Err(_) => b.trim_ascii(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::world::{Dependency, Environment};
    use crate::{RenderOptions, Template, render};

    /// Records the call and answers with a fixed result.
    struct Fake {
        answer: Result<Vec<u8>, PluginError>,
        seen: RefCell<Vec<(String, Vec<String>)>>,
    }

    impl Environment for Fake {
        fn lookup(&self, _dep: &Dependency) -> Option<serde_json::Value> {
            None
        }
        fn env(&self, _name: &str) -> Option<String> {
            None
        }
        fn read_file(&self, _path: &str) -> std::io::Result<String> {
            Ok(String::new())
        }
        fn run_plugin(
            &self,
            program: &str,
            args: &[String],
            timeout: Duration,
        ) -> Result<Vec<u8>, PluginError> {
            assert_eq!(timeout, PLUGIN_TIMEOUT);
            self.seen
                .borrow_mut()
                .push((program.to_string(), args.to_vec()));
            self.answer.clone()
        }
    }

    fn run(env: &Fake, src: &str) -> Result<String, String> {
        let t = Template::parse("t", src, "", "").unwrap();
        render(&t, env, &RenderOptions::default())
            .map(|r| r.text().into_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn arguments_are_trimmed_and_output_is_trimmed() {
        let env = Fake {
            answer: Ok(b"\n  out put \n".to_vec()),
            seen: RefCell::default(),
        };
        assert_eq!(
            run(&env, r#"[{{ plugin "p" " a " "" "b" }}]"#).unwrap(),
            "[out put]"
        );
        assert_eq!(run(&env, r#"[{{ plugin "" "x" }}]"#).unwrap(), "[]");
        let seen = env.seen.borrow();
        assert_eq!(seen.len(), 1, "an empty name runs nothing");
        assert_eq!(
            seen[0],
            ("p".to_string(), vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn failures_name_the_program() {
        let env = Fake {
            answer: Err(PluginError::TimedOut),
            seen: RefCell::default(),
        };
        let err = run(&env, r#"{{ plugin "slow" }}"#).unwrap_err();
        assert!(
            err.contains(r#"error calling plugin: exec "slow": did not finish in 30s"#),
            "{err}"
        );
        let env = Fake {
            answer: Err(PluginError::Failed {
                status: "exit status 3".into(),
                stdout: b"o".to_vec(),
                stderr: b"e".to_vec(),
            }),
            seen: RefCell::default(),
        };
        let err = run(&env, r#"{{ plugin "bad" }}"#).unwrap_err();
        assert!(
            err.contains("exec \"bad\": exit status 3\n\nstdout:\n\no\n\nstderr:\n\ne"),
            "{err}"
        );
    }
}
