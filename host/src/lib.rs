//! What every natsd binary does around the core that is not specific to an
//! async runtime: read the command line, install a logger printing
//! nats-server's log format, seed the core, and print the startup lines
//! that scripts and tools wait for.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use natsd_core::cli::{self, Command};
use natsd_core::options::{COMPAT_VERSION, NATSD_VERSION};
use natsd_core::{Options, Server};

/// Reads the command line and returns the server to run, or exits the
/// process for `-h`, `-v` and errors (exit code 1 with the reason).
pub fn startup(runtime: &str) -> Arc<Server> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse_args(args) {
        Ok(Command::Run(o)) => *o,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            std::process::exit(0);
        }
        Ok(Command::Version) => {
            println!("natsd-{runtime}: v{NATSD_VERSION} (nats-server v{COMPAT_VERSION} compatible)");
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}", cli::USAGE);
            std::process::exit(1);
        }
    };
    init_logger(&opts);
    let server = Server::new(opts, os_seed());
    log::info!("Starting natsd ({runtime} runtime)");
    log::info!("  Version:  {NATSD_VERSION} (nats-server {COMPAT_VERSION} compatible)");
    log::info!("  Name:     {}", server.name());
    log::info!("  ID:       {}", server.id());
    server
}

/// Logs the lines tools wait for once the listener is bound.
pub fn ready(server: &Server, addr: SocketAddr) {
    server.set_port(addr.port());
    log::info!("Listening for client connections on {addr}");
    log::info!("Server is ready");
}

/// Logs nats-server's shutdown lines for a trapped signal.
pub fn shutting_down(signal: &str) {
    log::info!("Trapped \"{signal}\" signal");
    log::info!("Initiating Shutdown...");
    log::info!("Server Exiting..");
}

/// A seed from the OS (std's hasher keys are randomly seeded per process).
pub fn os_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    h.finish()
}

/// How many worker threads a runtime should use: one per core.
pub fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Logger {
    pid: u32,
    level: log::LevelFilter,
    logtime: bool,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level && m.target().starts_with("natsd")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let tag = match record.level() {
            log::Level::Error => "ERR",
            log::Level::Warn => "WRN",
            log::Level::Info => "INF",
            log::Level::Debug => "DBG",
            log::Level::Trace => "TRC",
        };
        let mut line = format!("[{}] ", self.pid);
        if self.logtime {
            line.push_str(&timestamp(SystemTime::now()));
            line.push(' ');
        }
        line.push_str(&format!("[{tag}] {}\n", record.args()));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn init_logger(opts: &Options) {
    let level = if opts.trace {
        log::LevelFilter::Trace
    } else if opts.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let logger = Logger { pid: std::process::id(), level, logtime: opts.logtime };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

/// `2006/01/02 15:04:05.000000` in UTC, as nats-server prints (it uses local
/// time; servers usually run in UTC).
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}/{m:02}/{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_764_129_451_981_522);
        assert_eq!(timestamp(t), "2025/11/26 03:57:31.981522");
    }
}

/// For runtimes without their own signal streams: a thread that waits for
/// SIGTERM or SIGINT, logs nats-server's shutdown lines and exits 0.
pub fn exit_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            shutting_down(if sig == SIGTERM { "terminated" } else { "interrupt" });
            std::process::exit(0);
        }
    })?;
    Ok(())
}
