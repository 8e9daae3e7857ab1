//! The pod sandbox (what the kubelet's "pause" container is): it holds the pod's network, IPC,
//! UTS (and, with `shareProcessNamespace`, PID) namespaces that the pod's containers join, and
//! brings the host services a test lets the pod reach into the pod's loopback: each
//! `--forward PORT=SOCKET` listens on 127.0.0.1:PORT inside the pod and relays every connection
//! over the Unix socket SOCKET (bind-mounted from the host, where the runner relays it to the
//! host's 127.0.0.1:PORT). No traffic leaves loopback on either side.
#![forbid(unsafe_code)]

use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread;

fn relay(tcp: TcpStream, socket: &PathBuf) {
    let Ok(unix) = UnixStream::connect(socket) else {
        let _ = tcp.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut tcp_in), Ok(mut unix_in)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let (mut tcp_out, mut unix_out) = (tcp, unix);
    let upstream = thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_in, &mut unix_out);
        let _ = unix_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut unix_in, &mut tcp_out);
    let _ = tcp_out.shutdown(Shutdown::Write);
    let _ = upstream.join();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut forwards = Vec::new();
    while let Some(arg) = args.next() {
        let spec = match arg.as_str() {
            "--forward" => args.next().unwrap_or_default(),
            other => {
                eprintln!("kagi-pod-sandbox: unknown argument {other}");
                std::process::exit(2);
            }
        };
        let Some((port, socket)) = spec
            .split_once('=')
            .and_then(|(p, s)| Some((p.parse::<u16>().ok()?, PathBuf::from(s))))
        else {
            eprintln!("kagi-pod-sandbox: --forward needs PORT=SOCKET, got {spec:?}");
            std::process::exit(2);
        };
        forwards.push((port, socket));
    }
    for (port, socket) in forwards {
        let listener = match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("kagi-pod-sandbox: listening on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let socket = socket.clone();
                thread::spawn(move || relay(tcp, &socket));
            }
        });
    }
    println!("sandbox ready");
    // Holds the namespaces until the runner kills it (SIGKILL: as PID 1 it ignores SIGTERM).
    loop {
        thread::park();
    }
}
