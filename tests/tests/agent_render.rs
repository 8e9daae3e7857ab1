//! `kagi-agent run` in init-container mode (`exit_after_auth`) against a real OpenBao: every
//! template rendered once from KV v2 (with `data/` rewriting and pinned versions), KV v1, LIST
//! and writes; files written with the right modes; the same config accepted by `bao agent`
//! with byte-identical output; config from `VAULT_CONFIG`; `probe` follows the ready file.

mod agent_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agent_support::*;
use base64::Engine;
use kagi_tests::openbao::OpenBao;
use kagi_tests::setup;
use serde_json::{Value, json};
use tempfile::TempDir;

const PASSWORD: &str = "p4ss-kagi-7731";

/// A seeded OpenBao and a temp dir holding its root token (`token`) and a source
/// template (`app.tpl`).
fn seeded_bao() -> (OpenBao, TempDir, PathBuf, PathBuf) {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    seed(&bao);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let source = dir.path().join("app.tpl");
    std::fs::write(
        &source,
        "{{ with secret \"secret/app\" }}user={{ .Data.data.user }}{{ end }}\n",
    )
    .unwrap();
    (bao, dir, token_file, source)
}

/// An init-mode (`exit_after_auth`) config logging in with `token_file`, sinking the token at
/// `sink` and rendering [`templates`] into `out`.
fn init_config(bao: &OpenBao, token_file: &Path, sink: &Path, out: &Path, source: &Path) -> Value {
    let mut cfg = config(
        &bao.addr(),
        token_file_method(token_file),
        sink,
        templates(out, source),
    );
    cfg["exit_after_auth"] = json!(true);
    cfg
}

fn seed(bao: &OpenBao) {
    setup::put_kv(
        bao,
        "secret/app",
        &[("user", "alice"), ("pass", "first-pass-0042")],
    )
    .unwrap();
    setup::put_kv(bao, "secret/app", &[("user", "bob"), ("pass", PASSWORD)]).unwrap();
    setup::put_kv(bao, "secret/team/one", &[("k", "v")]).unwrap();
    setup::enable_kv_v1(bao, "kv1").unwrap();
    bao.setup(&["write", "kv1/cfg", "color=blue"]).unwrap();
}

/// Templates covering every fetch kind; `out` is where they render.
fn templates(out: &Path, source: &Path) -> Vec<Value> {
    let mut pinned = template(
        &out.join("pinned.txt"),
        "{{ with secret \"secret/app?version=1\" }}{{ .Data.data.user }}{{ end }}\n",
    );
    pinned["perms"] = json!("0600");
    vec![
        template(
            &out.join("kv2.txt"),
            "{{ with secret \"secret/app\" }}{{ .Data.data.user }}:{{ .Data.data.pass }} v{{ .Data.metadata.version }}{{ end }}\n",
        ),
        pinned,
        template(
            &out.join("kv1.txt"),
            "{{ with secret \"kv1/cfg\" }}color={{ .Data.color }}{{ end }}\n",
        ),
        template(
            &out.join("list.txt"),
            "{{ range secrets \"secret/\" }}{{ . }},{{ end }}\n",
        ),
        template(
            &out.join("nested/dynamic.txt"),
            "{{ range secrets \"secret/team\" }}{{ with secret (printf \"secret/team/%s\" .) }}{{ .Data.data.k }}{{ end }}{{ end }}\n",
        ),
        json!({ "destination": out.join("source.txt").display().to_string(), "source": source.display().to_string() }),
    ]
}

fn expected() -> [(&'static str, String); 6] {
    [
        ("kv2.txt", format!("bob:{PASSWORD} v2\n")),
        ("pinned.txt", "alice\n".to_owned()),
        ("kv1.txt", "color=blue\n".to_owned()),
        ("list.txt", "app,team/,\n".to_owned()),
        ("nested/dynamic.txt", "v\n".to_owned()),
        ("source.txt", "user=bob\n".to_owned()),
    ]
}

#[test]
fn init_mode_renders_every_template_once_and_exits_zero() {
    let (bao, dir, token_file, source) = seeded_bao();
    let out = dir.path().join("kagi");
    std::fs::create_dir(&out).unwrap();
    let sink = dir.path().join("kagi-token");
    let ready = dir.path().join("ready");
    let mut cfg = init_config(&bao, &token_file, &sink, &out, &source);
    cfg["kagi"] = json!({ "ready_file": ready.display().to_string() });

    let probe = |cfg_path: &Path| {
        Command::new(kagi_tests::bins::binary("kagi-agent").unwrap())
            .args(["probe", "-config"])
            .arg(cfg_path)
            .status()
            .unwrap()
            .success()
    };

    let mut agent = Agent::start(dir.path(), "init", &cfg);
    assert!(!probe(&agent.config_path) || ready.exists());
    let status = agent
        .wait_exit(Duration::from_secs(30))
        .expect("agent exits");
    let log = agent.log();
    assert!(status.success(), "exit {status:?}\n{log}");
    for (name, want) in expected() {
        assert_eq!(
            read(&out.join(name)).as_deref(),
            Some(want.as_str()),
            "{name}\n{log}"
        );
    }
    assert_eq!(mode(&out.join("kv2.txt")), 0o644);
    assert_eq!(mode(&out.join("pinned.txt")), 0o600);
    assert_eq!(read(&sink).as_deref(), Some(bao.root_token()));
    assert_eq!(mode(&sink), 0o640);
    assert!(ready.exists(), "ready file written");
    assert!(probe(&agent.config_path), "probe passes once ready");
    assert_log_clean(&log, &[PASSWORD, "first-pass-0042"]);

    // A second run with nothing changed rewrites nothing (mtimes stay).
    let before = std::fs::metadata(out.join("kv2.txt"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut again = Agent::start(dir.path(), "again", &cfg);
    assert!(again.wait_exit(Duration::from_secs(30)).unwrap().success());
    let after = std::fs::metadata(out.join("kv2.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "unchanged output is not rewritten");

    // The same config through VAULT_CONFIG (base64), as the webhook injects it.
    let env_out = dir.path().join("env-out");
    std::fs::create_dir(&env_out).unwrap();
    let env_cfg = init_config(&bao, &token_file, &sink, &env_out, &source);
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&env_cfg).unwrap());
    let status = Command::new(kagi_tests::bins::binary("kagi-agent").unwrap())
        .arg("run")
        .env("VAULT_CONFIG", encoded)
        .env_remove("VAULT_ADDR")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(&env_out.join("kv2.txt")), read(&out.join("kv2.txt")));
}

#[test]
fn bao_agent_accepts_the_same_config_and_renders_the_same_bytes() {
    let (bao, dir, token_file, source) = seeded_bao();
    let (kagi_out, bao_out) = (dir.path().join("kagi"), dir.path().join("bao"));
    for (out, name) in [(&kagi_out, "kagi"), (&bao_out, "bao")] {
        std::fs::create_dir(out).unwrap();
        let sink = dir.path().join(format!("{name}-token"));
        let cfg = init_config(&bao, &token_file, &sink, out, &source);
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let status = if name == "kagi" {
            Command::new(kagi_tests::bins::binary("kagi-agent").unwrap())
                .args(["run", "-config"])
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
        } else {
            let output = bao
                .cli()
                .args(["agent", "-config"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "bao agent rejected the config: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.status
        };
        assert!(status.success(), "{name} failed");
    }
    for (name, want) in expected() {
        assert_eq!(
            read(&kagi_out.join(name)).as_deref(),
            Some(want.as_str()),
            "{name}"
        );
        assert_eq!(
            read(&kagi_out.join(name)),
            read(&bao_out.join(name)),
            "{name} differs between kagi-agent and bao agent"
        );
    }
}

#[test]
fn bad_config_is_a_startup_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({ "vault": { "address": "http://127.0.0.1:1" }, "template": [ { "destination": "/x", "contents": "x", "perms": true } ] });
    let mut agent = Agent::start(dir.path(), "bad", &cfg);
    let status = agent.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(2));
    assert!(agent.log().contains("template[0].perms"), "{}", agent.log());
}
