//! The kagi Helm chart (`deploy/helm/kagi`) rendered and linted by Helm itself: the Go SDK
//! that PyPI's `helm-python-sdk` carries, driven through `tests/helm_sdk.py`. Nothing here
//! re-implements Helm's templating, values merging or schema validation.
//!
//! `make test-deps` installs the SDK; without it every call panics saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    crate::manifests::deploy_dir().join("helm/kagi")
}

/// A chart rendered by Helm.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Every object, parsed (YAML 1.1, as the API server reads it).
    pub objects: Vec<Value>,
    /// The manifests as Helm wrote them, one YAML stream (for kubernetes-validate).
    pub yaml: String,
    /// NOTES.txt as the user sees it after `helm install`.
    pub notes: String,
}

/// Values for one render: YAML files (parsed by Helm, as `-f`) and then JSON values over them.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub files: Vec<PathBuf>,
    pub overrides: Value,
}

impl Values {
    /// Only `overrides` (`--set-json`).
    pub fn json(overrides: Value) -> Values {
        Values {
            files: Vec::new(),
            overrides,
        }
    }

    /// A values file (`-f FILE`), with `overrides` over it.
    pub fn file(path: impl AsRef<Path>, overrides: Value) -> Values {
        Values {
            files: vec![path.as_ref().to_path_buf()],
            overrides,
        }
    }
}

/// Renders the chart as `helm install RELEASE -n NAMESPACE` would; Helm's own error (schema,
/// template) is the `Err`.
pub fn render(values: &Values, release: &str, namespace: &str) -> Result<Rendered, String> {
    let answer = call(json!({
        "op": "render",
        "chart": chart_dir(),
        "values_files": values.files,
        "values": values.overrides,
        "release": release,
        "namespace": namespace,
    }))?;
    let objects = answer["objects"].as_array().cloned().unwrap_or_default();
    Ok(Rendered {
        objects,
        yaml: answer["yaml"].as_str().unwrap_or_default().to_owned(),
        notes: answer["notes"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The objects the chart makes for `values` (JSON, as `--set-json`), or a panic with Helm's
/// error. The routing-table test feeds the MutatingWebhookConfiguration from here.
pub fn render_chart(values: &Value, release: &str, namespace: &str) -> Vec<Value> {
    render(&Values::json(values.clone()), release, namespace)
        .unwrap_or_else(|e| panic!("helm could not render the chart: {e}"))
        .objects
}

/// `helm lint --strict` with `values`: Helm's report
/// (`{"messages": [{"severity", "path", "error"}], "errors": [...]}`, severity 2 = warning,
/// 3 = error).
pub fn lint(values: &Values) -> Value {
    let answer = call(json!({
        "op": "lint",
        "chart": chart_dir(),
        "values_files": values.files,
        "values": values.overrides,
    }))
    .unwrap_or_else(|e| panic!("helm lint could not run: {e}"));
    answer["report"].clone()
}

fn call(request: Value) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("helm_sdk.py");
    let out = crate::procs::output_with_stdin(
        Command::new("python3").arg(&script),
        request.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("python3 does not run ({e}): run `make test-deps`"));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} answered no JSON ({e}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if let Some(missing) = answer["missing"].as_str() {
        panic!(
            "the PyPI package helm-python-sdk is not installed ({missing}): run `make test-deps`"
        );
    }
    if answer["ok"] == true {
        Ok(answer)
    } else {
        Err(answer["error"].as_str().unwrap_or("no message").to_owned())
    }
}
