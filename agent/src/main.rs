#![forbid(unsafe_code)]
//! `kagi-agent`: see [`kagi_agent::cli::USAGE`].

use std::process::ExitCode;

use kagi_agent::cli::{self, Command};

fn main() -> ExitCode {
    let command = match cli::parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("kagi-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let (file, exit_after_auth, command_line) = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Signal(args) => return kagi_agent::signal_cmd::main(&args),
        Command::Version => {
            println!("kagi-agent {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Probe { config } => {
            let env = std::env::var("VAULT_CONFIG").ok();
            return match cli::load_config(config.as_deref(), env.as_deref())
                .map_err(|e| e.to_string())
                .and_then(|loaded| cli::probe(&loaded.config))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(reason) => {
                    eprintln!("kagi-agent probe: {reason}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Install(args) => {
            let exe = std::path::Path::new("/proc/self/exe");
            return match kagi_agent::supervisor::install::install(exe, &args.dir) {
                Ok(path) => {
                    eprintln!("kagi-agent: installed {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("kagi-agent: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Exec(args) => (args.config, false, Some(args.command)),
        Command::Run {
            config,
            exit_after_auth,
        } => (config, exit_after_auth, None),
    };
    let env = std::env::var("VAULT_CONFIG").ok();
    let loaded = cli::load_config(file.as_deref(), env.as_deref());
    let (config_level, config_format) = match &loaded {
        Ok(loaded) => (
            loaded.config.log_level.as_deref(),
            loaded.config.log_format.as_deref(),
        ),
        Err(_) => (None, None),
    };
    match cli::LogSettings::resolve(|name| std::env::var(name).ok(), config_level, config_format) {
        Ok(settings) => cli::init_logging(settings),
        Err(err) => {
            eprintln!("kagi-agent: {err}");
            return ExitCode::from(2);
        }
    }
    let mut loaded = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    for key in &loaded.unknown_keys {
        tracing::warn!(key = %key, "ignoring unknown config key");
    }
    loaded.config.exit_after_auth |= exit_after_auth;

    // reqwest is built without a crypto provider; install ring before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread runs every task: the agent waits on Vault and timers almost all the time, and
    // each extra worker costs a stack and a malloc arena (issue 11: steady RSS). File and DNS
    // work that blocks goes to tokio's blocking pool, whose threads exit when idle.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kagi-agent: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Process-supervisor mode: `exec`, or `run` with env templates in the config.
    let supervised = command_line.is_some() || loaded.config.is_supervisor();
    let result = runtime.block_on(async move {
        if supervised {
            return kagi_agent::supervisor::supervise(loaded.config, command_line)
                .await
                .map_err(anyhow::Error::from);
        }
        let (trigger, shutdown) = kagi_agent::signal::channel();
        kagi_agent::signal::forward_signals(trigger.clone())?;
        kagi_agent::runtime::run(loaded.config, trigger, shutdown)
            .await
            .map(|()| 0)
            .map_err(anyhow::Error::from)
    });
    // Don't wait for in-flight requests or timers: everything that matters has finished.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => {
            tracing::info!(exit_code = code, "agent stopped");
            ExitCode::from(code)
        }
        Err(err) => {
            tracing::error!(error = %err, "agent failed");
            ExitCode::FAILURE
        }
    }
}
