//! Log flags and subscriber setup shared by every `kagi-webhook` command.
//!
//! Levels are vault-k8s's (`trace`, `debug`, `info`/`notice`, `warn`/`warning`, `err`/`error`,
//! case-insensitive, empty meaning `info`), so an existing `AGENT_INJECT_LOG_LEVEL` keeps
//! working; `json` output suits log collectors, `standard` people.
//!
//! Lines reach stderr through [`BufferedStderr`]: a request thread only appends its line to a
//! buffer, and one background thread writes whatever has gathered in one `write`. The thread
//! is woken by the first line of a batch and gathers for [`BATCH_WINDOW`] before writing: at
//! any rate, one wake-up and one syscall for the lines of that window instead of one (or,
//! woken per line, two) per review, and a slow log reader never holds up a request thread
//! until the buffer is full.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

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
    /// Keep the guard until the command ends: dropping it writes out every line logged so far.
    pub fn init(&self) -> LogGuard {
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
        let writer = BufferedStderr::start();
        let guard = LogGuard(writer.clone());
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer);
        // A second init (only possible in tests) keeps the first subscriber.
        let _ = if self.log_format == "json" {
            builder.json().try_init()
        } else {
            builder.try_init()
        };
        guard
    }
}

/// Lines waiting beyond this make the logging thread wait for the writer thread: memory stays
/// bounded and no line is dropped.
const MAX_PENDING: usize = 1024 * 1024;

/// How long the writer thread gathers lines after the first one of a batch: short enough that
/// a person tailing the log sees no delay, long enough to take many lines under load.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// stderr written by a background thread. The fmt layer hands over each event as one
/// `write_all` of a complete line, and each `write` is appended whole under the lock, so lines
/// stay complete and in the order they were logged.
#[derive(Clone)]
pub struct BufferedStderr(Arc<Shared>);

struct Shared {
    state: Mutex<Pending>,
    /// Wakes the writer thread: lines arrived, or a flush was asked for.
    lines: Condvar,
    /// Wakes threads waiting for room in the buffer or for a flush to complete.
    written: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The writer thread holds a batch it has not written yet.
    writing: bool,
    /// The guard was dropped: the writer thread writes what is left and ends.
    closing: bool,
    /// The writer thread ended (or never started): lines go straight to stderr.
    direct: bool,
}

impl BufferedStderr {
    /// Starts the writer thread on stderr.
    pub fn start() -> Self {
        Self::start_on(std::io::stderr())
    }

    /// Starts the writer thread on `out`. If the thread cannot start, lines go to stderr
    /// directly.
    fn start_on(mut out: impl std::io::Write + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending::default()),
            lines: Condvar::new(),
            written: Condvar::new(),
        });
        let writer = shared.clone();
        let started = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(&mut out));
        if started.is_err() {
            shared.lock().direct = true;
        }
        Self(shared)
    }
}

impl Shared {
    // A poisoned lock means a thread panicked while appending; the bytes are still whole
    // lines (an append is one `extend`), so logging goes on.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'a>(&self, on: &Condvar, guard: MutexGuard<'a, Pending>) -> MutexGuard<'a, Pending> {
        on.wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        while !state.direct && state.bytes.len() >= MAX_PENDING {
            state = self.wait(&self.written, state);
        }
        if state.direct {
            drop(state);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        let was_empty = state.bytes.is_empty();
        state.bytes.extend_from_slice(line);
        drop(state);
        // The writer thread sleeps only when the buffer is empty; waking it once per batch is
        // enough, and costs nothing while it is busy writing.
        if was_empty {
            self.lines.notify_one();
        }
    }

    fn run(&self, out: &mut dyn std::io::Write) {
        let mut batch = Vec::new();
        let mut state = self.lock();
        loop {
            while state.bytes.is_empty() && !state.closing {
                state = self.wait(&self.lines, state);
            }
            if state.bytes.is_empty() {
                break;
            }
            if !state.closing {
                drop(state);
                std::thread::sleep(BATCH_WINDOW);
                state = self.lock();
            }
            std::mem::swap(&mut state.bytes, &mut batch);
            state.writing = true;
            drop(state);
            // Room again for loggers that were waiting.
            self.written.notify_all();
            // Nowhere to report a failed stderr write; the next batch tries again.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            // Do not keep a burst's worth of memory for the rest of the run.
            batch.shrink_to(64 * 1024);
            state = self.lock();
            state.writing = false;
            self.written.notify_all();
        }
        state.direct = true;
        drop(state);
        self.written.notify_all();
    }
}

impl std::io::Write for &BufferedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = &'a BufferedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Returned by [`LogArgs::init`]: when dropped, every line logged so far is written, and
/// later lines (from threads still running) go straight to stderr.
#[must_use = "dropping the guard ends buffered logging"]
pub struct LogGuard(BufferedStderr);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let shared = &self.0.0;
        let mut state = shared.lock();
        state.closing = true;
        shared.lines.notify_one();
        while !state.direct {
            state = shared.wait(&shared.written, state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_whole_and_in_order_once_the_guard_drops() {
        let out = Captured::default();
        let writer = BufferedStderr::start_on(out.clone());
        let guard = LogGuard(writer.clone());
        // Long lines from several threads, past the buffer's cap, so loggers also wait.
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..2000 {
                        let line = format!("{thread} {n} {}\n", "x".repeat(500));
                        (&writer).write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        // After the guard, a line does not wait for the writer thread that has ended.
        (&writer).write_all(b"late\n").unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut next = [0; 4];
        for line in text.lines().take(8000) {
            let mut fields = line.split(' ');
            let thread: usize = fields.next().unwrap().parse().unwrap();
            let n: usize = fields.next().unwrap().parse().unwrap();
            assert_eq!(n, next[thread], "thread {thread}'s lines out of order");
            assert_eq!(fields.next().unwrap().len(), 500, "a torn line: {line}");
            next[thread] += 1;
        }
        assert_eq!(next, [2000; 4]);
    }

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
