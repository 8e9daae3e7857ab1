//! A rustls certificate resolver whose key pair can be replaced while the server runs.
//!
//! New TLS handshakes pick up the newest pair; connections already open keep the one they
//! negotiated. The pair comes either from files (cert-manager, a mounted Secret, `gen-certs`
//! output), refreshed by [`ReloadingResolver::watch`], or from the self-managed controller in
//! [`crate::auto`], which calls [`ReloadingResolver::store`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::CertError;
use crate::pem::{ServingPair, parse_pair};

/// How often the files are re-read even when no change was noticed. File events are the
/// fast path; this backstop covers filesystems that do not deliver them (some network and
/// overlay filesystems) and events lost while a pair was half-written.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(60);

/// After the first event of a burst, wait this long for the rest of it (a Secret volume
/// update is several renames and symlink swaps) before reading the files once.
const EVENT_SETTLE: Duration = Duration::from_millis(100);

/// Serves the current certificate to rustls and swaps in new ones without a restart.
pub struct ReloadingResolver {
    /// `ArcSwap` rather than a lock: rustls reads it on every handshake from sync code,
    /// writers are rare, and a reader never waits for a writer.
    current: ArcSwap<ServingPair>,
    /// Where the pair is read from; `None` when the pair is pushed in by [`Self::store`].
    files: Option<SourceFiles>,
}

struct SourceFiles {
    cert: PathBuf,
    key: PathBuf,
    /// Bytes of the pair last read, valid or not, so an unchanged file is not re-parsed and a
    /// bad pair is reported once per change instead of on every re-check.
    last_read: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for ReloadingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pair = self.current.load();
        f.debug_struct("ReloadingResolver")
            .field("cert", &self.files.as_ref().map(|s| &s.cert))
            .field("not_after", &pair.not_after)
            .finish_non_exhaustive()
    }
}

/// Keeps a [`ReloadingResolver::watch`] alive; dropping it stops watching.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    _stop: mpsc::Sender<()>,
}

impl fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchGuard").finish_non_exhaustive()
    }
}

impl ReloadingResolver {
    /// Loads and validates the pair now; fails if it is unreadable, mismatched or expired.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, CertError> {
        let (cert_pem, key_pem) = crate::pem::read_pem_files(cert, key)?;
        let pair = parse_pair(&cert_pem, &key_pem, std::time::SystemTime::now())?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(pair),
            files: Some(SourceFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                last_read: Mutex::new((cert_pem, key_pem)),
            }),
        }))
    }

    /// A resolver serving `pair` that is not backed by files (self-managed TLS).
    pub fn from_pair(pair: ServingPair) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(pair),
            files: None,
        })
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<ServingPair> {
        self.current.load_full()
    }

    /// Replaces the served pair.
    pub fn store(&self, pair: ServingPair) {
        tracing::info!(not_after = pair.not_after, "serving certificate replaced");
        self.current.store(Arc::new(pair));
    }

    /// Re-reads the files. Returns `Ok(true)` when a new valid pair is now served, `Ok(false)`
    /// when the files are unchanged (or there are none), and an error when the files changed
    /// to something unusable, in which case the previous pair stays in service.
    pub fn reload(&self) -> Result<bool, CertError> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let (cert_pem, key_pem) = crate::pem::read_pem_files(&files.cert, &files.key)?;
        {
            let mut last = files.last_read.lock().unwrap_or_else(|e| e.into_inner());
            if last.0 == cert_pem && last.1 == key_pem {
                return Ok(false);
            }
            *last = (cert_pem.clone(), key_pem.clone());
        }
        let pair = parse_pair(&cert_pem, &key_pem, std::time::SystemTime::now())?;
        self.store(pair);
        Ok(true)
    }

    /// Watches the directories holding the files and reloads on any change there, plus
    /// every [`DEFAULT_RECHECK_INTERVAL`]. Watching the directory rather than the files is
    /// what makes Secret volume updates visible: the kubelet writes a new timestamped
    /// directory and swaps the `..data` symlink, so the file paths never see an event.
    pub fn watch(self: &Arc<Self>) -> Result<WatchGuard, CertError> {
        self.watch_every(DEFAULT_RECHECK_INTERVAL)
    }

    /// [`Self::watch`] with a chosen re-check interval.
    pub fn watch_every(self: &Arc<Self>, recheck: Duration) -> Result<WatchGuard, CertError> {
        let (events_tx, events_rx) = mpsc::channel::<()>();
        let stop = events_tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    // The receiver is gone only after the guard was dropped; nothing to do then.
                    let _ = events_tx.send(());
                }
            })
            .map_err(|source| CertError::Watch {
                path: PathBuf::from("."),
                source,
            })?;

        if let Some(files) = &self.files {
            let mut dirs: Vec<PathBuf> = [&files.cert, &files.key]
                .iter()
                .map(|p| parent_dir(p))
                .collect();
            dirs.dedup();
            for dir in dirs {
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .map_err(|source| CertError::Watch { path: dir, source })?;
            }
        }

        let resolver = Arc::clone(self);
        std::thread::Builder::new()
            .name("kagi-cert-watch".into())
            .spawn(move || watch_loop(&resolver, &events_rx, recheck))
            .map_err(|source| CertError::Watch {
                path: PathBuf::from("."),
                source: notify::Error::io(source),
            })?;
        Ok(WatchGuard {
            _watcher: watcher,
            _stop: stop,
        })
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.load().certified_key))
    }
}

/// Runs on its own thread until the guard (and with it every sender) is dropped.
fn watch_loop(resolver: &ReloadingResolver, events: &mpsc::Receiver<()>, recheck: Duration) {
    loop {
        match events.recv_timeout(recheck) {
            Ok(()) => {
                // Let the rest of the burst arrive, then read once.
                while let Ok(()) = events.recv_timeout(EVENT_SETTLE) {}
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        match resolver.reload() {
            Ok(true) => {}
            Ok(false) => resolver.warn_if_ageing(),
            Err(error) => tracing::warn!(
                %error,
                "new certificate files are not usable; still serving the previous certificate"
            ),
        }
    }
}

impl ReloadingResolver {
    /// Says so when the served certificate is in the last 10 % of its life and no newer one
    /// has appeared: whatever should renew it (cert-manager, a CronJob, a person) is not.
    fn warn_if_ageing(&self) {
        let pair = self.current.load();
        let now = crate::pem::unix_seconds(std::time::SystemTime::now());
        let renew_at = pair.not_before + (pair.not_after - pair.not_before).max(0) * 9 / 10;
        if now >= renew_at {
            tracing::warn!(
                cert = ?self.files.as_ref().map(|f| &f.cert),
                not_after = pair.not_after,
                expires_in_seconds = pair.not_after - now,
                "the serving certificate is about to expire and has not been renewed"
            );
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
