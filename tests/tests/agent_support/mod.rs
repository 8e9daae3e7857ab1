//! Shared helpers for the `agent_*` tests: run the real `kagi-agent` binary on a JSON config.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running agent; killed on drop. Its stderr (the log) goes to `log_path`.
pub struct Agent {
    child: Child,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
}

impl Agent {
    /// Starts `kagi-agent run -config <dir>/<name>.json` with `config`.
    pub fn start(dir: &Path, name: &str, config: &Value) -> Agent {
        Agent::start_with(dir, name, config, &[])
    }

    pub fn start_with(dir: &Path, name: &str, config: &Value, env: &[(&str, &str)]) -> Agent {
        let config_path = dir.join(format!("{name}.json"));
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let bin = kagi_tests::bins::binary("kagi-agent").expect("kagi-agent binary");
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("-config")
            .arg(&config_path)
            .env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("VAULT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start kagi-agent");
        Agent {
            child,
            log_path,
            config_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits for the process to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, name: &str) {
        kagi_tests::procs::signal(self.pid(), name).unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("KAGI_SHOW_AGENT_LOG").is_some() {
            eprintln!("--- {} ---\n{}", self.log_path.display(), self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit; `None` on timeout.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config for `bao_addr` with `method` (a JSON auth method object) and templates.
pub fn config(bao_addr: &str, method: Value, sink: &Path, templates: Vec<Value>) -> Value {
    json!({
        "vault": { "address": bao_addr },
        "auto_auth": {
            "method": method,
            "sink": [ { "type": "file", "config": { "path": sink.display().to_string() } } ]
        },
        "template": templates,
    })
}

pub fn token_file_method(path: &Path) -> Value {
    json!({ "type": "token_file", "config": { "token_file_path": path.display().to_string() } })
}

pub fn template(dest: &Path, contents: &str) -> Value {
    json!({ "destination": dest.display().to_string(), "contents": contents })
}

/// Reads a file, or `None` while it does not exist.
pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes (then panics with
/// `what` and the agent log).
pub fn eventually<T>(
    agent: &Agent,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}\n--- agent log ---\n{}",
                agent.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts no secret value appears in the log.
pub fn assert_log_clean(log: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !secret.is_empty() && !log.contains(secret),
            "the agent log contains a secret value ({} chars)",
            secret.len()
        );
    }
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Kubernetes auth as a pod `shop/web` with role `app` (policy `app`) would use it: a
/// TokenReview responder configured in OpenBao and a freshly signed service-account token in
/// `dir`. Keep the value alive for the test: dropping it stops the responder.
pub struct KubernetesLogin {
    pub issuer: kagi_tests::kube::ServiceAccountIssuer,
    pub reviewer: kagi_tests::kube::TokenReviewer,
    /// The `auto_auth.method` for the agent config.
    pub method: Value,
}

pub fn kubernetes_login(bao: &kagi_tests::openbao::OpenBao, dir: &Path) -> KubernetesLogin {
    let issuer = kagi_tests::kube::ServiceAccountIssuer::new().unwrap();
    let reviewer = kagi_tests::kube::TokenReviewer::start(&issuer).unwrap();
    kagi_tests::setup::configure_kubernetes_auth(bao, &reviewer, "app", "shop", "web", &["app"])
        .unwrap();
    let sa_token = dir.join("sa-token");
    std::fs::write(&sa_token, issuer.token("shop", "web")).unwrap();
    let method = json!({ "type": "kubernetes", "config": { "role": "app", "token_path": sa_token.display().to_string() } });
    KubernetesLogin {
        issuer,
        reviewer,
        method,
    }
}
