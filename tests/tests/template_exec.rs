//! Differential test of template `exec` and `wait`: the real `bao agent` and the real
//! `kagi-agent` run side by side on the same JSON config (long-running, token_file auth)
//! against one `bao server -dev`, and the secrets they render change under them. Commands
//! append a line to a file, so each agent's command runs are counted and ordered.
//!
//! Measured on `bao agent` 2.7.2 and asserted for both: commands run after a render that
//! changed the file and not after an identical one, in configuration order, each distinct
//! command once per pass; a failing command fails the runner (exit 1 with
//! `exit_on_retry_failure`), except in `exit_after_auth` mode, where the agent still exits 0;
//! a command past its timeout is killed, the whole process group for a shell command; a burst
//! of changes inside `wait.min` gives one render and one command run; changes that never stop
//! still render by `wait.max`.

mod agent_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kagi_tests::openbao::OpenBao;
use kagi_tests::setup::put_kv;
use serde_json::{Value, json};

const AGENTS: [&str; 2] = ["bao", "kagi"];

/// One running agent; killed on drop.
struct Agent {
    which: &'static str,
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(bao: &OpenBao, which: &'static str, dir: &Path, config: &Value) -> Agent {
        let cfg = dir.join("agent.json");
        std::fs::write(&cfg, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log = dir.join("agent.log");
        let mut cmd = if which == "bao" {
            let mut c = bao.cli();
            c.arg("agent").arg("-config").arg(&cfg);
            c
        } else {
            let mut c =
                Command::new(kagi_tests::bins::binary("kagi-agent").expect("kagi-agent binary"));
            c.arg("run").arg("-config").arg(&cfg);
            c
        };
        let out = std::fs::File::create(&log).unwrap();
        cmd.env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("VAULT_CONFIG")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = cmd.spawn().expect("start agent");
        Agent { which, child, log }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        agent_support::wait_child(&mut self.child, timeout)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} agent log ---\n{}", self.which, self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running config rendering `templates`; static secrets are re-read every second.
fn config(bao: &OpenBao, dir: &Path, templates: Vec<Value>) -> Value {
    let token = dir.join("token");
    std::fs::write(&token, bao.root_token()).unwrap();
    json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": token.display().to_string() } } ],
            "sink": [ { "type": "file", "config": { "path": dir.join("sink").display().to_string() } } ]
        },
        "template_config": { "exit_on_retry_failure": true, "static_secret_render_interval": "1s" },
        "template": templates,
    })
}

/// A script that appends its second argument to the file named by its first.
fn note_script(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("note.sh");
    std::fs::write(&path, "#!/bin/sh\necho \"$2\" >> \"$1\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn field(path: &str, key: &str) -> String {
    format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data.data.{key} }}}}{{{{ end }}}}")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Polls until `check` holds for every agent (each with its directory), or panics naming the
/// agent that did not get there.
fn eventually(
    agents: &[(Agent, tempfile::TempDir)],
    what: &str,
    timeout: Duration,
    check: impl Fn(&Path) -> bool,
) {
    let deadline = Instant::now() + timeout;
    for (agent, dir) in agents {
        while !check(dir.path()) {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}",
                agent.which
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn started_bao() -> OpenBao {
    OpenBao::start().expect("OpenBao dev server (is `bao` installed? run `make test-deps`)")
}

#[test]
fn commands_run_after_changed_renders_in_order_once_each() {
    let bao = started_bao();
    let secret = "secret/exec-order";
    put_kv(&bao, secret, &[("a", "1"), ("b", "1"), ("d", "1")]).unwrap();
    let agents: Vec<(Agent, tempfile::TempDir)> = AGENTS
        .iter()
        .map(|which| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let note = note_script(d);
            let log = d.join("commands.log").display().to_string();
            let dest = |name: &str| d.join(name).display().to_string();
            let templates = vec![
                json!({ "destination": dest("a.txt"), "contents": field(secret, "a"),
                        "exec": { "command": [note, log, "one"] } }),
                json!({ "destination": dest("b.txt"), "contents": field(secret, "b"),
                        "exec": { "command": [note, log, "two"], "timeout": "10s" } }),
                // The same command as the first template's: queued once per pass.
                json!({ "destination": dest("c.txt"), "contents": field(secret, "a"),
                        "exec": { "command": [note, log, "one"] } }),
                // The deprecated spelling, one string: runs through `sh -c`.
                json!({ "destination": dest("d.txt"), "contents": field(secret, "d"),
                        "command": format!("{note} {log} three"), "command_timeout": "10s" }),
            ];
            let agent = Agent::start(&bao, which, d, &config(&bao, d, templates));
            (agent, dir)
        })
        .collect();
    eventually(
        &agents,
        "the first commands",
        Duration::from_secs(60),
        |d| lines(&d.join("commands.log")) == ["one", "two", "three"],
    );

    put_kv(&bao, secret, &[("a", "2"), ("b", "1"), ("d", "1")]).unwrap();
    eventually(
        &agents,
        "one run of the shared command after `a` changed",
        Duration::from_secs(30),
        |d| std::fs::read_to_string(d.join("c.txt")).is_ok_and(|c| c == "2"),
    );
    // Identical data in a new version: re-read (every second), rendered, not rewritten.
    put_kv(&bao, secret, &[("a", "2"), ("b", "1"), ("d", "1")]).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    put_kv(&bao, secret, &[("a", "2"), ("b", "2"), ("d", "1")]).unwrap();
    eventually(
        &agents,
        "the second template's command after `b` changed",
        Duration::from_secs(30),
        |d| lines(&d.join("commands.log")).len() >= 5,
    );
    std::thread::sleep(Duration::from_secs(2));
    for (agent, dir) in &agents {
        assert_eq!(
            lines(&dir.path().join("commands.log")),
            ["one", "two", "three", "one", "two"],
            "{}: command runs",
            agent.which
        );
    }
}

/// How each agent ends when its template's command fails.
#[test]
fn failing_and_overrunning_commands_fail_the_runner() {
    let bao = started_bao();
    let secret = "secret/exec-fail";
    put_kv(&bao, secret, &[("v", "x")]).unwrap();
    struct Case {
        name: &'static str,
        exec: Value,
        exit_after_auth: bool,
        want_success: bool,
    }
    let cases = |pid_file: &Path| {
        vec![
            Case {
                name: "exit 3",
                exec: json!({ "command": ["sh", "-c", "exit 3"] }),
                exit_after_auth: false,
                want_success: false,
            },
            Case {
                name: "timeout",
                exec: json!({
                    "command": format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
                    "timeout": "1s"
                }),
                exit_after_auth: false,
                want_success: false,
            },
            Case {
                name: "exit 3 with exit_after_auth",
                exec: json!({ "command": ["sh", "-c", "exit 3"] }),
                exit_after_auth: true,
                want_success: true,
            },
        ]
    };
    let mut runs = Vec::new();
    for which in AGENTS {
        for index in 0..cases(Path::new("")).len() {
            let dir = tempfile::tempdir().unwrap();
            let pid_file = dir.path().join("sleep.pid");
            let case = cases(&pid_file).remove(index);
            let dest = dir.path().join("out.txt");
            let mut cfg = config(
                &bao,
                dir.path(),
                vec![json!({ "destination": dest.display().to_string(),
                            "contents": field(secret, "v"), "exec": case.exec })],
            );
            cfg["exit_after_auth"] = json!(case.exit_after_auth);
            let agent = Agent::start(&bao, which, dir.path(), &cfg);
            runs.push((agent, dir, case, pid_file, dest));
        }
    }
    for (agent, _dir, case, pid_file, dest) in &mut runs {
        let status = agent.wait_exit(Duration::from_secs(60));
        let status =
            status.unwrap_or_else(|| panic!("{} ({}): still running", agent.which, case.name));
        assert_eq!(
            status.success(),
            case.want_success,
            "{} ({}): exit status {status}\n{}",
            agent.which,
            case.name,
            agent.log()
        );
        assert_eq!(
            std::fs::read_to_string(&*dest).ok().as_deref(),
            Some("x"),
            "{} ({}): rendered before the command",
            agent.which,
            case.name
        );
        if case.name == "timeout" {
            let pid = std::fs::read_to_string(&*pid_file).expect("the command started");
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            assert!(
                stat.is_err() || stat.is_ok_and(|s| s.contains(") Z ")),
                "{}: the shell command's child survived its timeout",
                agent.which
            );
        }
    }
}

#[test]
fn a_burst_inside_wait_min_gives_one_render_and_one_command() {
    let bao = started_bao();
    let burst = "secret/wait-burst";
    let endless = "secret/wait-endless";
    put_kv(&bao, burst, &[("n", "0")]).unwrap();
    put_kv(&bao, endless, &[("n", "0")]).unwrap();
    let agents: Vec<(Agent, tempfile::TempDir)> = AGENTS
        .iter()
        .map(|which| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let note = note_script(d);
            let runs = d.join("runs.log").display().to_string();
            let templates = vec![
                json!({ "destination": d.join("burst.txt").display().to_string(),
                        "contents": field(burst, "n"),
                        "wait": { "min": "4s", "max": "12s" },
                        "exec": { "command": [note, runs, "burst"] } }),
                json!({ "destination": d.join("endless.txt").display().to_string(),
                        "contents": field(endless, "n"),
                        "wait": "2s:5s" }),
            ];
            let agent = Agent::start(&bao, which, d, &config(&bao, d, templates));
            (agent, dir)
        })
        .collect();
    let runs = |d: &Path| lines(&d.join("runs.log"));
    eventually(&agents, "the first render", Duration::from_secs(60), |d| {
        runs(d) == ["burst"]
    });

    // Five changes 500 ms apart: a burst shorter than `min`, longer than the re-read period.
    for n in 1..=5 {
        put_kv(&bao, burst, &[("n", &n.to_string())]).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    eventually(
        &agents,
        "the burst's last value",
        Duration::from_secs(40),
        |d| std::fs::read_to_string(d.join("burst.txt")).is_ok_and(|c| c == "5"),
    );
    // Past another `min`: a second render of the burst would have come by now.
    std::thread::sleep(Duration::from_secs(5));
    for (agent, dir) in &agents {
        assert_eq!(
            runs(dir.path()),
            ["burst", "burst"],
            "{}: command runs",
            agent.which
        );
    }

    // A change every second never leaves `min` (2 s) of quiet: `max` (5 s) still renders.
    let mut rendered_while_changing = vec![false; agents.len()];
    for n in 1..=12 {
        put_kv(&bao, endless, &[("n", &n.to_string())]).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        for (i, (_, dir)) in agents.iter().enumerate() {
            let content =
                std::fs::read_to_string(dir.path().join("endless.txt")).unwrap_or_default();
            rendered_while_changing[i] |= content != "0";
        }
    }
    for ((agent, _), rendered) in agents.iter().zip(rendered_while_changing) {
        assert!(
            rendered,
            "{}: nothing rendered within wait.max of changes",
            agent.which
        );
    }
}
