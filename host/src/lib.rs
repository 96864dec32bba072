//! What every natsd binary does around the core that is not specific to an
//! async runtime: read the command line, install a logger printing
//! nats-server's log format, seed the core, and print the startup lines
//! that scripts and tools wait for.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use natsd_core::cli::{self, Command};
use natsd_core::monitor::{self, Parse, ProcessStats, Response};
use natsd_core::options::{COMPAT_VERSION, NATSD_VERSION};
use natsd_core::{Options, Server};

pub mod config;
pub mod files;
mod https;
pub mod logfile;
pub mod routes;
pub mod signal;
pub mod signals;
pub mod tls;

/// This program's name as nats-server uses its own in messages
/// (`<name>: configuration file x is valid (…)`): the file name it was
/// started as.
pub fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "natsd".into())
}

/// The configuration file the server was started with and its digest
/// (`sha256:…`), if any.
pub fn config_file() -> Option<&'static (String, String)> {
    CONFIG.get().and_then(Option::as_ref)
}

static CONFIG: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();

/// The option flags given on the command line, to apply again over a
/// reloaded configuration file (nats-server: flags keep precedence).
pub fn cli_flags() -> &'static cli::Flags {
    FLAGS.get_or_init(cli::Flags::default)
}

static FLAGS: std::sync::OnceLock<cli::Flags> = std::sync::OnceLock::new();

/// Reads the command line and returns the server to run, or exits the
/// process for `-h`, `-v` and errors (exit code 1 with the reason).
pub fn startup(runtime: &str) -> Arc<Server> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prog = program_name();
    let resolved = match cli::parse_args(args) {
        Ok(Command::Run {
            opts,
            config_file,
            test_only,
            flags,
        }) => match config::resolve(&prog, *opts, config_file, test_only, &flags) {
            Ok(r) => {
                let _ = FLAGS.set(flags);
                r
            }
            Err(config::Exit::Valid(line)) => {
                eprintln!("{line}");
                std::process::exit(0);
            }
            Err(config::Exit::Fail(msg)) => {
                eprintln!("{msg}");
                std::process::exit(1);
            }
        },
        Ok(Command::Signal { command, target }) => {
            match signal::send(&prog, &command, target.as_deref()) {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("{prog}: {e}");
                    std::process::exit(1);
                }
            }
        }
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            std::process::exit(0);
        }
        Ok(Command::Version) => {
            println!(
                "natsd-{runtime}: v{NATSD_VERSION} (nats-server v{COMPAT_VERSION} compatible)"
            );
            std::process::exit(0);
        }
        Err(e) if !e.shows_usage() => {
            eprintln!("{prog}: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}", cli::USAGE);
            std::process::exit(1);
        }
    };
    let opts = resolved.opts;
    let (tls_config, route_tls) =
        match tls::load(&opts).and_then(|c| Ok((c, tls::load_cluster(&opts)?))) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{prog}: {e}");
                std::process::exit(1);
            }
        };
    if let Err(e) = init_logger(&opts) {
        eprintln!("{prog}: {e}");
        std::process::exit(1);
    }
    let _ = CONFIG.set(resolved.config);
    let server = Server::new(opts, os_seed());
    server.tls().install(tls_config);
    server.routes().install_tls(route_tls);
    server.monitor().set_started(Instant::now(), unix_now());
    log::info!("Starting natsd ({runtime} runtime)");
    log::info!("  Version:  {NATSD_VERSION} (nats-server {COMPAT_VERSION} compatible)");
    log::info!("  Name:     {}", server.name());
    log::info!("  ID:       {}", server.id());
    started(&server);
    if let Err(e) = https::start(&server) {
        log::error!("{e}");
        std::process::exit(1);
    }
    spawn_server_timers(&server);
    tls::started(&server);
    server
}

/// Drives the server-wide timers (the periodic `$SYS` statistics) on a
/// thread of their own, the same for every runtime.
fn spawn_server_timers(server: &Arc<Server>) {
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name("natsd-timers".into())
        .spawn(move || {
            while let Some(at) = server.poll_timeout(Instant::now()) {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                // STATSZ shows the process figures, as /varz does.
                server.monitor().set_process_stats(process_stats(&server));
                server.handle_timeout(Instant::now());
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the timer thread: {e}");
    }
}

/// What nats-server does right after its banner: name the configuration
/// file, write the pid file (fatal if it cannot), warn about huge payloads.
fn started(server: &Server) {
    let opts = server.options();
    if opts.has_plaintext_passwords() {
        log::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some((file, digest)) = config_file() {
        log::info!("Using configuration file: {file} ({digest})");
    }
    if !opts.pid_file.is_empty() {
        if let Err(e) = files::write_pid_file(&opts.pid_file) {
            log::error!("{e}");
            std::process::exit(1);
        }
        files::remove_at_exit(&opts.pid_file);
    }
    if opts.max_payload > 8 * 1024 * 1024 {
        log::warn!("Maximum payloads over 8.00 MB are generally discouraged and could lead to poor performance");
    }
}

/// Logs the lines tools wait for once the listener is bound, and writes
/// the ports file (`ports_file_dir`).
pub fn ready(server: &Server, addr: SocketAddr) {
    server.set_port(addr.port());
    log::info!("Listening for client connections on {addr}");
    log::info!("Server is ready");
    let opts = server.options();
    if !opts.ports_file_dir.is_empty() {
        let monitor = server.monitor().http_port().and_then(|port| {
            use std::net::ToSocketAddrs;
            let host = opts.effective_http_host();
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            (host, port).to_socket_addrs().ok()?.next()
        });
        files::write_ports_file(&opts.ports_file_dir, addr, monitor);
    }
}

/// How long one monitoring connection may take, from accept to close.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to bind the HTTP monitoring listener, if `-m` asked for one.
pub fn monitor_addr(server: &Server) -> Option<(String, u16)> {
    let o = server.options();
    o.http_port
        .map(|port| (o.effective_http_host().to_string(), port))
}

/// Records the bound monitoring port and logs nats-server's line; runtimes
/// call it before [`ready`], as nats-server logs it first.
pub fn monitor_ready(server: &Server, addr: SocketAddr) {
    server.monitor().set_http_port(addr.port());
    log::info!("Starting http monitor on {addr}");
}

/// What to write back to a monitoring connection once `parse` (from a
/// [`monitor::HeadReader`]) is final; `None` while the head is incomplete.
/// The runtime writes the bytes and closes the connection.
pub fn http_reply(server: &Server, parse: Parse) -> Option<Vec<u8>> {
    let response = match parse {
        Parse::Partial => return None,
        Parse::Error(e) => Response::for_head_error(e),
        Parse::Complete(request) => {
            server.monitor().set_process_stats(process_stats(server));
            monitor::handle(server, &request, Instant::now(), unix_now())
        }
    };
    Some(response.to_bytes())
}

/// The wall clock as time since the Unix epoch, as the core takes it.
fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Resident memory and CPU use from `/proc` (zero elsewhere). CPU is the
/// percentage over the time since the previous sample, like `ps` shows
/// over a recent interval, or since start for the first sample.
fn process_stats(server: &Server) -> ProcessStats {
    static LAST: Mutex<Option<(Instant, f64, f64)>> = Mutex::new(None);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // utime and stime, fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let cpu_secs: f64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0)
        / 100.0;
    let now = Instant::now();
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let (since, before, previous) = match *last {
        Some(sample) => sample,
        None => (server.monitor().started().map_or(now, |s| s.0), 0.0, 0.0),
    };
    let elapsed = now.saturating_duration_since(since).as_secs_f64();
    let cpu = if elapsed >= 1.0 {
        let pct = ((cpu_secs - before) / elapsed * 100.0).max(0.0);
        let pct = (pct * 10.0).round() / 10.0;
        *last = Some((now, cpu_secs, pct));
        pct
    } else {
        previous
    };
    ProcessStats {
        mem: rss_kb * 1024,
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        workers: worker_threads(),
    }
}

/// Logs nats-server's shutdown lines for a trapped signal.
pub fn shutting_down(signal: &str) {
    log::info!("Trapped \"{signal}\" signal");
    log::info!("Initiating Shutdown...");
    files::cleanup();
    log::info!("Server Exiting..");
}

/// A seed from the OS (std's hasher keys are randomly seeded per process).
pub fn os_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// How many worker threads a runtime should use: one per core.
pub fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Logger {
    pid: u32,
}

/// Whether log lines carry a timestamp (`-T`); reloadable.
static LOGTIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

impl Logger {
    /// One log line: `[pid] 2006/01/02 15:04:05.000000 [TAG] message\n`.
    fn line(&self, tag: &str, msg: &str) -> String {
        let mut line = format!("[{}] ", self.pid);
        if LOGTIME.load(std::sync::atomic::Ordering::Relaxed) {
            line.push_str(&timestamp(SystemTime::now()));
            line.push(' ');
        }
        line.push_str(&format!("[{tag}] {msg}\n"));
        line
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level() && m.target().starts_with("natsd")
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
        let line = self.line(tag, &record.args().to_string());
        logfile::write_line(&line, &|msg| self.line("INF", msg));
    }

    fn flush(&self) {}
}

/// Installs the logger: level from `-D`/`-V`, timestamps unless `-T=false`,
/// output to `log_file` (rotated by `log_size_limit`) or standard error.
/// The log level `-D`/`-V` (or `debug`/`trace` in the file) ask for.
fn log_level(opts: &Options) -> log::LevelFilter {
    if opts.trace {
        log::LevelFilter::Trace
    } else if opts.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    }
}

/// Applies the logging options again (after a reload).
pub(crate) fn apply_logging(opts: &Options) {
    log::set_max_level(log_level(opts));
    LOGTIME.store(opts.logtime, std::sync::atomic::Ordering::Relaxed);
}

fn init_logger(opts: &Options) -> Result<(), String> {
    let level = log_level(opts);
    if !opts.log_file.is_empty() {
        logfile::set(Some(logfile::LogFile::open(
            &opts.log_file,
            opts.log_size_limit,
            opts.log_max_num,
        )?));
    }
    LOGTIME.store(opts.logtime, std::sync::atomic::Ordering::Relaxed);
    let logger = Logger {
        pid: std::process::id(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
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

pub(crate) use natsd_core::monitor::timefmt::civil as civil_from_days;

/// Raises a listening socket's accept backlog to the system maximum
/// (`net.core.somaxconn`), as nats-server does: bursts of connects then
/// queue in the kernel instead of stalling on SYN retransmits. Linux updates
/// the backlog of a socket that is already listening.
#[allow(unsafe_code)]
pub fn raise_backlog(fd: std::os::fd::RawFd) {
    let max = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or(4096);
    // SAFETY: listen(2) on a descriptor the caller owns and keeps open; it
    // touches no memory.
    if unsafe { libc::listen(fd, max) } != 0 {
        log::debug!(
            "could not raise the listen backlog: {}",
            std::io::Error::last_os_error()
        );
    }
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
