//! Paths of the built workspace binaries (`kagi-agent`, `kagi-webhook`, the test programs).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The directory cargo puts binaries in for the running profile (`target/<profile>/`),
/// found from the running executable (`target/<profile>/deps/<test>-<hash>` for tests,
/// `target/<profile>/<bin>` for binaries).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent directory", exe.display()))?
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// The path of a built binary of this workspace, or an error saying how to build it.
/// Warns (on stderr) when the binary is older than its package's sources: `cargo test -p
/// kagi-tests` does not rebuild other packages' binaries.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = target_dir()?.join(name);
    if !path.is_file() {
        anyhow::bail!(
            "{} is not built: run `cargo build --workspace --bins` first (`make test` does)",
            path.display()
        )
    }
    warn_if_stale(&path, name, "cargo build --workspace --bins");
    Ok(path)
}

/// Warns (on stderr) when `built` is older than the sources of the package behind `binary`,
/// naming the command that rebuilds it.
pub(crate) fn warn_if_stale(built: &Path, binary: &str, rebuild: &str) {
    if let Some(sources) = package_sources(binary)
        && let (Some(built_at), Some(edited)) = (modified(built), newest_modification(&sources))
        && edited > built_at
    {
        eprintln!(
            "kagi-tests: warning: {} is older than {}; run `{rebuild}`",
            built.display(),
            sources.display()
        );
    }
}

/// `webhook/src` for `kagi-webhook`, `agent/src` for `kagi-agent`, `tests/src` for the
/// harness's `kagi-test-app`.
fn package_sources(binary: &str) -> Option<PathBuf> {
    let package = match binary {
        "kagi-test-app" => "tests",
        other => other.strip_prefix("kagi-")?,
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(package)
        .join("src");
    dir.is_dir().then_some(dir)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

fn newest_modification(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_modification(&path)
        } else {
            modified(&path)
        };
        newest = newest.max(time);
    }
    newest
}
