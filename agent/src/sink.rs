//! Token sinks: the file `auto_auth.sink` entries name, written atomically with mode 0640
//! (or the sink's `mode`) whenever a new token arrives.

use std::path::Path;

use tracing::{error, info};

use crate::config::Sink;
use crate::runtime::AgentError;
use crate::vault::Token;

/// Sink files must be writable at start-up, as Vault Agent checks.
pub fn check_sinks(sinks: &[Sink]) -> Result<(), AgentError> {
    for sink in sinks {
        if sink.kind != "file" {
            return Err(AgentError::Config(format!(
                "auto_auth.sink type {:?} is not supported (only file)",
                sink.kind
            )));
        }
        let path = sink
            .path()
            .ok_or_else(|| AgentError::Config("auto_auth.sink.config.path is required".into()))?;
        let dir = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let probe = dir.join(format!(".kagi-sink-check-{:08x}", fastrand::u32(..)));
        std::fs::write(&probe, b"").map_err(|source| AgentError::Io {
            what: "sink directory is not writable:",
            path: dir.display().to_string(),
            source,
        })?;
        let _ = std::fs::remove_file(probe);
    }
    Ok(())
}

fn sink_mode(sink: &Sink) -> u32 {
    match sink.config.get("mode") {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|m| m as u32).unwrap_or(0o640),
        Some(serde_json::Value::String(s)) => {
            u32::from_str_radix(s.trim_start_matches("0o"), 8).unwrap_or(0o640)
        }
        _ => 0o640,
    }
}

pub fn write_sinks(sinks: &[Sink], token: &Token) {
    for sink in sinks {
        let Some(path) = sink.path() else { continue };
        let mode = sink_mode(sink);
        match crate::render::write_atomic(
            Path::new(path),
            token.client_token.as_bytes(),
            Some(mode),
            mode,
            true,
        ) {
            Ok(_) => info!(path, "token written to sink"),
            Err(err) => error!(path, error = %err, "cannot write token sink"),
        }
    }
}
