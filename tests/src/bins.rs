//! Paths of the built workspace binaries (`kagi-agent`, `kagi-webhook`, the test programs).

use std::path::PathBuf;

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
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = target_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        anyhow::bail!(
            "{} is not built: run `cargo build --workspace --bins` first (`make test` does)",
            path.display()
        )
    }
}
