//! Log flags and subscriber setup shared by every `kagi-webhook` command.
//!
//! Levels are vault-k8s's (`trace`, `debug`, `info`/`notice`, `warn`/`warning`, `err`/`error`,
//! case-insensitive, empty meaning `info`), so an existing `AGENT_INJECT_LOG_LEVEL` keeps
//! working; `json` output suits log collectors, `standard` people.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// `--log-level` and `--log-format`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// trace, debug, info (notice), warn (warning) or error (err).
    #[arg(long, global = true, env = "AGENT_INJECT_LOG_LEVEL", default_value = "info", value_parser = parse_level)]
    pub log_level: LevelFilter,

    /// `standard` (human-readable) or `json`.
    #[arg(long, global = true, env = "AGENT_INJECT_LOG_FORMAT", default_value = "standard", value_parser = ["standard", "json"])]
    pub log_format: String,
}

/// Parses a vault-k8s log level.
pub fn parse_level(text: &str) -> Result<LevelFilter, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "trace" => Ok(LevelFilter::TRACE),
        "debug" => Ok(LevelFilter::DEBUG),
        "" | "info" | "notice" => Ok(LevelFilter::INFO),
        "warn" | "warning" => Ok(LevelFilter::WARN),
        "err" | "error" => Ok(LevelFilter::ERROR),
        _ => Err(format!(
            "unknown log level {text:?}: use trace, debug, info, notice, warn, warning, err or error"
        )),
    }
}

impl LogArgs {
    /// Installs the global subscriber, writing to stderr (stdout carries command output).
    pub fn init(&self) {
        // The level is for kagi's own logs; libraries (hyper, h2, rustls) only speak up when
        // something is wrong, or when asked for by name in RUST_LOG.
        let directives = format!(
            "warn,kagi_webhook={level},kagi_certs={level}",
            level = self.log_level
        );
        let directives = match std::env::var("RUST_LOG") {
            Ok(extra) if !extra.trim().is_empty() => format!("{directives},{extra}"),
            _ => directives,
        };
        let filter = EnvFilter::builder().parse_lossy(directives);
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        // A second init (only possible in tests) keeps the first subscriber.
        let _ = if self.log_format == "json" {
            builder.json().try_init()
        } else {
            builder.try_init()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_vault_k8s_levels() {
        for (text, level) in [
            ("trace", LevelFilter::TRACE),
            (" DEBUG ", LevelFilter::DEBUG),
            ("", LevelFilter::INFO),
            ("Notice", LevelFilter::INFO),
            ("warning", LevelFilter::WARN),
            ("err", LevelFilter::ERROR),
        ] {
            assert_eq!(parse_level(text), Ok(level), "{text:?}");
        }
    }

    #[test]
    fn rejects_unknown_levels_listing_the_known_ones() {
        let error = parse_level("verbose").unwrap_err();
        assert!(
            error.contains("verbose") && error.contains("notice"),
            "{error}"
        );
    }
}
