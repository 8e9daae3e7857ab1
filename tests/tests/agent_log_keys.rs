//! The config's top-level `log_level` and `log_format`, unknown top-level keys and `log_file`,
//! run through `bao agent` and `kagi-agent` on the same init-mode config against one OpenBao.
//!
//! bao agent 2.7.2 (measured): `log_level`/`log_format` are read from the file, `BAO_LOG_*`
//! then `VAULT_LOG_*` win over them, an unknown level or format stops it with
//! "unknown log level: X" / "unknown log format: X", and top-level keys it has no use for
//! (`disable_mlock`) load silently. It also honours `log_file`; kagi refuses that key instead
//! (its log is the container's stderr), a deliberate difference tested below.

mod keys_support;

use kagi_tests::openbao::OpenBao;
use keys_support::*;
use serde_json::{Value, json};

/// A log record's level, for either agent: kagi's JSON `level` / text `INFO`, bao's JSON
/// `@level` / hclog `[INFO]`. Banner lines (bao's `==> ...`) are not records.
fn record_levels(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            if let Ok(record) = serde_json::from_str::<Value>(line) {
                let level = record.get("level").or_else(|| record.get("@level"))?;
                return level.as_str().map(str::to_ascii_lowercase);
            }
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .into_iter()
                .find(|l| line.contains(&format!(" {l} ")) || line.contains(&format!("[{l}]")))
                .map(str::to_ascii_lowercase)
        })
        .collect()
}

fn json_records(log: &str) -> usize {
    log.lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()))
        .count()
}

fn seeded_bao() -> OpenBao {
    let bao = OpenBao::start().expect("OpenBao (run `make test-deps` if bao is missing)");
    kagi_tests::setup::put_kv(&bao, "secret/app", &[("user", "log-alice")]).unwrap();
    bao
}

fn config_with(
    bao: &OpenBao,
    dir: &std::path::Path,
    name: &str,
    which: Which,
    top: Value,
) -> Value {
    let mut config = init_config(
        &bao.addr(),
        token_method(dir, bao.root_token()),
        dir,
        name,
        which,
    );
    for (key, value) in top.as_object().unwrap() {
        config[key] = value.clone();
    }
    config
}

#[test]
fn config_log_keys_and_unknown_top_level_keys_as_bao_agent_reads_them() {
    let bao = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    for which in [Which::Bao, Which::Kagi] {
        // JSON at warn: the start-up info lines both agents print disappear, the render works,
        // and disable_mlock (meaningless to both here) does not stop either.
        let top = json!({ "log_level": "warn", "log_format": "json", "disable_mlock": true });
        let config = config_with(&bao, dir.path(), "json-warn", which, top);
        let out = run(which, Some(&bao), dir.path(), "json-warn", &config, &[]);
        assert!(out.ok, "{which:?} should render\n{}", out.log);
        assert_eq!(out.rendered.as_deref(), Some("log-alice"), "{which:?}");
        let levels = record_levels(&out.log);
        assert!(
            levels.iter().all(|l| l == "warn" || l == "error"),
            "{which:?} logged below warn: {levels:?}\n{}",
            out.log
        );

        // The same config at info, standard format: info records, none of them JSON.
        let top = json!({ "log_level": "info", "log_format": "standard" });
        let config = config_with(&bao, dir.path(), "text-info", which, top);
        let out = run(which, Some(&bao), dir.path(), "text-info", &config, &[]);
        assert!(out.ok, "{which:?}\n{}", out.log);
        assert!(
            record_levels(&out.log).iter().any(|l| l == "info"),
            "{which:?} printed no info record\n{}",
            out.log
        );
        assert_eq!(json_records(&out.log), 0, "{which:?}\n{}", out.log);

        // JSON from the file, and the environment's level winning over the file's.
        let top = json!({ "log_level": "debug", "log_format": "json" });
        let config = config_with(&bao, dir.path(), "env-wins", which, top);
        let env = [("VAULT_LOG_LEVEL", "error".to_owned())];
        let out = run(which, Some(&bao), dir.path(), "env-wins", &config, &env);
        assert!(out.ok, "{which:?}\n{}", out.log);
        let levels = record_levels(&out.log);
        assert!(
            levels.iter().all(|l| l == "error"),
            "{which:?}: VAULT_LOG_LEVEL=error should win over the file's debug: {levels:?}\n{}",
            out.log
        );
        // BAO_LOG_FORMAT wins over the file's json.
        let env = [("BAO_LOG_FORMAT", "standard".to_owned())];
        let out = run(which, Some(&bao), dir.path(), "env-wins", &config, &env);
        assert!(out.ok, "{which:?}\n{}", out.log);
        assert_eq!(json_records(&out.log), 0, "{which:?}\n{}", out.log);
        assert!(
            !record_levels(&out.log).is_empty(),
            "{which:?}\n{}",
            out.log
        );
    }
}

#[test]
fn unknown_log_level_or_format_stops_both_agents_naming_the_value() {
    let bao = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    for which in [Which::Bao, Which::Kagi] {
        for (name, top, env, expected) in [
            (
                "bad-level",
                json!({ "log_level": "loud" }),
                None,
                "unknown log level: loud",
            ),
            (
                "bad-format",
                json!({ "log_format": "xml" }),
                None,
                "unknown log format: xml",
            ),
            (
                "bad-env-level",
                json!({}),
                Some(("VAULT_LOG_LEVEL", "off")),
                "unknown log level: off",
            ),
        ] {
            let config = config_with(&bao, dir.path(), name, which, top);
            let env: Vec<(&str, String)> =
                env.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
            let out = run(which, Some(&bao), dir.path(), name, &config, &env);
            assert!(!out.ok, "{which:?} {name} should not start\n{}", out.log);
            assert!(out.log.contains(expected), "{which:?} {name}\n{}", out.log);
            assert_eq!(out.rendered, None, "{which:?} {name} rendered anyway");
        }
    }
}

/// Deviation from bao agent, which writes its log to `log_file`: kagi-agent logs to the
/// container's stderr only, so it refuses the key at start-up rather than dropping the log
/// the user asked for.
#[test]
fn log_file_is_refused_naming_the_key() {
    let bao = seeded_bao();
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("agent-file.log");
    let top = json!({ "log_file": log_file.display().to_string() });

    let config = config_with(&bao, dir.path(), "log-file", Which::Bao, top.clone());
    let out = run(Which::Bao, Some(&bao), dir.path(), "log-file", &config, &[]);
    assert!(out.ok, "bao agent accepts log_file\n{}", out.log);

    let config = config_with(&bao, dir.path(), "log-file", Which::Kagi, top);
    let out = run(
        Which::Kagi,
        Some(&bao),
        dir.path(),
        "log-file",
        &config,
        &[],
    );
    assert!(!out.ok, "{}", out.log);
    assert!(out.log.contains("log_file"), "{}", out.log);
    assert!(out.log.contains("stderr"), "{}", out.log);
    assert_eq!(out.rendered, None);
}
