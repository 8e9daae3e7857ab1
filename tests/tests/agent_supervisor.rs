//! Process-supervisor mode (`env_template` + `exec`), differential: the real `bao agent` and
//! `kagi-agent` run the same config against the same `bao server -dev`, each supervising a
//! `kagi-test-app --record FILE` that writes down every start (with its environment) and every
//! signal it gets. Compared: the child starts with the rendered variable; a KV change restarts
//! it with the stop signal and the new value (`always`) or leaves it alone (`never`); SIGTERM
//! to the agent reaches the child as the stop signal; the child's exit code becomes the
//! agent's; a missing key never starts it. kagi-only: `kagi-agent exec -- ...` with the config
//! in `VAULT_CONFIG`, SIGHUP passed to the child, revocation before the exit code is passed on,
//! orphan reaping as PID 1, `kagi-agent install`, and no value in the log.
//!
//! The timings printed (`KAGI_MEASURE` lines) are observations, not assertions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kagi_tests::openbao::OpenBao;
use serde_json::{Value, json};

const TEMPLATE: &str = r#"{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}"#;

/// `bao agent` waits 2 s after the last render before (re)starting the child; allow for it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavour {
    Bao,
    Kagi,
}

/// One supervising agent; killed (with its child group) on drop.
struct Supervisor {
    flavour: Flavour,
    child: Child,
    log_path: PathBuf,
    record: PathBuf,
    /// Unix time of the spawn, in ms (the app records its starts in the same unit).
    started_ms: u128,
}

impl Supervisor {
    fn start(flavour: Flavour, dir: &Path, config: &Value) -> Supervisor {
        let name = format!("{flavour:?}").to_lowercase();
        let config_path = dir.join(format!("{name}.json"));
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let mut cmd = match flavour {
            Flavour::Bao => {
                let mut cmd = Command::new(bao_bin());
                cmd.args(["agent", "-config"]).arg(&config_path);
                cmd
            }
            Flavour::Kagi => {
                let mut cmd = Command::new(kagi_tests::bins::binary("kagi-agent").unwrap());
                cmd.args(["run", "-config"]).arg(&config_path);
                cmd
            }
        };
        Supervisor::spawn(flavour, dir, &name, &mut cmd)
    }

    fn spawn(flavour: Flavour, dir: &Path, name: &str, cmd: &mut Command) -> Supervisor {
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let out = log.try_clone().unwrap();
        cmd.env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_ADDR")
            .env_remove("BAO_TOKEN")
            .env("VAULT_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log);
        let started_ms = unix_ms();
        let child = cmd.spawn().expect("start the agent");
        Supervisor {
            flavour,
            child,
            log_path,
            record: dir.join(format!("{name}.record")),
            started_ms,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("record line is JSON"))
            .collect()
    }

    fn starts(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "start")
            .collect()
    }

    /// Polls `check` until it gives a value; on timeout fails with `what`, the events and
    /// the log.
    fn until<T>(&self, what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
        let found = kagi_tests::procs::wait_for(what, timeout, check);
        found.unwrap_or_else(|e| {
            panic!(
                "{:?}: {e}; events {:?}\n--- log ---\n{}",
                self.flavour,
                self.events(),
                self.log()
            )
        })
    }

    /// Waits until the record has `count` events.
    fn wait_events(&self, count: usize, what: &str) {
        self.until(what, START_TIMEOUT, || {
            (self.events().len() >= count).then_some(())
        });
    }

    fn signal(&self, name: &str) {
        kagi_tests::procs::signal(self.child.id(), name).unwrap();
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        let exited =
            kagi_tests::procs::wait_for("the agent to exit", timeout, || child.try_wait().unwrap());
        exited.unwrap_or_else(|e| panic!("{:?}: {e}\n--- log ---\n{}", self.flavour, self.log()))
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {:?} log ---\n{}", self.flavour, self.log());
        }
        // The child is stopped by its agent on SIGTERM; kill whatever is left of both.
        if let Ok(None) = self.child.try_wait() {
            let _ = kagi_tests::procs::signal(self.child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for start in self.starts() {
            if let Some(pid) = start["pid"].as_u64() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn bao_bin() -> PathBuf {
    std::env::var_os("BAO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("bao"))
}

fn test_app() -> String {
    kagi_tests::bins::binary("kagi-test-app")
        .unwrap()
        .display()
        .to_string()
}

fn put_password(bao: &OpenBao, value: &str) {
    bao.bao_json(&["kv", "put", "secret/app", &format!("password={value}")])
        .unwrap();
}

/// A config both agents accept: token_file auth with the root token, one env template, and
/// `exec` with `exec_extra` merged in.
fn config(bao: &OpenBao, dir: &Path, template: &str, exec: Value) -> Value {
    let token_file = dir.join("token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": token_file.display().to_string() } } ]
        },
        "template_config": { "static_secret_render_interval": "1s", "exit_on_retry_failure": true },
        "env_template": { "PASSWORD": { "contents": template, "error_on_missing_key": true } },
        "exec": exec,
    })
}

fn record_command(record: &Path, extra: &[&str]) -> Value {
    let mut argv = vec![
        test_app(),
        "--record".into(),
        record.display().to_string(),
        "--env".into(),
        "PASSWORD".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    json!(argv)
}

/// Starts both flavours on configs that differ only in the record file.
fn start_both(dir: &Path, make: impl Fn(&Path) -> Value) -> Vec<Supervisor> {
    [Flavour::Bao, Flavour::Kagi]
        .into_iter()
        .map(|flavour| {
            let sub = dir.join(format!("{flavour:?}").to_lowercase());
            std::fs::create_dir_all(&sub).unwrap();
            let record = sub.join(format!("{}.record", format!("{flavour:?}").to_lowercase()));
            Supervisor::start(flavour, &sub, &make(&record))
        })
        .collect()
}

/// Both flavours on `template` with `exec(record)` as the `exec` block.
fn both_with(
    bao: &OpenBao,
    dir: &Path,
    template: &str,
    exec: impl Fn(&Path) -> Value,
) -> Vec<Supervisor> {
    start_both(dir, |record| config(bao, dir, template, exec(record)))
}

/// The events with pids replaced by the ordinal of the start they belong to.
fn shape(events: &[Value]) -> Vec<String> {
    let mut pids = Vec::new();
    events
        .iter()
        .map(|e| {
            let pid = e["pid"].as_u64().unwrap();
            if !pids.contains(&pid) {
                pids.push(pid);
            }
            let n = pids.iter().position(|p| *p == pid).unwrap();
            match e["event"].as_str().unwrap() {
                "start" => format!("start#{n} PASSWORD={}", e["env"]["PASSWORD"]),
                _ => format!("{}#{n}", e["signal"].as_str().unwrap()),
            }
        })
        .collect()
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn start_ms(start: &Value) -> u128 {
    start["at_ms"].as_u64().expect("a start has at_ms") as u128
}

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{label}-{nanos:08x}")
}

#[test]
fn always_restarts_with_the_stop_signal_and_new_value_like_bao_agent() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let (first, second) = (unique("first"), unique("second"));
    put_password(&bao, &first);
    let dir = tempfile::tempdir().unwrap();
    let mut agents = both_with(
        &bao,
        dir.path(),
        TEMPLATE,
        |record| json!({ "command": record_command(record, &[]), "restart_on_secret_changes": "always", "restart_stop_signal": "SIGUSR1" }),
    );
    for agent in &agents {
        agent.wait_events(1, "the first start");
        eprintln!(
            "KAGI_MEASURE {:?} agent start -> child start: {} ms; wrapper RSS {} KiB",
            agent.flavour,
            start_ms(&agent.starts()[0]) - agent.started_ms,
            agent.rss_kib()
        );
        assert_eq!(agent.starts()[0]["env"]["PASSWORD"], json!(first));
    }

    let changed = unix_ms();
    put_password(&bao, &second);
    for agent in &agents {
        agent.wait_events(3, "the restart");
        eprintln!(
            "KAGI_MEASURE {:?} KV change -> restarted child: {} ms (static_secret_render_interval 1s)",
            agent.flavour,
            start_ms(&agent.starts()[1]) - changed
        );
    }

    let mut statuses = Vec::new();
    for agent in &mut agents {
        agent.signal("TERM");
        statuses.push(agent.wait_exit(Duration::from_secs(20)));
        agent.wait_events(4, "the stop signal at shutdown");
    }
    let expected = vec![
        format!("start#0 PASSWORD=\"{first}\""),
        "SIGUSR1#0".to_owned(),
        format!("start#1 PASSWORD=\"{second}\""),
        "SIGUSR1#1".to_owned(),
    ];
    for agent in &agents {
        assert_eq!(shape(&agent.events()), expected, "{:?}", agent.flavour);
    }
    assert_eq!(
        statuses[0].code(),
        statuses[1].code(),
        "exit code after SIGTERM: bao {:?}, kagi {:?}",
        statuses[0],
        statuses[1]
    );
    let kagi_log = agents[1].log();
    assert!(
        !kagi_log.contains(&first) && !kagi_log.contains(&second),
        "kagi-agent logged a secret value"
    );
    assert!(kagi_log.contains("PASSWORD"), "the log names the variable");
}

#[test]
fn never_leaves_the_child_running_like_bao_agent() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let first = unique("first");
    put_password(&bao, &first);
    let dir = tempfile::tempdir().unwrap();
    let mut agents = both_with(
        &bao,
        dir.path(),
        TEMPLATE,
        |record| json!({ "command": record_command(record, &[]), "restart_on_secret_changes": "never" }),
    );
    for agent in &agents {
        agent.wait_events(1, "the first start");
    }
    put_password(&bao, &unique("second"));
    // Both agents say when they saw the change and kept the child.
    let seen = [
        "detected update, but not restarting process",
        "not restarting the child",
    ];
    for (agent, line) in agents.iter().zip(seen) {
        agent.until("the change to be noticed", START_TIMEOUT, || {
            agent.log().contains(line).then_some(())
        });
    }
    for agent in &mut agents {
        agent.signal("TERM");
        agent.wait_exit(Duration::from_secs(20));
        // The default stop signal.
        assert_eq!(
            shape(&agent.events()),
            vec![
                format!("start#0 PASSWORD=\"{first}\""),
                "SIGTERM#0".to_owned()
            ],
            "{:?}",
            agent.flavour
        );
    }
}

#[test]
fn the_childs_exit_code_becomes_the_agents_like_bao_agent() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    put_password(&bao, &unique("pw"));
    let dir = tempfile::tempdir().unwrap();
    let mut agents = both_with(
        &bao,
        dir.path(),
        TEMPLATE,
        |record| json!({ "command": record_command(record, &["--exit", "--exit-code", "7"]) }),
    );
    for agent in &mut agents {
        let status = agent.wait_exit(START_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(7),
            "{:?}\n{}",
            agent.flavour,
            agent.log()
        );
        assert_eq!(agent.starts().len(), 1, "{:?}: started once", agent.flavour);
    }
}

#[test]
fn a_missing_key_never_starts_the_child_like_bao_agent() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    put_password(&bao, &unique("pw"));
    let dir = tempfile::tempdir().unwrap();
    let missing = r#"{{ with secret "secret/data/app" }}{{ .Data.data.no_such_key }}{{ end }}"#;
    let mut agents = both_with(
        &bao,
        dir.path(),
        missing,
        |record| json!({ "command": record_command(record, &[]) }),
    );
    for agent in &mut agents {
        let status = agent.wait_exit(Duration::from_secs(60));
        assert!(!status.success(), "{:?} exited 0", agent.flavour);
        assert!(
            agent.events().is_empty(),
            "{:?} started the child",
            agent.flavour
        );
    }
    let log = agents[1].log();
    assert!(
        log.contains("$PASSWORD") && log.contains("no_such_key"),
        "the error names the variable and the key:\n{log}"
    );
}

#[test]
fn exec_subcommand_takes_the_command_line_and_passes_sighup() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let value = unique("pw");
    put_password(&bao, &value);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("exec.record");
    // No `exec` block: the defaults (always, SIGTERM) and the argv after `--`.
    let mut cfg = config(&bao, dir.path(), TEMPLATE, Value::Null);
    cfg.as_object_mut().unwrap().remove("exec");
    let encoded = base64::engine::general_purpose::STANDARD.encode(cfg.to_string());
    let mut cmd = Command::new(kagi_tests::bins::binary("kagi-agent").unwrap());
    cmd.args(["exec", "--", &test_app(), "--record"])
        .arg(&record)
        .args(["--env", "PASSWORD", "--env", "VAULT_CONFIG"])
        .env("VAULT_CONFIG", &encoded);
    let mut agent = Supervisor::spawn(Flavour::Kagi, dir.path(), "exec", &mut cmd);
    agent.record = record;
    agent.wait_events(1, "the start");
    let start = &agent.starts()[0];
    assert_eq!(start["env"]["PASSWORD"], json!(value));
    assert_eq!(
        start["env"]["VAULT_CONFIG"],
        json!(encoded),
        "the agent's environment"
    );
    agent.signal("HUP");
    agent.wait_events(2, "SIGHUP at the child");
    agent.signal("INT");
    let status = agent.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", agent.log());
    assert_eq!(
        shape(&agent.events()),
        vec![
            format!("start#0 PASSWORD=\"{value}\""),
            "SIGHUP#0".to_owned(),
            "SIGTERM#0".to_owned()
        ]
    );
    assert!(!agent.log().contains(&value), "kagi-agent logged the value");
}

#[test]
fn install_copies_the_agent_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let bin = kagi_tests::bins::binary("kagi-agent").unwrap();
    let output = Command::new(&bin)
        .arg("install")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let installed = dir.path().join("kagi-agent");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&installed).unwrap().permissions(),
    );
    assert_eq!(mode & 0o7777, 0o555);
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&bin).unwrap()
    );
    let version = Command::new(&installed).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("kagi-agent "));
    let missing = Command::new(&bin)
        .args(["install", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/dir"));
}

#[test]
fn leases_and_the_token_are_renewed_for_the_childs_whole_life() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    let value = unique("pw");
    put_password(&bao, &value);
    kagi_tests::setup::write_policy(
        &bao,
        "app-kv",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tokens = std::sync::Mutex::new(Vec::new());
    // A periodic token dies 4 s after its last renewal: only an agent that keeps renewing it
    // keeps the child's secrets readable.
    let mut agents = start_both(dir.path(), |record| {
        let token =
            kagi_tests::setup::create_token(&bao, &["-period=4s", "-policy=app-kv"]).unwrap();
        let token_file = record.with_extension("token");
        std::fs::write(&token_file, &token).unwrap();
        tokens.lock().unwrap().push(token);
        let mut cfg = config(
            &bao,
            dir.path(),
            TEMPLATE,
            json!({ "command": record_command(record, &[]) }),
        );
        cfg["auto_auth"]["method"][0]["config"]["token_file_path"] =
            json!(token_file.display().to_string());
        cfg
    });
    for agent in &agents {
        agent.wait_events(1, "the first start");
    }
    std::thread::sleep(Duration::from_secs(10));
    for (agent, token) in agents.iter_mut().zip(tokens.lock().unwrap().iter()) {
        let looked_up = bao.bao_json(&["token", "lookup", token]);
        assert!(
            looked_up.is_ok(),
            "{:?} let its token expire while the child ran: {looked_up:?}",
            agent.flavour
        );
        assert_eq!(agent.starts().len(), 1, "{:?}: no restart", agent.flavour);
        assert!(
            agent.child.try_wait().unwrap().is_none(),
            "{:?} exited",
            agent.flavour
        );
    }
}

/// Pids of the processes whose parent is `parent`, with their state letter.
fn children_of(parent: u32) -> Vec<(u32, char)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

#[test]
fn as_pid_1_it_reaps_the_orphans_the_app_leaves() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    put_password(&bao, &unique("pw"));
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("pid1.record");
    let mut cfg = config(&bao, dir.path(), TEMPLATE, Value::Null);
    cfg.as_object_mut().unwrap().remove("exec");
    let config_path = dir.path().join("pid1.json");
    std::fs::write(&config_path, cfg.to_string()).unwrap();
    // The shell leaves a `sleep` behind (its subshell exits at once), then becomes the app.
    let script = format!(
        "(sleep 1 &); exec {} --record {} --env PASSWORD",
        test_app(),
        record.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc"])
        .arg(kagi_tests::bins::binary("kagi-agent").unwrap())
        .arg("exec")
        .arg("-config")
        .arg(&config_path)
        .args(["--", "sh", "-c", &script]);
    let mut wrapper = Supervisor::spawn(Flavour::Kagi, dir.path(), "pid1", &mut cmd);
    wrapper.record = record;
    wrapper.wait_events(
        1,
        "the app start (unshare needs root: run the tests as root)",
    );
    let agent = children_of(wrapper.child.id())
        .first()
        .map(|(pid, _)| *pid)
        .expect("unshare's child is the agent");
    // The orphan is adopted by the agent (PID 1 of the namespace)...
    let adopted = wrapper.until("an orphan of the app", Duration::from_secs(5), || {
        children_of(agent).into_iter().find_map(|(pid, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "sleep")
                .then_some(pid)
        })
    });
    // ...and once it exits, collected rather than left a zombie.
    wrapper.until("the orphan to be reaped", Duration::from_secs(10), || {
        (!std::path::Path::new(&format!("/proc/{adopted}")).exists()).then_some(())
    });
    assert_eq!(wrapper.starts().len(), 1, "the app was not disturbed");
    kagi_tests::procs::signal(agent, "TERM").unwrap();
    let status = wrapper.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", wrapper.log());
    assert_eq!(
        shape(&wrapper.events())[1],
        "SIGTERM#0",
        "the app got the stop signal"
    );
}

#[test]
fn a_child_that_exits_passes_its_code_on_after_the_agent_revoked_per_config() {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    put_password(&bao, &unique("pw"));
    kagi_tests::setup::write_policy(
        &bao,
        "app-kv",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    let token = kagi_tests::setup::create_token(&bao, &["-ttl=10m", "-policy=app-kv"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("kagi.record");
    let mut cfg = config(
        &bao,
        dir.path(),
        TEMPLATE,
        json!({ "command": record_command(&record, &["--exit", "--exit-code", "3"]) }),
    );
    std::fs::write(dir.path().join("token"), &token).unwrap();
    cfg["kagi"] = json!({ "revoke_on_shutdown": true });
    let mut agent = Supervisor::start(Flavour::Kagi, dir.path(), &cfg);
    let status = agent.wait_exit(START_TIMEOUT);
    assert_eq!(status.code(), Some(3), "{}", agent.log());
    assert_eq!(agent.starts().len(), 1);
    assert!(
        bao.bao_json(&["token", "lookup", &token]).is_err(),
        "the token was revoked before the agent exited\n{}",
        agent.log()
    );
}
