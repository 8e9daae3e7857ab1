//! The "application" container of end-to-end tests: it checks what the agent rendered the way
//! a real app would (the file is there when it starts, the database credentials log in) and
//! prints what it saw, then runs until SIGTERM or exits (for Jobs).
//!
//! kagi-test-app [--sleep-ms N] [--write FILE=TEXT]... [--require FILE]... [--print FILE]... [--mask]
//!               [--print-env VAR]... [--db-url-file FILE [--watch]] [--count-sighup] [--exit]
//!               [--exit-code N]
//!               [--record FILE [--env NAME]...]
//!
//! `--record FILE` (process-supervisor tests) appends one JSON line per event to FILE: at start
//! `{"event":"start","pid":N,"at_ms":UNIX_MS,"env":{NAME:VALUE|null}}` for every `--env NAME`,
//! and for each SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGUSR2
//! `{"event":"signal","pid":N,"signal":"SIGTERM"}`;
//! every one of them but SIGHUP then ends it (with `--exit-code`).
//!
//! Output lines (tests grep for them): `present FILE`, `missing FILE`, `file FILE: CONTENTS`,
//! `env VAR=VALUE`, `env VAR unset`, `db-login-ok user=NAME`, `db-login-failed ...`, `sigterm`,
//! `exiting code=N`, and with `--count-sighup` (a reloading app) `counting sighup` once it
//! handles SIGHUP, then `sighup N` on the N-th SIGHUP, followed by the `--print` files as they
//! are then.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Default)]
struct Options {
    sleep_ms: u64,
    write: Vec<(PathBuf, String)>,
    require: Vec<PathBuf>,
    print: Vec<PathBuf>,
    print_env: Vec<String>,
    mask: bool,
    db_url_file: Option<PathBuf>,
    watch: bool,
    count_sighup: bool,
    exit: bool,
    exit_code: i32,
    record: Option<PathBuf>,
    env: Vec<String>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--sleep-ms" => {
                options.sleep_ms = value("--sleep-ms")?
                    .parse()
                    .map_err(|e| format!("--sleep-ms: {e}"))?
            }
            "--write" => {
                let spec = value("--write")?;
                let (path, text) = spec.split_once('=').ok_or("--write needs FILE=TEXT")?;
                options.write.push((path.into(), text.to_string()));
            }
            "--require" => options.require.push(value("--require")?.into()),
            "--print" => options.print.push(value("--print")?.into()),
            "--print-env" => options.print_env.push(value("--print-env")?),
            "--mask" => options.mask = true,
            "--db-url-file" => options.db_url_file = Some(value("--db-url-file")?.into()),
            "--watch" => options.watch = true,
            "--count-sighup" => options.count_sighup = true,
            "--exit" => options.exit = true,
            "--exit-code" => {
                options.exit_code = value("--exit-code")?
                    .parse()
                    .map_err(|e| format!("--exit-code: {e}"))?
            }
            "--record" => options.record = Some(value("--record")?.into()),
            "--env" => options.env.push(value("--env")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn show(path: &Path, contents: &str, mask: bool) -> String {
    let shown = if mask {
        contents
            .lines()
            .map(|line| match line.split_once([':', '=']) {
                Some((key, _)) => format!("{key}: ****"),
                None => "****".to_string(),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    } else {
        contents.trim_end().replace('\n', " | ")
    };
    format!("file {}: {shown}", path.display())
}

/// Logs in with the URL in the file, as the app would; returns the user on success.
fn db_login(url_file: &Path) -> Result<String, String> {
    let url = std::fs::read_to_string(url_file).map_err(|e| format!("reading url: {e}"))?;
    let url = url.trim();
    let psql = ["/usr/bin/psql", "psql"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
        .unwrap_or("psql");
    let output = Command::new(psql)
        .args(["-X", "-A", "-t", "-c", "SELECT current_user", url])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

fn check_db(url_file: &Path) {
    match db_login(url_file) {
        Ok(user) => println!("db-login-ok user={user}"),
        Err(e) => println!("db-login-failed {e}"),
    }
}

/// The next delivery of `signal`, or never when it is not handled.
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

fn print_files(options: &Options) {
    for path in &options.print {
        match std::fs::read_to_string(path) {
            Ok(contents) => println!("{}", show(path, &contents, options.mask)),
            Err(e) => println!("unreadable {}: {e}", path.display()),
        }
    }
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("kagi-test-app: {e}");
            std::process::exit(2);
        }
    };
    if let Some(record) = &options.record {
        let env: serde_json::Map<String, serde_json::Value> = options
            .env
            .iter()
            .map(|name| (name.clone(), std::env::var(name).ok().into()))
            .collect();
        append(
            record,
            serde_json::json!({"event": "start", "pid": std::process::id(), "at_ms": unix_ms(), "env": env}),
        );
    }
    std::thread::sleep(Duration::from_millis(options.sleep_ms));
    for (path, text) in &options.write {
        if let Err(e) = std::fs::write(path, text) {
            println!("cannot write {}: {e}", path.display());
        } else {
            println!("wrote {}", path.display());
        }
    }
    for path in &options.require {
        if path.exists() {
            println!("present {}", path.display());
        } else {
            println!("missing {}", path.display());
            println!("exiting code=3");
            std::process::exit(3);
        }
    }
    print_files(&options);
    for name in &options.print_env {
        match std::env::var(name) {
            Ok(value) if options.mask => println!("env {name}=**** ({} bytes)", value.len()),
            Ok(value) => println!("env {name}={value}"),
            Err(_) => println!("env {name} unset"),
        }
    }
    if let Some(url_file) = &options.db_url_file {
        check_db(url_file);
    }
    if options.exit {
        println!("exiting code={}", options.exit_code);
        std::process::exit(options.exit_code);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(record) = &options.record {
        runtime.block_on(record_signals(record));
        println!("exiting code={}", options.exit_code);
        std::process::exit(options.exit_code);
    }
    runtime.block_on(async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        // Without a handler SIGHUP would end the app: tests wait for `counting sighup`.
        let mut sighup = options.count_sighup.then(|| {
            let handler = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .expect("SIGHUP handler");
            println!("counting sighup");
            handler
        });
        let mut sighups = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut last = options
            .db_url_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok());
        loop {
            tokio::select! {
                _ = sigterm.recv() => {
                    println!("sigterm");
                    break;
                }
                Some(_) = next_signal(&mut sighup) => {
                    sighups += 1;
                    println!("sighup {sighups}");
                    print_files(&options);
                }
                _ = tick.tick(), if options.watch => {
                    if let Some(url_file) = &options.db_url_file {
                        let now = std::fs::read_to_string(url_file).ok();
                        if now.is_some() && now != last {
                            println!("db-url-changed");
                            check_db(url_file);
                            last = now;
                        }
                    }
                }
            }
        }
    });
    println!("exiting code={}", options.exit_code);
    std::process::exit(options.exit_code);
}

/// Appends one JSON line to the record file.
fn append(path: &Path, event: serde_json::Value) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("record file");
    writeln!(file, "{event}").expect("record write");
}

/// Records every signal until one that ends the app arrives.
async fn record_signals(record: &Path) {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        ("SIGTERM", SignalKind::terminate()),
        ("SIGINT", SignalKind::interrupt()),
        ("SIGHUP", SignalKind::hangup()),
        ("SIGUSR1", SignalKind::user_defined1()),
        ("SIGUSR2", SignalKind::user_defined2()),
    ];
    let mut streams: Vec<_> = kinds
        .iter()
        .map(|(name, kind)| (*name, signal(*kind).expect("signal handler")))
        .collect();
    loop {
        let received = futures_first(&mut streams).await;
        append(
            record,
            serde_json::json!({"event": "signal", "pid": std::process::id(), "signal": received}),
        );
        if received != "SIGHUP" {
            return;
        }
    }
}

/// The name of the first signal that arrives on any stream.
async fn futures_first(
    streams: &mut [(&'static str, tokio::signal::unix::Signal)],
) -> &'static str {
    std::future::poll_fn(|cx| {
        for (name, stream) in streams.iter_mut() {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*name);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
