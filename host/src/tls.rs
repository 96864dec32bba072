//! The TLS files (client `tls {}` and `cluster { tls {} }`) on the real
//! file system: read at startup and on every reload, handed to the core as
//! bytes (`natsd_core::tls`).

use std::sync::Arc;

use natsd_core::tls::{self, RouteTlsConfig, ServerConfig, TlsFiles, TlsOptions};
use natsd_core::{Options, Server};

use crate::files::go_io_error;

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| go_io_error("open", path, &e))
}

/// Reads the PEM files `opts.tls` names and builds the rustls
/// configuration; `None` without TLS. The error names the file at fault.
pub fn load(opts: &Options) -> Result<Option<Arc<ServerConfig>>, String> {
    let Some(t) = &opts.tls else {
        return Ok(None);
    };
    tls::server_config(t, &files(t)?).map(Some)
}

/// Reads the PEM files `cluster { tls {} }` names and builds the route
/// configurations; `None` without route TLS.
pub fn load_cluster(opts: &Options) -> Result<Option<RouteTlsConfig>, String> {
    let Some(t) = opts.cluster.as_ref().and_then(|c| c.tls.as_ref()) else {
        return Ok(None);
    };
    tls::route_config(t, &files(t)?).map(Some)
}

fn files(t: &TlsOptions) -> Result<TlsFiles, String> {
    let pair = |e: String| format!("error parsing X509 certificate/key pair: {e}");
    Ok(TlsFiles {
        cert: read(&t.cert_file).map_err(pair)?,
        key: read(&t.key_file).map_err(pair)?,
        ca: if t.ca_file.is_empty() {
            None
        } else {
            Some(
                read(&t.ca_file)
                    .map_err(|e| format!("failed to parse root ca certificate: {e}"))?,
            )
        },
    })
}

/// What nats-server logs at startup about client TLS.
pub(crate) fn started(server: &Server) {
    let o = server.options();
    let Some(t) = &o.tls else {
        return;
    };
    if o.allow_non_tls {
        log::info!("TLS available for client connections (allow_non_tls)");
    } else {
        log::info!("TLS required for client connections");
    }
    // With a fallback delay, clients that wait for INFO still get it.
    if t.handshake_first == tls::HandshakeFirst::On {
        log::warn!(
            "Clients that are not using \"TLS Handshake First\" option will fail to connect"
        );
    }
}
