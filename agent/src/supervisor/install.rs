//! `kagi-agent install DIR`: copies the running executable to `DIR/kagi-agent`, read-only and
//! executable, so an init container can hand the wrapper to app containers without a shell or
//! `cp` in the image.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The installed file's name.
pub const BINARY_NAME: &str = "kagi-agent";

/// Read and execute for everyone, write for nobody: the app cannot change the wrapper.
pub const MODE: u32 = 0o555;

#[derive(Debug, thiserror::Error)]
#[error("install: {what} {path}: {source}")]
pub struct InstallError {
    what: &'static str,
    path: String,
    source: io::Error,
}

/// Copies `source` (the running executable, `/proc/self/exe`) to `dir/kagi-agent` atomically:
/// written to a temporary name in `dir`, made 0555, then renamed over any old copy.
pub fn install(source: &Path, dir: &Path) -> Result<PathBuf, InstallError> {
    let fail = |what, path: &Path| {
        let path = path.display().to_string();
        move |source| InstallError { what, path, source }
    };
    let target = dir.join(BINARY_NAME);
    let temp = dir.join(format!(".{BINARY_NAME}.{}.tmp", std::process::id()));
    let result = fs::copy(source, &temp)
        .map_err(fail("cannot copy to", &temp))
        .and_then(|_| {
            fs::set_permissions(&temp, fs::Permissions::from_mode(MODE))
                .map_err(fail("cannot set the mode of", &temp))
        })
        .and_then(|()| {
            fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(fail("cannot sync", &temp))
        })
        .and_then(|()| fs::rename(&temp, &target).map_err(fail("cannot rename to", &target)));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_a_read_only_copy_and_replaces_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        fs::write(&source, b"binary").unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let target = install(&source, &out).unwrap();
        assert_eq!(target, out.join("kagi-agent"));
        assert_eq!(fs::read(&target).unwrap(), b"binary");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o555);
        fs::write(&source, b"newer").unwrap();
        install(&source, &out).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"newer");
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("kagi-agent")],
            "no temp left"
        );
        let err = install(&source, &dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
