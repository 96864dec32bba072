//! Monitoring over TLS (`https_port` / `-ms`), with the client `tls`
//! block's certificate, as nats-server serves it. A few requests a minute
//! do not need an event loop: a host thread accepts, and each connection
//! gets a short-lived thread that runs rustls over the blocking socket,
//! reads one head with the core's `HeadReader` and writes the core's
//! answer — the same `http_reply` the plain monitor uses.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use natsd_core::monitor::HeadReader;
use natsd_core::Server;

/// Connections served at once; more are closed at accept.
const MAX_AT_ONCE: usize = 64;

/// Binds `https_port` and serves it on host threads; nothing without the
/// option. The error is nats-server's fatal startup line.
pub(crate) fn start(server: &Arc<Server>) -> Result<(), String> {
    let o = server.options();
    let Some(port) = o.https_port else {
        return Ok(());
    };
    if o.tls.is_none() {
        return Err("Can't start monitoring: TLS cert and key required for HTTPS".into());
    }
    if o.http_port.is_some() {
        return Err(format!(
            "Can't start monitoring: can't specify both HTTP ({}) and HTTPs ({port}) ports",
            o.http_port.unwrap_or(0)
        ));
    }
    let host = o.effective_http_host().to_string();
    let listener = TcpListener::bind((host.as_str(), port))
        .map_err(|e| format!("Can't listen to the monitor port: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    server.monitor().set_http_port(addr.port());
    log::info!("Starting https monitor on {addr}");
    let server = server.clone();
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("natsd-https".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if busy.fetch_add(1, Ordering::AcqRel) >= MAX_AT_ONCE {
                    busy.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                let (server, done) = (server.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("natsd-https-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve(&server, stream) {
                            log::debug!("https monitor: {e}");
                        }
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// One request over TLS, bounded by `HTTP_TIMEOUT` per read and write.
fn serve(server: &Server, stream: TcpStream) -> io::Result<()> {
    let Some(config) = server.tls().current() else {
        return Ok(());
    };
    stream.set_read_timeout(Some(crate::HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(crate::HTTP_TIMEOUT))?;
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut head = HeadReader::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if let Some(reply) = crate::http_reply(server, head.push(&buf[..n])) {
            tls.write_all(&reply)?;
            tls.conn.send_close_notify();
            tls.flush()?;
            return Ok(());
        }
    }
}
