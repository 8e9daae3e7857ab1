//! `kagi-agent signal` against real processes: an app (a copy of `sh` under a name of its own,
//! trapping signals into a file) is found by name or pid file and signalled; a missing process
//! is a non-zero exit naming it; as a template `exec` in a running agent it signals the app on
//! every changed render, and a missing process is logged without failing the agent.

mod agent_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use agent_support::*;
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup::put_kv;
use serde_json::json;

/// A running app that writes `HUP` / `USR1` lines to `signals` when it gets those signals.
struct App {
    child: Child,
    name: String,
    signals: PathBuf,
}

impl App {
    /// `name` must be unique on the machine (tests run side by side).
    fn start(parent: &Path, name: &str) -> App {
        let dir = parent.join(format!("{name}.d"));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join(name);
        std::fs::copy("/bin/sh", &program).expect("copy /bin/sh");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let signals = dir.join("signals.log");
        let ready = dir.join("ready");
        let script = format!(
            "trap 'echo HUP >> {s}' HUP; trap 'echo USR1 >> {s}' USR1; echo up > {r}; while :; do sleep 0.1; done",
            s = signals.display(),
            r = ready.display()
        );
        let child = Command::new(&program)
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the app");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the app did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        App {
            child,
            name: name.to_owned(),
            signals,
        }
    }

    fn received(&self) -> Vec<String> {
        std::fs::read_to_string(&self.signals)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn wait_for(&self, want: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.received() != want {
            assert!(
                Instant::now() < deadline,
                "the app received {:?}, want {want:?}",
                self.received()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_bin() -> PathBuf {
    kagi_tests::bins::binary("kagi-agent").expect("kagi-agent binary")
}

fn signal(args: &[&str]) -> Output {
    Command::new(agent_bin())
        .arg("signal")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kagi-agent signal")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}

#[test]
fn signals_a_process_by_name_or_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(dir.path(), &unique("ksig-"));

    let out = signal(&["--signal", "SIGHUP", "--process", &app.name]);
    assert!(out.status.success(), "{out:?}");
    app.wait_for(&["HUP"]);

    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, format!("{}\n", app.child.id())).unwrap();
    let out = signal(&["--signal=usr1", "--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    app.wait_for(&["HUP", "USR1"]);

    // By number, and by the executable's full name (longer than the kernel's 15-byte comm).
    let long = App::start(dir.path(), &unique("ksig-long-application-"));
    let out = signal(&["--signal", "1", "--process", &long.name]);
    assert!(out.status.success(), "{out:?}");
    long.wait_for(&["HUP"]);
    assert_eq!(app.received(), ["HUP", "USR1"], "only the named app");
}

#[test]
fn no_such_process_or_bad_input_is_a_failure_with_a_message() {
    let missing = unique("ksig-missing-");
    let out = signal(&["--signal", "SIGHUP", "--process", &missing]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&missing), "{stderr}");

    let out = signal(&["--signal", "SIGBOGUS", "--process", "x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGBOGUS"));

    // A pid file left behind by an app that exited.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.pid");
    std::fs::write(&stale, gone.id().to_string()).unwrap();
    let out = signal(&["--signal", "HUP", "--pid-file", stale.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not running"),
        "{out:?}"
    );

    let out = signal(&["--signal", "HUP", "--pid-file", "/nonexistent/app.pid"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/app.pid"));
}

/// The agent's own `signal` subcommand as a template `exec`: the app gets one signal per changed
/// render; a missing process is logged, the render stands, the agent keeps running.
#[test]
fn as_a_template_exec_it_signals_on_each_change_and_tolerates_a_missing_process() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let secret = "secret/signal-app";
    put_kv(&bao, secret, &[("v", "1")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(dir.path(), &unique("ksig-app-"));
    let token = dir.path().join("token");
    std::fs::write(&token, bao.root_token()).unwrap();
    let agent_path = agent_bin().display().to_string();
    let contents = format!("{{{{ with secret \"{secret}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}");
    let mut signalled = template(&dir.path().join("app.conf"), &contents);
    signalled["exec"] =
        json!({ "command": [agent_path, "signal", "--signal", "SIGHUP", "--process", app.name] });
    let mut orphan = template(&dir.path().join("other.conf"), &contents);
    orphan["exec"] = json!({ "command": [agent_path, "signal", "--signal", "SIGHUP", "--process", unique("ksig-gone-")] });
    let mut cfg = config(
        &bao.addr(),
        token_file_method(&token),
        &dir.path().join("sink"),
        vec![orphan, signalled],
    );
    cfg["template_config"] =
        json!({ "exit_on_retry_failure": true, "static_secret_render_interval": "1s" });
    let mut agent = Agent::start(dir.path(), "agent", &cfg);

    app.wait_for(&["HUP"]);
    eventually(
        &agent,
        "the missing process logged",
        Duration::from_secs(10),
        || agent.log().contains("ksig-gone-").then_some(()),
    );
    assert!(
        agent.is_running(),
        "a missing process must not stop the agent"
    );

    put_kv(&bao, secret, &[("v", "2")]).unwrap();
    app.wait_for(&["HUP", "HUP"]);
    assert_eq!(read(&dir.path().join("app.conf")).as_deref(), Some("2"));
    assert!(agent.is_running());
}
