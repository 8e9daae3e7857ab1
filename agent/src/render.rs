//! Writing rendered files and running template commands.
//!
//! Files are written the consul-template way: a temp file in the destination's directory,
//! fsync, chmod, rename. Identical bytes are not rewritten, so a mtime-watching app sees no
//! change and the template's command does not run.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::config::Command;

/// What [`write_atomic`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Unchanged,
    Written,
}

/// File mode rules: the configured one, else the existing file's, else `default`.
pub fn effective_mode(configured: Option<u32>, existing: Option<u32>, default: u32) -> u32 {
    configured.or(existing).unwrap_or(default) & 0o7777
}

/// Writes `bytes` to `dest` atomically unless it already holds exactly them.
pub fn write_atomic(
    dest: &Path,
    bytes: &[u8],
    perms: Option<u32>,
    default_mode: u32,
    create_dirs: bool,
) -> io::Result<WriteOutcome> {
    let existing_mode = match fs::metadata(dest) {
        Ok(meta) => Some(meta.permissions().mode()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mode = effective_mode(perms, existing_mode, default_mode);
    if existing_mode.is_some() {
        // A read error on the existing file is a render error, not a silent overwrite.
        let current = fs::read(dest)?;
        if current == bytes {
            if existing_mode.map(|m| m & 0o7777) != Some(mode) {
                fs::set_permissions(dest, fs::Permissions::from_mode(mode))?;
            }
            return Ok(WriteOutcome::Unchanged);
        }
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.exists() {
        if !create_dirs {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("parent directory {} is missing", dir.display()),
            ));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.kagi-{:08x}", fastrand::u32(..)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        drop(file);
        fs::rename(&temp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // Persist the rename itself; a failure here is not worth failing the render for.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(WriteOutcome::Written)
}

/// Appends (or writes) one `writeToFile` side effect.
pub fn write_side_file(write: &crate::template::FileWrite) -> io::Result<()> {
    let path = Path::new(&write.path);
    let mut contents = write.contents.clone().into_bytes();
    if write.newline {
        contents.push(b'\n');
    }
    if write.append {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)?;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(write.mode)
            .open(path)?;
        file.write_all(&contents)?;
        return file.sync_all();
    }
    write_atomic(path, &contents, Some(write.mode), 0o644, true).map(|_| ())
}

/// How a command will be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Argv(Vec<String>),
    Shell(String),
}

/// Characters that make a command line need a shell.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
    '{', '}', '\n',
];

/// Splits a command: argv lists run as they are; a string runs directly when it is plain words,
/// and through `sh -c` only when it uses shell syntax (images without a shell still work).
pub fn invocation(command: &Command) -> Option<Invocation> {
    match command {
        Command::Argv(argv) if argv.is_empty() => None,
        Command::Argv(argv) => Some(Invocation::Argv(argv.clone())),
        Command::Line(line) if line.trim().is_empty() => None,
        Command::Line(line) if line.contains(SHELL_SYNTAX) => Some(Invocation::Shell(line.clone())),
        Command::Line(line) => Some(Invocation::Argv(
            line.split_whitespace().map(str::to_owned).collect(),
        )),
    }
}

/// Why a template command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("command {command:?} needs a shell, but /bin/sh does not exist")]
    NoShell { command: String },
    #[error("command {command:?} could not start: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("command {command:?} exited with {status}")]
    Failed { command: String, status: String },
    #[error("command {command:?} did not finish within {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
}

/// Runs a template command with a timeout; the child is killed if it overruns.
pub async fn run_command(command: &Invocation, timeout: Duration) -> Result<(), CommandError> {
    let (label, mut cmd) = match command {
        Invocation::Argv(argv) => {
            let mut cmd = tokio::process::Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            (argv.join(" "), cmd)
        }
        Invocation::Shell(line) => {
            if !Path::new("/bin/sh").exists() {
                return Err(CommandError::NoShell {
                    command: line.clone(),
                });
            }
            let mut cmd = tokio::process::Command::new("/bin/sh");
            cmd.arg("-c").arg(line);
            (line.clone(), cmd)
        }
    };
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        command: label.clone(),
        source,
    })?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Failed {
            command: label,
            status: status.to_string(),
        }),
        Ok(Err(source)) => Err(CommandError::Spawn {
            command: label,
            source,
        }),
        Err(_) => {
            let _ = child.kill().await;
            Err(CommandError::Timeout {
                command: label,
                timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn mode_precedence_is_configured_existing_default() {
        assert_eq!(effective_mode(Some(0o600), Some(0o640), 0o644), 0o600);
        assert_eq!(effective_mode(None, Some(0o100640), 0o644), 0o640);
        assert_eq!(effective_mode(None, None, 0o644), 0o644);
    }

    #[test]
    fn writes_atomically_and_skips_identical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("nested/out.txt");
        assert_eq!(
            write_atomic(&dest, b"one", None, 0o644, true).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        assert_eq!(mode_of(&dest), 0o644);
        assert_eq!(mode_of(dest.parent().unwrap()), 0o755);
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            write_atomic(&dest, b"one", None, 0o644, true).unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            write_atomic(&dest, b"two", None, 0o644, true).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(mode_of(&dest), 0o600, "existing mode is kept");
        write_atomic(&dest, b"three", Some(0o640), 0o644, true).unwrap();
        assert_eq!(mode_of(&dest), 0o640);
        let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[test]
    fn missing_parent_is_an_error_without_create_dest_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/out"), b"x", None, 0o644, false).unwrap_err();
        assert!(err.to_string().contains("parent directory"));
    }

    #[test]
    fn commands_use_a_shell_only_for_shell_syntax() {
        assert_eq!(
            invocation(&Command::Line("kill -HUP 1".into())),
            Some(Invocation::Argv(vec![
                "kill".into(),
                "-HUP".into(),
                "1".into()
            ]))
        );
        assert_eq!(
            invocation(&Command::Line("pkill -HUP app || true".into())),
            Some(Invocation::Shell("pkill -HUP app || true".into()))
        );
        assert_eq!(invocation(&Command::Line("  ".into())), None);
    }

    #[tokio::test]
    async fn command_failures_and_timeouts_are_reported() {
        run_command(
            &Invocation::Argv(vec!["true".into()]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let err = run_command(&Invocation::Shell("exit 3".into()), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");
        let err = run_command(
            &Invocation::Argv(vec!["sleep".into(), "5".into()]),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }));
    }
}
