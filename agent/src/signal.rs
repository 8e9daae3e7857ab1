//! Shutdown triggers: SIGTERM (Kubernetes stops a container with it), SIGINT (Ctrl-C), and
//! `POST /agent/v1/quit` when a listener enables it (see [`crate::proxy`]).

use tokio::sync::watch;

/// A cloneable "stop now" flag.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending half of [`Shutdown`].
#[derive(Clone)]
pub struct Trigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (
        Trigger {
            tx: std::sync::Arc::new(tx),
        },
        Shutdown { rx },
    )
}

impl Trigger {
    pub fn fire(&self, reason: &str) {
        if !*self.tx.borrow() {
            tracing::info!(reason, "shutdown triggered");
        }
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown was triggered. Cancel-safe: it only watches a flag.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// Fires `trigger` on SIGTERM or SIGINT.
pub fn forward_signals(trigger: Trigger) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // SIGHUP reloads Vault Agent's config; kagi has nothing to reload, but the default action
    // would kill the process, so note it and carry on.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; configuration reload is not supported, ignoring");
        }
    });
    tokio::spawn(async move {
        // Either arm only awaits a signal stream, so whichever loses the race loses nothing.
        tokio::select! {
            _ = term.recv() => trigger.fire("SIGTERM"),
            _ = int.recv() => trigger.fire("SIGINT"),
        }
    });
    Ok(())
}
