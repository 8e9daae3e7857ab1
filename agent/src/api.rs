//! The agent API on `listener` addresses: `POST /agent/v1/quit` (when `agent_api.enable_quit`)
//! and `GET /agent/v1/metrics`. A tiny HTTP/1.1 responder: one request per connection, no TLS
//! (vault-k8s's quit listener is `127.0.0.1:<port>` with `tls_disable`).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::signal::Trigger;

/// Binds every TCP listener of the config and serves it until the process exits.
pub async fn serve(
    listeners: &[crate::config::Listener],
    trigger: Trigger,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    for listener in listeners {
        if listener.kind != "tcp" {
            warn!(kind = %listener.kind, "only tcp listeners are supported; skipping");
            continue;
        }
        let quit = listener.agent_api.as_ref().is_some_and(|a| a.enable_quit);
        let socket = TcpListener::bind(&listener.address).await?;
        info!(address = %socket.local_addr()?, quit, "agent API listening");
        let trigger = trigger.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = socket.accept().await else {
                    continue;
                };
                let trigger = trigger.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, quit, &trigger, &metrics).await;
                });
            }
        });
    }
    Ok(())
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    quit_enabled: bool,
    trigger: &Trigger,
    metrics: &Metrics,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    // Read the request head only; bodies are not needed by any endpoint.
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body, quit) = match (method, path) {
        ("POST", "/agent/v1/quit") if quit_enabled => ("200 OK", String::new(), true),
        (_, "/agent/v1/quit") if quit_enabled => ("405 Method Not Allowed", String::new(), false),
        ("GET", "/agent/v1/metrics") => ("200 OK", metrics.render(), false),
        _ => ("404 Not Found", String::new(), false),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    if quit {
        trigger.fire("POST /agent/v1/quit");
    }
    Ok(())
}
