//! Command line, config sources and logging: the thin edge between the process and the agent.
//!
//! `kagi-agent run [-config FILE]` / `kagi-agent probe [-config FILE]`. Flags are accepted in
//! Go style (`-config FILE`, `-config=FILE`) as `vault agent` takes them, and in GNU style
//! (`--config FILE`). Without a file the config comes from `VAULT_CONFIG`, base64 JSON (the
//! webhook's contract), decoded here so the image needs no shell.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::config::{AgentConfig, ConfigError, Loaded};
use crate::supervisor::{ExecArgs, InstallArgs};

pub const USAGE: &str = "usage: kagi-agent run [-config FILE] [-exit-after-auth]\n       kagi-agent probe [-config FILE]\n       kagi-agent exec [-config FILE] -- PROGRAM ARGS...\n       kagi-agent install DIR\n       kagi-agent version\n\nWithout -config the JSON config is read from VAULT_CONFIG (base64).";

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run {
        config: Option<PathBuf>,
        exit_after_auth: bool,
    },
    Probe {
        config: Option<PathBuf>,
    },
    /// Process-supervisor mode with the child's argv from the command line.
    Exec(ExecArgs),
    /// Copy this executable into a directory (the webhook's init container).
    Install(InstallArgs),
    Version,
    Help,
    /// `kagi-agent signal ...`: the arguments after `signal` (see [`crate::signal_cmd`]).
    Signal(Vec<String>),
}

/// A command line or config source problem (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("no config: pass -config FILE or set VAULT_CONFIG")]
    NoConfig,
    #[error("VAULT_CONFIG is neither base64 nor JSON: {0}")]
    Base64(base64::DecodeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Parses `args` (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let sub = args.next().unwrap_or_default();
    let mut config = None;
    let mut exit_after_auth = false;
    let rest: Vec<String> = args.collect();
    match sub.as_str() {
        "signal" => return Ok(Command::Signal(rest)),
        "exec" => {
            return ExecArgs::parse(&rest)
                .map(Command::Exec)
                .map_err(CliError::Usage);
        }
        "install" => {
            return InstallArgs::parse(&rest)
                .map(Command::Install)
                .map_err(CliError::Usage);
        }
        _ => {}
    }
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].as_str();
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        if !arg.starts_with('-') {
            return Err(CliError::Usage(format!("unexpected argument {arg:?}")));
        }
        match name {
            "config" | "c" => {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        rest.get(i)
                            .cloned()
                            .ok_or_else(|| CliError::Usage("-config needs a file".into()))?
                    }
                };
                config = Some(PathBuf::from(value));
            }
            "exit-after-auth" => {
                exit_after_auth = !matches!(inline.as_deref(), Some("false"));
            }
            "h" | "help" => return Ok(Command::Help),
            other => return Err(CliError::Usage(format!("unknown flag -{other}"))),
        }
        i += 1;
    }
    match sub.as_str() {
        "run" | "agent" => Ok(Command::Run {
            config,
            exit_after_auth,
        }),
        "probe" => Ok(Command::Probe { config }),
        "version" | "-version" | "--version" => Ok(Command::Version),
        "" | "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(CliError::Usage(format!("unknown command {other:?}"))),
    }
}

/// Loads the config from `file`, else from the `VAULT_CONFIG` value `env`.
pub fn load_config(file: Option<&Path>, env: Option<&str>) -> Result<Loaded, CliError> {
    let bytes = match (file, env) {
        (Some(path), _) => std::fs::read(path).map_err(|source| CliError::Read {
            path: path.display().to_string(),
            source,
        })?,
        (None, Some(value)) if !value.trim().is_empty() => decode_env(value)?,
        _ => return Err(CliError::NoConfig),
    };
    Ok(AgentConfig::from_json(&bytes)?)
}

/// `VAULT_CONFIG` is base64 JSON; plain JSON is accepted too, for people typing it by hand.
fn decode_env(value: &str) -> Result<Vec<u8>, CliError> {
    let value = value.trim();
    if value.starts_with('{') {
        return Ok(value.as_bytes().to_vec());
    }
    let compact: String = value.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('='))
        })
        .map_err(CliError::Base64)
}

/// The startup probe: true iff the config names a ready file and it exists.
pub fn probe(config: &AgentConfig) -> Result<(), String> {
    let path = config
        .kagi
        .as_ref()
        .and_then(|k| k.ready_file.as_deref())
        .filter(|p| !p.is_empty())
        .ok_or("config has no kagi.ready_file")?;
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(format!("not ready: {path} does not exist yet"))
    }
}

/// How the agent logs: the level and whether lines are JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub level: tracing_subscriber::filter::LevelFilter,
    pub json: bool,
}

impl LogSettings {
    /// `bao agent`'s precedence: `BAO_LOG_*`, then `VAULT_LOG_*` (a variable that is set wins
    /// even when empty, and empty means the default), then the config's top-level `log_level` /
    /// `log_format`, then info and the standard format. An unknown level or format is an error
    /// worded as bao words it; hclog's names are accepted, trimmed and in any case.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        config_level: Option<&str>,
        config_format: Option<&str>,
    ) -> Result<Self, String> {
        use tracing_subscriber::filter::LevelFilter;
        let pick = |suffix: &str, from_config: Option<&str>| {
            env(&format!("BAO_{suffix}"))
                .or_else(|| env(&format!("VAULT_{suffix}")))
                .or_else(|| from_config.map(str::to_owned))
                .unwrap_or_default()
        };
        let level = pick("LOG_LEVEL", config_level);
        let level = match level.trim().to_ascii_lowercase().as_str() {
            "trace" => LevelFilter::TRACE,
            "debug" => LevelFilter::DEBUG,
            "" | "info" | "notice" => LevelFilter::INFO,
            "warn" | "warning" => LevelFilter::WARN,
            "err" | "error" => LevelFilter::ERROR,
            _ => return Err(format!("unknown log level: {level}")),
        };
        let format = pick("LOG_FORMAT", config_format);
        let json = match format.trim().to_ascii_lowercase().as_str() {
            "" | "standard" => false,
            "json" => true,
            _ => return Err(format!("unknown log format: {format}")),
        };
        Ok(Self { level, json })
    }
}

/// Tracing to stderr at `settings`' level. The HTTP libraries are kept quiet: their errors are
/// reported by the agent with context, and their debug output would include request details.
pub fn init_logging(settings: LogSettings) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // A per-target filter rather than EnvFilter: the same levels without the regex engine
    // EnvFilter compiles in (issue 11: the agent's resident memory is mostly its code).
    let filter = Targets::new()
        .with_default(settings.level)
        .with_target("vaultrs", LevelFilter::OFF)
        .with_target("rustify", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::WARN)
        .with_target("hyper", LevelFilter::WARN)
        .with_target("hyper_util", LevelFilter::WARN);
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: kubelet log files and `kubectl logs` show them raw.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if settings.json {
        builder.json().finish().with(filter).init();
    } else {
        builder.finish().with(filter).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_and_gnu_config_flags_are_accepted() {
        for form in [
            args(&["run", "-config", "/a.json"]),
            args(&["run", "--config", "/a.json"]),
            args(&["run", "-config=/a.json"]),
            args(&["run", "--config=/a.json"]),
        ] {
            assert_eq!(
                parse_args(form).unwrap(),
                Command::Run {
                    config: Some("/a.json".into()),
                    exit_after_auth: false
                }
            );
        }
        assert_eq!(
            parse_args(args(&["probe"])).unwrap(),
            Command::Probe { config: None }
        );
        assert!(parse_args(args(&["run", "-bogus"])).is_err());
        assert!(parse_args(args(&["fly"])).is_err());
    }

    #[test]
    fn vault_config_env_is_base64_json() {
        let json =
            r#"{"vault":{"address":"http://127.0.0.1:8200"},"kagi":{"ready_file":"/tmp/r"}}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(json);
        let loaded = load_config(None, Some(&encoded)).unwrap();
        assert_eq!(
            loaded.config.vault.unwrap().address,
            "http://127.0.0.1:8200"
        );
        assert!(load_config(None, Some(json)).is_ok());
        assert!(matches!(load_config(None, None), Err(CliError::NoConfig)));
        assert!(matches!(
            load_config(None, Some("%%%")),
            Err(CliError::Base64(_))
        ));
    }

    #[test]
    fn probe_needs_the_ready_file() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let json = format!(r#"{{"kagi":{{"ready_file":"{}"}}}}"#, ready.display());
        let config = AgentConfig::from_json(json.as_bytes()).unwrap().config;
        assert!(probe(&config).is_err());
        std::fs::write(&ready, "").unwrap();
        assert!(probe(&config).is_ok());
        assert!(probe(&AgentConfig::default()).is_err());
    }

    fn log_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn log_settings_follow_bao_agents_precedence() {
        use tracing_subscriber::filter::LevelFilter;
        let resolve = |vars: &[(&str, &str)], level, format| {
            LogSettings::resolve(log_env(vars), level, format)
        };
        let info = LogSettings {
            level: LevelFilter::INFO,
            json: false,
        };
        assert_eq!(resolve(&[], None, None), Ok(info));
        assert_eq!(
            resolve(&[], Some("debug"), Some("JSON")),
            Ok(LogSettings {
                level: LevelFilter::DEBUG,
                json: true
            })
        );
        // The environment wins over the config, BAO_ over VAULT_, and a set-but-empty
        // variable means the default rather than falling through.
        assert_eq!(
            resolve(&[("VAULT_LOG_LEVEL", " Warning ")], Some("debug"), None)
                .unwrap()
                .level,
            LevelFilter::WARN
        );
        assert_eq!(
            resolve(
                &[("BAO_LOG_LEVEL", "err"), ("VAULT_LOG_LEVEL", "loud")],
                None,
                None
            )
            .unwrap()
            .level,
            LevelFilter::ERROR
        );
        assert_eq!(
            resolve(&[("VAULT_LOG_LEVEL", "")], Some("loud"), None),
            Ok(info)
        );
        assert_eq!(resolve(&[], Some("notice"), Some("standard")), Ok(info));
        assert_eq!(
            resolve(&[], Some("off"), None),
            Err("unknown log level: off".to_owned())
        );
        assert_eq!(
            resolve(&[("VAULT_LOG_FORMAT", "text")], None, None),
            Err("unknown log format: text".to_owned())
        );
    }
}
