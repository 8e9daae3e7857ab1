//! Kubernetes manifests as the tests check them: built by `kubectl kustomize`, parsed, and
//! validated strictly (unknown fields are errors) by the PyPI package `kubernetes-validate`
//! against the Kubernetes 1.29 schema and the newest one it ships.
//!
//! Needs `kubectl` and `kubernetes-validate`; `make test-deps` installs both. Everything here
//! panics with a message naming what failed: it is for tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The oldest Kubernetes kagi supports (native sidecars, `matchConditions`).
pub const OLDEST_SUPPORTED: &str = "1.29.0";
/// Kinds no bundled schema covers (cert-manager CRDs); callers check them by hand.
pub const CRD_GROUP: &str = "cert-manager.io/";

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// A `kubectl` that runs, or a panic naming `make test-deps`.
pub fn kubectl() -> PathBuf {
    for candidate in ["kubectl", "/usr/bin/kubectl", "/usr/local/bin/kubectl"] {
        if Command::new(candidate)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return PathBuf::from(candidate);
        }
    }
    panic!("kubectl is not installed: run `make test-deps`");
}

fn python_validator_available() {
    let ok = Command::new("python3")
        .args(["-c", "import kubernetes_validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the PyPI package kubernetes-validate is not installed: run `make test-deps`"
    );
}

/// 1.29 and the newest schema the installed validator ships.
pub fn schema_versions() -> Vec<String> {
    python_validator_available();
    let out = Command::new("python3")
        .args([
            "-c",
            "import kubernetes_validate.utils as u; print(u.latest_version())",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        latest.as_str() > OLDEST_SUPPORTED,
        "kubernetes-validate ships schemas only up to {latest}"
    );
    vec![OLDEST_SUPPORTED.to_string(), latest]
}

/// `kubectl kustomize deploy/<dir>`.
pub fn kustomize(dir: &str) -> String {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(deploy_dir().join(dir))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The non-empty documents of a multi-document YAML text.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("manifests parse as YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Validates `yaml` strictly against every schema version; every document of a built-in
/// kind must pass, and only cert-manager kinds may lack a schema.
pub fn validate(label: &str, yaml: &str) {
    let docs = documents(yaml);
    let built_in = docs
        .iter()
        .filter(|d| !d["apiVersion"].as_str().unwrap().starts_with(CRD_GROUP))
        .count();
    assert!(built_in > 0, "{label}: nothing to validate");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{}.yaml", label.replace('/', "_")));
    std::fs::write(&file, yaml).unwrap();
    for version in schema_versions() {
        let out = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "-k", &version])
            .arg(&file)
            .output()
            .expect("kubernetes-validate runs");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{label} is invalid for Kubernetes {version}:\n{report}"
        );
        let passed = report
            .lines()
            .filter(|l| l.contains(" passed for resource "))
            .count();
        assert_eq!(
            passed, built_in,
            "{label} on {version}: not every document passed:\n{report}"
        );
        for line in report.lines().filter(|l| l.starts_with("WARN")) {
            assert!(
                line.contains("api version cert-manager.io/v1"),
                "{label} on {version}: unexpected warning: {line}"
            );
        }
    }
}

/// The object of `kind` named `name`, or a panic saying it is missing.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The literal `value` of environment variable `name` of a container.
pub fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

/// The Secret name kagi-certs uses by default (`kagi_certs::auto::DEFAULT_CA_SECRET`); the
/// harness does not link the kagi libraries, so it is read from the source.
pub fn kagi_certs_default_secret() -> String {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/src/auto/mod.rs"),
    )
    .unwrap();
    let line = source
        .lines()
        .find(|l| l.contains("pub const DEFAULT_CA_SECRET"))
        .expect("DEFAULT_CA_SECRET is defined");
    line.split('"').nth(1).unwrap().to_string()
}
