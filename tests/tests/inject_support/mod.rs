//! `kagi-webhook inject` run offline on one manifest, as a user would, with the injector's
//! defaults (a clean `AGENT_INJECT_*` environment) plus the given flags.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The documents `inject` prints, or its error output when it refuses the manifest (the
/// webhook would deny the pod).
pub fn inject(manifest: &Value, flags: &[&str]) -> Result<Vec<Value>, String> {
    let webhook = kagi_tests::bins::binary("kagi-webhook").unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(webhook);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AGENT_INJECT_")) {
        command.env_remove(name);
    }
    let mut child = command
        .args(["inject", "--vault-address", "https://vault.vault.svc:8200"])
        .args(flags)
        .args(["-f", "-"])
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kagi-webhook runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(manifest).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout))
            .expect("inject prints YAML"),
    )
}
