//! Black-box test harness for natsd (the tests themselves live in `tests/tests/`).
//!
//! * [`servers`] lists the server binaries under test: by default the three
//!   natsd runtimes (`natsd-tokio`, `natsd-mio`, `natsd-async-std`), built once
//!   per test process with `cargo build --bins`; or the comma-separated paths in
//!   `NATSD_TEST_SERVERS`, which lets the very same suite run against a real
//!   `nats-server` to show that the tests themselves are right:
//!
//!   ```text
//!   NATSD_TEST_SERVERS=/path/to/nats-server cargo test -p natsd-tests
//!   ```
//! * [`ServerProcess`] starts one of them on a free 127.0.0.1 port, waits until
//!   it greets with INFO, keeps its stderr in a temp file, and kills it on drop.
//! * [`RawConn`] is a blocking TCP client for exact protocol bytes.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The natsd binaries tested by default.
pub const NATSD_BINARIES: &[&str] = &["natsd-tokio", "natsd-mio", "natsd-async-std"];

/// How long a server may take to start listening and greet.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound for one blocking read in [`RawConn`].
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One server binary under test.
#[derive(Debug, Clone)]
pub struct ServerBin {
    /// Path of the executable.
    pub path: PathBuf,
    /// Short name used in assertion messages (file name of the binary).
    pub name: String,
}

impl ServerBin {
    /// True when this is a real Go `nats-server` (used for the few natsd-only
    /// expectations, such as the exit code of an unknown flag).
    pub fn is_nats_server(&self) -> bool {
        self.name.starts_with("nats-server")
    }
}

impl std::fmt::Display for ServerBin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The servers every test runs against (see the crate docs).
pub fn servers() -> &'static [ServerBin] {
    static SERVERS: OnceLock<Vec<ServerBin>> = OnceLock::new();
    SERVERS.get_or_init(|| {
        if let Ok(list) = std::env::var("NATSD_TEST_SERVERS") {
            let bins: Vec<ServerBin> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let path = PathBuf::from(s);
                    assert!(path.is_file(), "NATSD_TEST_SERVERS: {s} is not a file");
                    let name = path
                        .file_name()
                        .map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned());
                    ServerBin { path, name }
                })
                .collect();
            assert!(
                !bins.is_empty(),
                "NATSD_TEST_SERVERS is set but lists no server"
            );
            return bins;
        }
        build_natsd_binaries()
    })
}

/// The directory of the current cargo profile (`target/debug`, `target/release`, ...),
/// found from the test executable (`<profile dir>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test exe has a parent dir");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// Builds the three natsd binaries with the profile of this test run and
/// returns their paths.
fn build_natsd_binaries() -> Vec<ServerBin> {
    let dir = profile_dir();
    let profile_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profile = match profile_name.as_str() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--bins")
        .arg("--profile")
        .arg(&profile)
        .arg("--manifest-path")
        .arg(&manifest);
    for b in NATSD_BINARIES {
        cmd.arg("-p").arg(b);
    }
    // `cargo test` gives this process the test package's variables
    // (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...). Build scripts that watch
    // them (ring's does) would see them change between the outer build and
    // this one and rebuild every time, ping-ponging with the next
    // `cargo test`.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_CRATE_")
            || k.starts_with("CARGO_BIN_")
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "CARGO_TARGET_TMPDIR"
            || k == "OUT_DIR"
        {
            cmd.env_remove(&key);
        }
    }
    // CARGO_TARGET_DIR (if set) is inherited, so the binaries land where this
    // test binary's own build put its artifacts.
    eprintln!("natsd-tests: building server binaries: {cmd:?}");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {cargo}: {e}"));
    assert!(
        status.success(),
        "building {NATSD_BINARIES:?} failed ({status}); set NATSD_TEST_SERVERS=path[,path...] to test other binaries"
    );
    NATSD_BINARIES
        .iter()
        .map(|name| {
            let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
            let mut candidates = vec![dir.join(&file)];
            if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
                candidates.push(PathBuf::from(t).join(&profile_name).join(&file));
            }
            let path = candidates
                .iter()
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("built {name} but found none of {candidates:?}"))
                .clone();
            ServerBin {
                path,
                name: (*name).to_string(),
            }
        })
        .collect()
}

/// A free TCP port on 127.0.0.1 (racy by nature; [`ServerProcess::start`] retries).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "natsd-tests-{}-{n}-{tag}.stderr",
        std::process::id()
    ))
}

/// A running server process; killed (and reaped) on drop.
pub struct ServerProcess {
    bin: ServerBin,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
    stderr_path: PathBuf,
    /// The INFO line the readiness probe received.
    first_info: String,
    /// Whether the readiness probe waits for a plaintext INFO (servers
    /// with TLS `handshake_first` send none: the port accepting is enough).
    probe_info: bool,
}

impl ServerProcess {
    /// Starts `BIN -a 127.0.0.1 -p PORT <extra>` on a free port.
    pub fn start(bin: &ServerBin, extra: &[&str]) -> ServerProcess {
        Self::start_probing(bin, extra, true)
    }

    /// Like [`ServerProcess::start`], for servers that send no plaintext
    /// INFO (TLS `handshake_first`): ready once the port accepts.
    pub fn start_silent(bin: &ServerBin, extra: &[&str]) -> ServerProcess {
        Self::start_probing(bin, extra, false)
    }

    fn start_probing(bin: &ServerBin, extra: &[&str], probe_info: bool) -> ServerProcess {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::spawn(bin, &args, port, probe_info) {
                Ok(p) => return p,
                Err(e) => last_err = e,
            }
        }
        panic!("[{bin}] could not start the server: {last_err}");
    }

    fn spawn(
        bin: &ServerBin,
        args: &[String],
        port: u16,
        probe_info: bool,
    ) -> Result<ServerProcess, String> {
        let stderr_path = temp_path(&bin.name);
        let stderr = File::create(&stderr_path)
            .map_err(|e| format!("create {}: {e}", stderr_path.display()))?;
        let child = Command::new(&bin.path)
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.path.display()))?;
        let mut p = ServerProcess {
            bin: bin.clone(),
            args: args.to_vec(),
            port,
            child: Some(child),
            stderr_path,
            first_info: String::new(),
            probe_info,
        };
        p.wait_ready()?;
        Ok(p)
    }

    /// Waits until the port accepts and the server greets with an INFO line.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "server exited early ({status}); stderr:\n{}",
                        self.stderr()
                    ));
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "server not ready within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                ));
            }
            if let Ok(s) = TcpStream::connect_timeout(
                &self.addr().parse().unwrap(),
                Duration::from_millis(500),
            ) {
                if !self.probe_info {
                    let _ = s.shutdown(Shutdown::Both);
                    return Ok(());
                }
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                let mut s = s;
                while !buf.ends_with(b"\n") && buf.len() < 64 * 1024 {
                    match s.read(&mut byte) {
                        Ok(1) => buf.push(byte[0]),
                        _ => break,
                    }
                }
                if buf.starts_with(b"INFO ") && buf.ends_with(b"\r\n") {
                    self.first_info = String::from_utf8_lossy(&buf).into_owned();
                    let _ = s.shutdown(Shutdown::Both);
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The binary this process runs.
    pub fn bin(&self) -> &ServerBin {
        &self.bin
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The INFO line the readiness probe received.
    pub fn first_info(&self) -> &str {
        &self.first_info
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read(&self.stderr_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Kills the process (if running) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again, same binary, arguments and port.
    /// Retries binding for a few seconds (the old socket may linger).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match Self::spawn(&self.bin, &self.args, self.port, self.probe_info) {
                Ok(mut p) => {
                    // Take over the new child; keep the old stderr file for diagnostics.
                    self.child = p.child.take();
                    self.first_info = std::mem::take(&mut p.first_info);
                    let old = std::mem::replace(&mut self.stderr_path, p.stderr_path.clone());
                    let _ = std::fs::remove_file(old);
                    return;
                }
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "[{}] could not restart on port {}: {e}",
                        self.bin, self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Opens a raw protocol connection and reads the INFO greeting.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: String = {
                let lines: Vec<&str> = err.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            };
            eprintln!(
                "---- [{}] port {} stderr (last 40 lines) ----\n{tail}\n----",
                self.bin, self.port
            );
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// Renders bytes for assertion messages (`\r\n` etc. escaped, long runs cut).
pub fn show(b: &[u8]) -> String {
    let s: String = b.escape_ascii().to_string();
    if s.len() > 600 {
        format!(
            "{}...<{} bytes>...{}",
            &s[..300],
            b.len(),
            &s[s.len() - 200..]
        )
    } else {
        s
    }
}

/// A blocking raw-socket protocol client.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Name of the server, for assertion messages.
    pub server: String,
    /// The INFO line received on connect (including `\r\n`).
    pub info_line: String,
    /// Drop a server keep-alive `PING\r\n` found where something else was
    /// expected (default true).
    pub skip_server_pings: bool,
    eof: bool,
}

impl RawConn {
    /// Connects and reads the INFO greeting.
    pub fn connect(server: &ServerProcess) -> RawConn {
        let mut c = Self::connect_no_info(server);
        let line = c.read_line();
        c.info_line = String::from_utf8_lossy(&line).into_owned();
        assert!(
            c.info_line.starts_with("INFO {"),
            "[{}] expected INFO greeting, got {:?}",
            c.server,
            c.info_line
        );
        c
    }

    /// Connects without reading anything.
    pub fn connect_no_info(server: &ServerProcess) -> RawConn {
        let stream = TcpStream::connect(server.addr())
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", server.bin));
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
            server: server.bin.name.clone(),
            info_line: String::new(),
            skip_server_pings: true,
            eof: false,
        }
    }

    /// The INFO JSON (parsed) received on connect.
    pub fn info(&self) -> serde_json::Value {
        parse_info_line(&self.server, self.info_line.as_bytes())
    }

    /// Writes all bytes.
    pub fn send(&mut self, b: impl AsRef<[u8]>) {
        let b = b.as_ref();
        self.stream
            .write_all(b)
            .unwrap_or_else(|e| panic!("[{}] write {}: {e}", self.server, show(b)));
    }

    /// Writes and returns whether the write succeeded (for writes that may hit a closed socket).
    pub fn try_send(&mut self, b: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(b.as_ref()).is_ok()
    }

    /// Writes the bytes one at a time, pausing between them, so that the
    /// server sees every possible split.
    pub fn send_bytewise(&mut self, b: &[u8]) {
        for (i, byte) in b.iter().enumerate() {
            self.send([*byte]);
            if i % 4 == 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Reads more bytes; returns false at EOF (or connection reset) and panics
    /// with `what` when nothing arrives before `deadline`.
    fn fill(&mut self, deadline: Instant, what: &dyn Fn() -> String) -> bool {
        if self.eof {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            panic!(
                "[{}] timed out {}; have {:?}",
                self.server,
                what(),
                show(&self.buf)
            );
        }
        self.stream.set_read_timeout(Some(deadline - now)).unwrap();
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "[{}] timed out {}; have {:?}",
                    self.server,
                    what(),
                    show(&self.buf)
                )
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => {
                // ECONNRESET and friends: the server closed.
                self.eof = true;
                false
            }
        }
    }

    /// Reads exactly `expected.len()` bytes and asserts they equal `expected`.
    /// A server keep-alive `PING\r\n` found at a line boundary of `expected`
    /// (where `expected` has no PING) is skipped when `skip_server_pings` is set.
    #[track_caller]
    pub fn expect(&mut self, expected: impl AsRef<[u8]>) {
        let expected = expected.as_ref();
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut consumed: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < expected.len() {
            let what = || {
                format!(
                    "waiting for {:?} (matched so far: {:?})",
                    show(expected),
                    show(&consumed)
                )
            };
            if self.skip_server_pings
                && (i == 0 || expected[i - 1] == b'\n')
                && !expected[i..].starts_with(b"PING\r\n")
            {
                while self.buf.len() < 6
                    && b"PING\r\n".starts_with(&self.buf)
                    && self.fill(deadline, &what)
                {}
                if self.buf.starts_with(b"PING\r\n") {
                    self.buf.drain(..6);
                    continue;
                }
            }
            if self.buf.is_empty() && !self.fill(deadline, &what) {
                break;
            }
            let end = expected[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(expected.len(), |p| i + p + 1);
            let n = (end - i).min(self.buf.len());
            if self.buf[..n] != expected[i..i + n] {
                break;
            }
            consumed.extend(self.buf.drain(..n));
            i += n;
        }
        if i < expected.len() {
            consumed.extend_from_slice(&self.buf);
            panic!(
                "[{}] expected {:?}\n got {:?}{}",
                self.server,
                show(expected),
                show(&consumed),
                if self.eof { " <EOF>" } else { "" }
            );
        }
    }

    /// Reads one line (through `\n`), including the line end.
    #[track_caller]
    pub fn read_line(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            if !self.fill(deadline, &|| "waiting for a line".to_string()) {
                panic!(
                    "[{}] EOF while reading a line; have {:?}",
                    self.server,
                    show(&self.buf)
                );
            }
        }
    }

    /// Reads one line that is not a server keep-alive PING.
    #[track_caller]
    pub fn read_line_skip_ping(&mut self) -> Vec<u8> {
        loop {
            let l = self.read_line();
            if !(self.skip_server_pings && l == b"PING\r\n") {
                return l;
            }
        }
    }

    /// Reads an INFO line and returns its JSON, asserting the `INFO {...} \r\n` shape.
    #[track_caller]
    pub fn expect_info(&mut self) -> serde_json::Value {
        let l = self.read_line_skip_ping();
        parse_info_line(&self.server, &l)
    }

    /// Asserts that the server closes the connection without sending anything more.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "[{}] expected the connection to close silently, got {:?}",
            self.server,
            show(&rest)
        );
    }

    /// Expects `expected` followed by the server closing the connection.
    #[track_caller]
    pub fn expect_then_closed(&mut self, expected: impl AsRef<[u8]>) {
        self.expect(expected);
        self.expect_closed();
    }

    /// Reads until the server closes; returns what came before (server PINGs dropped
    /// only when they are the whole remainder).
    #[track_caller]
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + READ_TIMEOUT;
        while self.fill(deadline, &|| {
            "waiting for the server to close the connection".to_string()
        }) {}
        let mut rest = std::mem::take(&mut self.buf);
        if self.skip_server_pings {
            while rest.starts_with(b"PING\r\n") {
                rest.drain(..6);
            }
        }
        rest
    }

    /// Asserts that nothing (except possibly server PINGs) arrives for `dur`.
    #[track_caller]
    pub fn expect_nothing(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        loop {
            while self.skip_server_pings && self.buf.starts_with(b"PING\r\n") {
                self.buf.drain(..6);
            }
            let partial_ping = self.skip_server_pings && b"PING\r\n".starts_with(&self.buf);
            assert!(
                self.buf.is_empty() || partial_ping,
                "[{}] expected nothing, got {:?}",
                self.server,
                show(&self.buf)
            );
            let now = Instant::now();
            if now >= deadline {
                assert!(
                    self.buf.is_empty(),
                    "[{}] expected nothing, got {:?}",
                    self.server,
                    show(&self.buf)
                );
                return;
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            let mut tmp = [0u8; 4096];
            match self.stream.read(&mut tmp) {
                Ok(0) => panic!(
                    "[{}] expected nothing, but the connection closed",
                    self.server
                ),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("[{}] expected nothing, got read error {e}", self.server),
            }
        }
    }

    /// Sends `PING` and expects `PONG` (a fence: everything the server sent
    /// before it must already have been consumed).
    #[track_caller]
    pub fn ping_pong(&mut self) {
        self.send("PING\r\n");
        self.expect("PONG\r\n");
    }

    /// Bytes received but not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Parses `INFO {json} \r\n`, asserting the exact line shape.
#[track_caller]
pub fn parse_info_line(server: &str, line: &[u8]) -> serde_json::Value {
    assert!(
        line.starts_with(b"INFO {") && line.ends_with(b"} \r\n"),
        "[{server}] INFO line shape must be `INFO {{...}} \\r\\n`, got {:?}",
        show(line)
    );
    let json = &line[5..line.len() - 3];
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_else(|e| {
        panic!(
            "[{server}] INFO JSON does not parse ({e}): {:?}",
            show(json)
        )
    });
    assert!(v.is_object(), "[{server}] INFO JSON is not an object");
    v
}

/// Runs a blocking test body for each server, naming the server if it panics.
///
/// Every server is tried even when an earlier one fails; the test then fails
/// listing the servers that did.
#[track_caller]
pub fn for_each_server(mut f: impl FnMut(&ServerBin)) {
    let mut failed = Vec::new();
    for s in servers() {
        eprintln!(
            "natsd-tests: running against {} ({})",
            s.name,
            s.path.display()
        );
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(s))) {
            failed.push(format!("{}: {}", s.name, panic_message(&*e)));
        }
    }
    assert!(
        failed.is_empty(),
        "failed against {} server(s):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".to_string())
}

/// A multi-threaded tokio runtime for the async-nats tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Collects the failures of independent sub-cases so that one run reports all of them.
#[derive(Default)]
pub struct Cases {
    failures: Vec<String>,
}

impl Cases {
    /// Runs one sub-case, recording (instead of propagating) its panic.
    pub fn run(&mut self, name: impl Into<String>, f: impl FnOnce()) {
        let name = name.into();
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            self.failures
                .push(format!("{name}: {}", panic_message(&*e)));
        }
    }

    /// Panics listing every failed sub-case.
    #[track_caller]
    pub fn finish(self, server: &ServerBin) {
        assert!(
            self.failures.is_empty(),
            "[{server}] {} sub-case(s) failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

impl ServerProcess {
    /// Like [`ServerProcess::start`] (`-a 127.0.0.1 -p PORT <extra>` on a
    /// free port), with extra environment variables for the server (e.g.
    /// the `$SERVER_NAME` a configuration file refers to).
    pub fn start_with_env(bin: &ServerBin, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let stderr_path = temp_path(&bin.name);
            let stderr = File::create(&stderr_path).expect("create stderr file");
            let child = Command::new(&bin.path)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .args(&args)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.path.display()));
            let mut p = ServerProcess {
                bin: bin.clone(),
                args: args.clone(),
                port,
                child: Some(child),
                stderr_path,
                first_info: String::new(),
                probe_info: true,
            };
            match p.wait_ready() {
                Ok(()) => return p,
                Err(e) => last_err = e,
            }
        }
        panic!("[{bin}] could not start the server: {last_err}");
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for the process to exit by itself (after a
    /// signal, say) and returns its status; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Resident memory (`VmRSS`) of process `pid` in KiB, read from
/// `/proc/PID/status`; `None` where that file is missing (not Linux, or the
/// process is gone).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

impl ServerProcess {
    /// The server's resident memory in KiB (see [`vm_rss_kib`]), while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        vm_rss_kib(self.pid()?)
    }
}
