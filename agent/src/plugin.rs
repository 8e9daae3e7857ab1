//! Runs a template's `plugin` program: blocking, with a deadline, killed when it passes it.

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::template::PluginError;

/// Runs `program args...` with no stdin; its stdout once it exits 0 within `timeout`.
pub fn run(program: &str, args: &[String], timeout: Duration) -> Result<Vec<u8>, PluginError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| PluginError::Start(start_error(program, &e)))?;
    // Drain both pipes while waiting, so a chatty program cannot block on a full pipe.
    let mut stdout_pipe = child.stdout.take().expect("piped");
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut buf);
        buf
    });
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        // Output of a killed program is dropped; its pipes close once it is gone
        // (a grandchild holding them open must not keep the render waiting).
        return Err(PluginError::TimedOut);
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(PluginError::Failed {
            status: go_status(status),
            stdout,
            stderr,
        })
    }
}

/// Go's `exec` wording for a program that could not start.
fn start_error(program: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
        format!("exec: {program:?}: executable file not found in $PATH")
    } else {
        format!("fork/exec {program}: {e}")
    }
}

/// `exit status N` or `signal: NAME`, as Go's `*exec.ExitError` prints it.
fn go_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(15)) => "signal: terminated".into(),
        (None, Some(sig)) => format!("signal: {sig}"),
        (None, None) => "exit status unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_exit_status() {
        let out = run(
            "sh",
            &["-c".into(), "printf 'a b'; echo err >&2".into()],
            Duration::from_secs(5),
        );
        assert_eq!(out.unwrap(), b"a b");
        let err = run(
            "sh",
            &["-c".into(), "echo o; echo e >&2; exit 3".into()],
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PluginError::Failed {
                status: "exit status 3".into(),
                stdout: b"o\n".to_vec(),
                stderr: b"e\n".to_vec()
            }
        );
        let err = run("no-such-plugin-kagi", &[], Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, PluginError::Start(m) if m.contains("executable file not found")));
    }

    #[test]
    fn a_hanging_program_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let err = run("sh", &["-c".into(), script], Duration::from_secs(1)).unwrap_err();
        assert_eq!(err, PluginError::TimedOut);
        // The program itself (sh exec'd into sleep) is gone: killed and reaped, not left behind.
        let pid = std::fs::read_to_string(&pid_file).expect("the plugin wrote its pid");
        let proc_dir = format!("/proc/{}", pid.trim());
        assert!(
            !std::path::Path::new(&proc_dir).exists(),
            "plugin process {} still exists after the timeout",
            pid.trim()
        );
    }
}
