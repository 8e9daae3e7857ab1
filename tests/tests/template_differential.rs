//! Differential test of the template engine: every template in `tests/templates/` is rendered
//! by the real `bao agent` (OpenBao's Vault Agent, consul-template inside) and by the real
//! `kagi-agent` binary, from the same JSON config (token_file auth, `exit_after_auth`), against
//! one `bao server -dev` seeded from `tests/templates/_seed.txt`. The bytes must be identical.
//!
//! Each template gets agent runs of its own (one template per run, so one refusal cannot hide
//! the others), [`JOBS`] templates at a time, bao and kagi side by side; every difference is
//! reported, not just the first.
//!
//! Corpus layout: `NN-name.tpl` is a template; an optional `NN-name.json` holds per-template
//! options (`left_delimiter`, `right_delimiter`, `error_on_missing_key`, `function_denylist`,
//! `sandbox_path`, ...). In a template and in string options, `@@DIR@@` is the corpus directory and `@@OUT@@` the agent's output directory (for
//! `writeToFile`). Files under `@@OUT@@` other than the rendered ones are compared too.
//!
//! `tests/templates/errors/` holds templates that must fail in both agents (same layout); each
//! runs alone, since one failing template stops the whole agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kagi_tests::openbao::OpenBao;
use serde_json::{Value, json};

const ENV_VALUE: &str = "from-the-environment";
/// Templates rendered at the same time (each by both agents side by side).
const JOBS: usize = 4;

struct Case {
    name: String,
    text: String,
    options: serde_json::Map<String, Value>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn load_corpus(dir: &Path) -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/templates exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".tpl").map(str::to_owned))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.tpl"))).unwrap();
            let options = match std::fs::read(dir.join(format!("{name}.json"))) {
                Ok(bytes) => serde_json::from_slice(&bytes).expect("options file is a JSON object"),
                Err(_) => serde_json::Map::new(),
            };
            Case {
                name,
                text,
                options,
            }
        })
        .collect()
}

/// Runs the seed commands; `@NAME` (alone or after `=`) names a file in the corpus.
fn seed(bao: &OpenBao) {
    let dir = corpus_dir();
    let seed = std::fs::read_to_string(dir.join("_seed.txt")).unwrap();
    for line in seed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let args: Vec<String> = line
            .split_whitespace()
            .map(|a| match a.split_once('@') {
                Some((head, file))
                    if (head.is_empty() || head.ends_with('=')) && dir.join(file).is_file() =>
                {
                    format!("{head}@{}", dir.join(file).display())
                }
                _ => a.to_owned(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bao.setup(&args)
            .unwrap_or_else(|e| panic!("seed `{line}`: {e:#}"));
    }
}

fn agent_config(bao: &OpenBao, work: &Path, out: &Path, case: &Case) -> Value {
    let token_file = work.join("token");
    std::fs::write(&token_file, bao.root_token()).unwrap();
    let placeholders = |text: &str| {
        text.replace("@@DIR@@", &corpus_dir().display().to_string())
            .replace("@@OUT@@", &out.display().to_string())
    };
    let mut template = json!({
        "destination": out.join(format!("{}.out", case.name)).display().to_string(),
        "contents": placeholders(&case.text),
    });
    for (k, v) in &case.options {
        template[k] = match v {
            Value::String(text) => Value::String(placeholders(text)),
            other => other.clone(),
        };
    }
    json!({
        "vault": { "address": bao.addr() },
        "auto_auth": {
            "method": [ { "type": "token_file", "config": { "token_file_path": token_file.display().to_string() } } ],
            "sink": [ { "type": "file", "config": { "path": work.join("sink").display().to_string() } } ]
        },
        "exit_after_auth": true,
        // A template error ends the run instead of retrying for minutes.
        "template_config": { "exit_on_retry_failure": true },
        "template": [template],
    })
}

/// Runs `cmd` to completion (at most 120 s); returns its exit status and combined log.
fn run(mut cmd: Command, log: &Path) -> (bool, String) {
    let log_file = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    cmd.env("KAGI_TPL_TEST", ENV_VALUE)
        .env_remove("KAGI_TPL_UNSET");
    cmd.env_remove("VAULT_TOKEN").env_remove("VAULT_CONFIG");
    let mut child = cmd.spawn().expect("spawn agent");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // Keep failure messages readable: the end of the log says what went wrong.
    let tail: String = text
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    (status.is_some_and(|s| s.success()), tail)
}

/// Every file under `dir`, by name.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// What one agent run left behind.
struct Run {
    ok: bool,
    log: String,
    files: BTreeMap<String, Vec<u8>>,
}

/// Runs one agent (`bao` or `kagi`) on `case` alone, in `work/<which>-out`.
fn run_agent(bao: &OpenBao, which: &str, work: &Path, case: &Case) -> Run {
    let out = work.join(format!("{which}-out"));
    std::fs::create_dir_all(&out).unwrap();
    let cfg = work.join(format!("{which}.json"));
    std::fs::write(
        &cfg,
        serde_json::to_vec_pretty(&agent_config(bao, work, &out, case)).unwrap(),
    )
    .unwrap();
    let cmd = if which == "bao" {
        let mut c = bao.cli();
        c.arg("agent").arg("-config").arg(&cfg);
        c
    } else {
        let mut c =
            Command::new(kagi_tests::bins::binary("kagi-agent").expect("kagi-agent binary"));
        c.arg("run")
            .arg("-config")
            .arg(&cfg)
            .env_remove("VAULT_ADDR");
        c
    };
    let (ok, log) = run(cmd, &work.join(format!("{which}.log")));
    Run {
        ok,
        log,
        files: outputs(&out),
    }
}

/// Runs `check` on every case, [`JOBS`] at a time, each in a fresh directory; returns the
/// problems found, in corpus order.
fn for_each_case(
    bao: &OpenBao,
    cases: &[Case],
    check: impl Fn(&Case, Run, Run) -> Vec<String> + Sync,
) -> Vec<String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..JOBS.min(cases.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let work = tempfile::tempdir().unwrap();
                    // Both agents at once: a template that hangs (a plugin past its
                    // timeout) costs its wait once, not twice.
                    let (bao_run, kagi_run) = std::thread::scope(|both| {
                        let kagi = both.spawn(|| run_agent(bao, "kagi", work.path(), case));
                        let bao_run = run_agent(bao, "bao", work.path(), case);
                        (bao_run, kagi.join().expect("kagi run"))
                    });
                    let problems = check(case, bao_run, kagi_run);
                    found.lock().unwrap().push((i, problems));
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().flat_map(|(_, p)| p).collect()
}

fn started_bao() -> OpenBao {
    let bao =
        OpenBao::start().expect("OpenBao dev server (is `bao` installed? run `make test-deps`)");
    seed(&bao);
    bao
}

#[test]
fn every_corpus_template_renders_byte_identical_to_bao_agent() {
    let cases = load_corpus(&corpus_dir());
    assert!(
        cases.len() >= 40,
        "the corpus has {} templates, want at least 40",
        cases.len()
    );
    let bao = started_bao();
    let started = Instant::now();
    let problems = for_each_case(&bao, &cases, |case, want, got| {
        let name = &case.name;
        if !want.ok {
            return vec![format!(
                "--- {name}: bao agent failed (fix the corpus):\n{}",
                want.log
            )];
        }
        if !want.files.contains_key(&format!("{name}.out")) {
            return vec![format!(
                "--- {name}: bao agent did not render it:\n{}",
                want.log
            )];
        }
        if !got.ok {
            return vec![format!("--- {name}: kagi-agent failed:\n{}", got.log)];
        }
        let mut problems = Vec::new();
        for (file, bytes) in &want.files {
            match got.files.get(file) {
                Some(g) if g == bytes => {}
                Some(g) => problems.push(format!(
                    "--- {name}: {file} differs\nbao agent:\n{}\nkagi-agent:\n{}",
                    String::from_utf8_lossy(bytes),
                    String::from_utf8_lossy(g)
                )),
                None => problems.push(format!("--- {name}: {file} not written by kagi-agent")),
            }
        }
        for file in got.files.keys().filter(|f| !want.files.contains_key(*f)) {
            problems.push(format!("--- {name}: {file} written by kagi-agent only"));
        }
        problems
    });
    eprintln!(
        "{} templates, {JOBS} at a time: {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problems over {} templates:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn templates_that_fail_in_bao_agent_fail_in_kagi_and_write_nothing() {
    let cases = load_corpus(&corpus_dir().join("errors"));
    assert!(
        cases.len() >= 5,
        "the error corpus has {} templates",
        cases.len()
    );
    let bao = started_bao();
    let problems = for_each_case(&bao, &cases, |case, bao_run, kagi_run| {
        let name = &case.name;
        let dest = format!("{name}.out");
        let mut problems = Vec::new();
        if bao_run.ok || bao_run.files.contains_key(&dest) {
            problems.push(format!(
                "--- {name}: bao agent rendered it, so it does not belong in errors/:\n{}",
                bao_run.log
            ));
        }
        if kagi_run.ok {
            problems.push(format!(
                "--- {name}: kagi-agent rendered a template bao agent refuses:\n{}",
                kagi_run.log
            ));
        }
        if kagi_run.files.contains_key(&dest) {
            problems.push(format!("--- {name}: kagi-agent wrote the destination"));
        }
        problems
    });
    assert!(
        problems.is_empty(),
        "{} problems over {} error templates:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}
