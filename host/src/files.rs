//! The files a server writes beside its sockets, as nats-server writes
//! them: the pid file (`pid_file`, `-P`) and the ports file
//! (`ports_file_dir`, `<exe>_<pid>.ports`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An I/O error as Go prints it: `open <path>: no such file or directory`.
pub fn go_io_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", go_errno_text(e))
}

/// The C library's text for an error, lower-cased like Go's `syscall.Errno`
/// strings (`no such file or directory`, `is a directory`).
pub fn go_errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Writes the pid file: the decimal pid, no newline, mode 0600 (what the
/// Helm chart's config reloader and `--signal CMD=<pidfile>` read back).
pub fn write_pid_file(path: &str) -> Result<(), String> {
    write_with_mode(
        Path::new(path),
        std::process::id().to_string().as_bytes(),
        0o600,
    )
    .map_err(|e| format!("Could not write pidfile: {}", go_io_error("open", path, &e)))
}

fn write_with_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.write_all(data)
}

/// What was written at startup, removed at shutdown.
static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remembers a file to remove at shutdown ([`cleanup`]).
pub fn remove_at_exit(path: impl Into<PathBuf>) {
    WRITTEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.into());
}

/// Removes the pid and ports files written at startup, logging failures
/// as nats-server does for the ports file.
pub fn cleanup() {
    let paths = std::mem::take(&mut *WRITTEN.lock().unwrap_or_else(|e| e.into_inner()));
    for p in paths {
        if let Err(e) = std::fs::remove_file(&p) {
            let shown = p.display().to_string();
            if shown.ends_with(".ports") {
                log::error!(
                    "Error cleaning up ports file {shown}: {}",
                    go_io_error("remove", &shown, &e)
                );
            }
        }
    }
}

/// The ports file's path: `<dir>/<executable name>_<pid>.ports`.
pub fn ports_file_path(dir: &str) -> String {
    let exe = std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "natsd".into());
    Path::new(dir)
        .join(format!("{exe}_{}.ports", std::process::id()))
        .display()
        .to_string()
}

/// Writes the ports file: `{"nats":["nats://h:p",…],"monitoring":["http://h:p",…]}`
/// (mode 0644). A listener on an unspecified address is listed under every
/// local address, as nats-server does. Failures are logged, not fatal.
pub fn write_ports_file(dir: &str, client: SocketAddr, monitor: Option<SocketAddr>) {
    let path = ports_file_path(dir);
    let list = |scheme: &str, addr: SocketAddr| -> String {
        let urls: Vec<String> = expand(addr)
            .iter()
            .map(|a| serde_json_string(&format!("{scheme}://{a}")))
            .collect();
        format!("[{}]", urls.join(","))
    };
    let mut json = format!("{{\"nats\":{}", list("nats", client));
    if let Some(m) = monitor {
        json.push_str(&format!(",\"monitoring\":{}", list("http", m)));
    }
    json.push('}');
    match write_with_mode(Path::new(&path), json.as_bytes(), 0o644) {
        Ok(()) => remove_at_exit(&path),
        Err(e) => log::error!(
            "Error writing ports file ({path}): {}",
            go_io_error("open", &path, &e)
        ),
    }
}

/// A JSON string literal (the texts here are URLs: only `"` and `\` matter).
fn serde_json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The addresses a listener is reachable at: itself, or for `0.0.0.0`/`::`
/// every local address (IPv4 first, then IPv6), 127.0.0.1 if none is found.
fn expand(addr: SocketAddr) -> Vec<SocketAddr> {
    if !addr.ip().is_unspecified() {
        return vec![addr];
    }
    let mut ips: Vec<IpAddr> = local_ipv4().into_iter().map(IpAddr::V4).collect();
    ips.extend(local_ipv6().into_iter().map(IpAddr::V6));
    if ips.is_empty() {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, addr.port()))
        .collect()
}

/// Local IPv4 addresses from `/proc/net/fib_trie` (the `/32 host LOCAL` leaves).
fn local_ipv4() -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut out: Vec<Ipv4Addr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(ip) = t.strip_prefix("|-- ").or_else(|| t.strip_prefix("+-- ")) {
            last = ip.split('/').next().and_then(|s| s.parse().ok());
        } else if t.contains("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out.sort_by_key(|ip| !ip.is_loopback());
    out
}

/// Local IPv6 addresses from `/proc/net/if_inet6`, by interface index.
fn local_ipv6() -> Vec<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    let mut out: Vec<(u32, Ipv6Addr)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let hex = f.next()?;
            let index = u32::from_str_radix(f.next()?, 16).ok()?;
            let n = u128::from_str_radix(hex, 16).ok()?;
            Some((index, Ipv6Addr::from(n)))
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, ip)| ip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_go() {
        let e = std::fs::read("/nonexistent/x").unwrap_err();
        assert_eq!(
            go_io_error("open", "/nonexistent/x", &e),
            "open /nonexistent/x: no such file or directory"
        );
    }

    #[test]
    fn addresses() {
        let a: SocketAddr = "127.0.0.1:4222".parse().unwrap();
        assert_eq!(expand(a), vec![a]);
        let any = expand("0.0.0.0:4222".parse().unwrap());
        assert!(
            !any.is_empty()
                && any
                    .iter()
                    .all(|x| x.port() == 4222 && !x.ip().is_unspecified())
        );
        assert_eq!(
            format!("{}", SocketAddr::from((Ipv6Addr::LOCALHOST, 1))),
            "[::1]:1"
        );
    }
}
