//! Fault and soak tests (issue 6): hostile and unlucky clients against every
//! server binary, over 127.0.0.1 only, each bounded in time and count.
//!
//! | test | what a client does | what must hold |
//! |---|---|---|
//! | `clients_vanish_mid_frame` | 4000 clients connect and vanish at a random byte of a frame script (FIN, RST, half-close), while messages flow to them | a health client keeps round-tripping; afterwards no connection or subscription is left and memory is back |
//! | `slow_consumer_is_cut_fast_ones_lose_nothing` | one subscriber never reads, three read (`max_pending: 1MB`) | the slow one is closed (EOF, no `-ERR`), the fast ones get every message exactly once |
//! | `one_byte_at_a_time` | four clients dribble a PUB and a PING one byte per 150 ms | other clients' round trips stay fast; the dribbled messages arrive whole |
//! | `oversized_frames` | PUB/HPUB over max_payload, 5000-byte and 1 MiB control lines, half-sent 1 MiB payloads | the `-ERR` and close nats-server sends; an exactly-max message still passes |
//! | `random_garbage` | 1500 connections send seeded random bytes, token soup and mutated frames | every one is closed, the server says nothing but well-formed protocol before |
//! | `burst_with_reconnecting_subscriber` | 100k messages while one subscriber drops (RST) and resubscribes three times | a steady subscriber gets all 100k in order; each new subscription gets a gapless run to the end |
//!
//! After each scenario the server must still serve a fresh client, its
//! connection and subscription counts (from `/varz`, the server runs with
//! `-m`) must be back to idle, and its resident memory back near the
//! baseline taken after a warm-up round of the same scenario (see
//! [`MEM_SLACK_KIB`]).
//!
//! Counts are scaled for a 2-core CI machine (the issue speaks of
//! "thousands" of clients and "1 byte per second"): the whole file takes
//! about 25-35 s for the three binaries in a debug build; `--nocapture`
//! shows a `soak: ...` line with time and memory per scenario.
//!
//! `connect_burst_is_queued_while_server_is_busy` guards the listen backlog
//! (natsd listened with 128 until this test found it);
//! `fast_consumer_under_max_pending_is_not_cut` guards the slow-consumer
//! rule against cutting subscribers that keep up (see that test).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use natsd_tests::{
    for_each_server, free_port, show, vm_rss_kib, RawConn, ServerBin, ServerProcess,
};
use serde_json::Value;

/// How far above its baseline the server's resident memory may stay once a
/// scenario is over and the server has settled.
///
/// Baselines are taken after a warm-up round of the same scenario, so
/// thread stacks, allocator arenas and buffers sized for that load already
/// count; what remains is allocator fragmentation (glibc keeps freed memory
/// in per-thread arenas) and the closed-connections ring that monitoring
/// keeps (`max_closed_clients`, set to 100 here so it cannot grow with the
/// number of clients). Measured growth of a healthy server is at most about
/// 6 MiB (oversized frames: glibc keeps some freed 1 MiB buffers; the other
/// scenarios stay under 3 MiB; nats-server grows as much; run with
/// `--nocapture` to see the `soak: ...` lines). 16 MiB leaves room for that
/// and still fails for a leak of 4 KiB per vanished client (4000 of them),
/// 11 KiB per garbage connection (1500), about 60 bytes per delivered
/// message of the 100k burst (3 deliveries each), or of the half-received
/// 1 MiB payloads (80 x 512 KiB). Leaked connection state is also caught
/// exactly by the `/varz` connection and subscription counts.
const MEM_SLACK_KIB: u64 = 16 * 1024;

/// How long memory may take to come back down after a scenario.
const SETTLE: Duration = Duration::from_secs(5);

/// Configuration every scenario's server gets (see [`MEM_SLACK_KIB`]).
const BASE_CONFIG: &str = "max_closed_clients: 100\n";

// ---------------------------------------------------------------------------
// Harness

/// A deterministic generator (splitmix64), so every run sends the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One server under soak: started with `-c` (BASE_CONFIG plus the
/// scenario's lines) and `-m` for `/varz`, with a thread sampling its
/// resident memory for the peak.
struct Soak {
    srv: ServerProcess,
    tag: &'static str,
    mon: u16,
    conf: PathBuf,
    idle_subs: u64,
    baseline_kib: u64,
    started: Instant,
    peak_kib: Arc<AtomicU64>,
    stop_sampler: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl Soak {
    fn start(bin: &ServerBin, tag: &'static str, config: &str) -> Soak {
        let conf = std::env::temp_dir().join(format!(
            "natsd-soak-{}-{}-{tag}.conf",
            std::process::id(),
            bin.name
        ));
        std::fs::write(&conf, format!("{BASE_CONFIG}{config}")).expect("write config");
        let conf_arg = conf.to_string_lossy().into_owned();
        // The monitoring port comes from free_port too; try again on the rare clash.
        let mut attempt = 0;
        let (srv, mon) = loop {
            attempt += 1;
            let mon = free_port();
            let port = mon.to_string();
            let r = std::panic::catch_unwind(|| {
                ServerProcess::start(bin, &["-c", &conf_arg, "-m", &port])
            });
            match r {
                Ok(srv) => break (srv, mon),
                Err(e) if attempt >= 3 => std::panic::resume_unwind(e),
                Err(_) => {}
            }
        };
        let pid = srv.pid().expect("server pid");
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop_sampler = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak_kib.clone(), stop_sampler.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = vm_rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let mut s = Soak {
            srv,
            tag,
            mon,
            conf,
            idle_subs: 0,
            baseline_kib: 0,
            started: Instant::now(),
            peak_kib,
            stop_sampler,
            sampler: Some(sampler),
        };
        s.wait_counts(0, None);
        s.idle_subs = s.varz_u64("subscriptions");
        s
    }

    fn name(&self) -> String {
        format!("{} {}", self.srv.bin(), self.tag)
    }

    fn addr(&self) -> String {
        self.srv.addr()
    }

    fn rss_kib(&self) -> u64 {
        self.srv
            .rss_kib()
            .unwrap_or_else(|| panic!("[{}] no VmRSS for the server", self.name()))
    }

    fn varz(&self) -> Value {
        http_json(self.mon, "/varz")
    }

    fn varz_u64(&self, key: &str) -> u64 {
        let v = self.varz();
        v[key]
            .as_u64()
            .unwrap_or_else(|| panic!("[{}] /varz has no number {key}: {v}", self.name()))
    }

    /// Waits (bounded) until `/varz` shows `conns` client connections and,
    /// when given, `subs` subscriptions.
    fn wait_counts(&self, conns: u64, subs: Option<u64>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.varz();
            let (c, n) = (v["connections"].as_u64(), v["subscriptions"].as_u64());
            if c == Some(conns) && subs.is_none_or(|s| n == Some(s)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] /varz still shows {c:?} connections and {n:?} subscriptions \
                 10 s after the clients left (want {conns} and {subs:?}): the server \
                 keeps state of connections that are gone",
                self.name()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A client with `CONNECT {"verbose":false}` done.
    fn quiet(&self) -> RawConn {
        let mut c = self.srv.raw();
        c.server = self.name();
        c.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
        c.ping_pong();
        c
    }

    /// Records the memory baseline: call after the warm-up, with every
    /// client gone.
    fn baseline(&mut self) {
        self.wait_counts(0, Some(self.idle_subs));
        thread::sleep(Duration::from_millis(300));
        self.baseline_kib = self.rss_kib();
        self.peak_kib.store(self.baseline_kib, Ordering::Relaxed);
        self.started = Instant::now();
    }

    /// After a scenario: the server serves a fresh client, has no state left
    /// from the scenario's clients, and its memory is back near the baseline.
    fn check_after(&self, what: &str) {
        let elapsed = self.started.elapsed();
        let mut c = self.quiet();
        c.send("SUB alive 1\r\nPUB alive 5\r\nhello\r\n");
        c.expect("MSG alive 1 5\r\nhello\r\n");
        c.ping_pong();
        drop(c);
        self.wait_counts(0, Some(self.idle_subs));
        assert!(
            self.baseline_kib > 0,
            "[{}] no memory baseline taken",
            self.name()
        );
        let limit = self.baseline_kib + MEM_SLACK_KIB;
        let deadline = Instant::now() + SETTLE;
        let mut rss = self.rss_kib();
        while rss > limit && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            rss = self.rss_kib();
        }
        let peak = self.peak_kib.load(Ordering::Relaxed).max(rss);
        eprintln!(
            "soak: [{}] {what}: {:.1} s; VmRSS baseline {} KiB, peak {} KiB, after {} KiB ({:+} KiB)",
            self.name(),
            elapsed.as_secs_f64(),
            self.baseline_kib,
            peak,
            rss,
            rss as i64 - self.baseline_kib as i64
        );
        assert!(
            rss <= limit,
            "[{}] {what}: resident memory stayed at {rss} KiB, more than {MEM_SLACK_KIB} KiB \
             above the baseline of {} KiB (peak {peak} KiB) {SETTLE:?} after the scenario",
            self.name(),
            self.baseline_kib
        );
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        self.stop_sampler.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.conf);
    }
}

/// `GET path` on the monitoring port, parsed as JSON.
fn http_json(port: u16, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("monitoring port {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let at = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header end in {:?}", show(&buf)));
    serde_json::from_slice(&buf[at + 4..])
        .unwrap_or_else(|e| panic!("GET {path}: {e} in {:?}", show(&buf)))
}

/// Joins a thread, passing its panic on unchanged.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The message of a caught panic.
fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".to_string())
}

/// What a [`Reader`] got.
#[derive(Debug, PartialEq)]
enum Frame {
    Msg { subject: String, payload: Vec<u8> },
    Pong,
    Eof,
    Other(String),
}

/// A buffered subscriber for message counts where `RawConn` (which shifts its
/// buffer on every line) would be the bottleneck. Answers server PINGs.
struct Reader {
    r: BufReader<TcpStream>,
    w: TcpStream,
    name: String,
    line: Vec<u8>,
    /// Messages that arrived before the PONG that ends `connect`.
    early: std::collections::VecDeque<Frame>,
}

impl Reader {
    /// Connects, sends CONNECT (verbose off) and `setup`, and waits for the
    /// PONG of a PING sent after it, so subscriptions in `setup` are in place.
    fn connect(s: &Soak, who: &str, setup: &str) -> Reader {
        let stream = TcpStream::connect(s.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let w = stream.try_clone().unwrap();
        let mut r = Reader {
            r: BufReader::with_capacity(64 * 1024, stream),
            w,
            name: format!("{} {who}", s.name()),
            line: Vec::new(),
            early: Default::default(),
        };
        match r.next() {
            Frame::Other(l) if l.starts_with("INFO {") => {}
            f => panic!("[{}] expected INFO, got {f:?}", r.name),
        }
        r.send(format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"{who}\"}}\r\n{setup}PING\r\n"
        ));
        let mut early = std::collections::VecDeque::new();
        loop {
            match r.next() {
                Frame::Pong => break,
                // Subscribed already: messages may come before the PONG.
                f @ Frame::Msg { .. } => early.push_back(f),
                f => panic!("[{}] expected PONG, got {f:?}", r.name),
            }
        }
        r.early = early;
        r
    }

    fn send(&mut self, b: impl AsRef<[u8]>) {
        self.w
            .write_all(b.as_ref())
            .unwrap_or_else(|e| panic!("[{}] write: {e}", self.name));
    }

    /// The next frame; panics when nothing comes for 10 s.
    fn next(&mut self) -> Frame {
        if let Some(f) = self.early.pop_front() {
            return f;
        }
        loop {
            self.line.clear();
            match self.r.read_until(b'\n', &mut self.line) {
                Ok(0) => return Frame::Eof,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("[{}] nothing received for 10 s", self.name)
                }
                Err(_) => return Frame::Eof,
            }
            if !self.line.ends_with(b"\n") {
                return Frame::Eof;
            }
            match self.line.as_slice() {
                b"PING\r\n" => {
                    let _ = self.w.write_all(b"PONG\r\n");
                    continue;
                }
                b"PONG\r\n" => return Frame::Pong,
                _ => {}
            }
            if !self.line.starts_with(b"MSG ") {
                return Frame::Other(String::from_utf8_lossy(&self.line).into_owned());
            }
            let text = String::from_utf8_lossy(&self.line).into_owned();
            let args: Vec<&str> = text.split_whitespace().collect();
            let size: usize = args
                .last()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("[{}] bad MSG line {text:?}", self.name));
            let mut payload = vec![0u8; size + 2];
            if self.r.read_exact(&mut payload).is_err() {
                return Frame::Eof;
            }
            assert!(
                payload.ends_with(b"\r\n"),
                "[{}] MSG payload not followed by CRLF",
                self.name
            );
            payload.truncate(size);
            return Frame::Msg {
                subject: args[1].to_string(),
                payload,
            };
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Thousands of clients connecting and vanishing mid-frame.

/// Concurrent clients per wave (connect bursts beyond the listen backlog
/// are `connect_burst_is_queued_while_server_is_busy`'s subject).
const WAVE: usize = 100;
/// Measured waves: 40 x 100 = 4000 clients (the issue's "thousands"; 10k
/// would only make it slower on 2 cores, not reach a new code path).
const WAVES: usize = 40;

/// What a vanishing client would have sent in full: every op type, a small
/// and a 60 kB payload. Cut at a random byte.
fn vanish_script() -> (Vec<u8>, usize) {
    let mut s = Vec::new();
    s.extend_from_slice(
        b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"vanish\",\"headers\":true,\"protocol\":1}\r\n\
          SUB vanish.all 1\r\nSUB vanish.all q 2\r\nSUB vanish.> 3\r\n\
          PUB vanish.x reply.x 32\r\nabcdefghijklmnopqrstuvwxyzABCDEF\r\n\
          HPUB vanish.x 18 26\r\nNATS/1.0\r\nA: b\r\n\r\nabcdefgh\r\n\
          UNSUB 3\r\nPING\r\n",
    );
    let head = s.len();
    s.extend_from_slice(b"PUB vanish.big 60000\r\n");
    s.extend(std::iter::repeat_n(b'z', 60000));
    s.extend_from_slice(b"\r\nPING\r\n");
    (s, head)
}

/// Reads up to and including the first `\n` (the INFO line), bounded.
fn read_info(c: &mut TcpStream) {
    let mut b = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.read(&mut b) {
            Ok(1) if b[0] == b'\n' => return,
            Ok(1) => {}
            _ => panic!("no INFO line"),
        }
        assert!(Instant::now() < deadline, "INFO line too slow");
    }
}

/// `waves` waves of WAVE clients: all of a wave connect, each sends a
/// random prefix of the script (in up to three writes) and leaves in one of
/// four ways, in shuffled order. A health client round-trips once per wave.
fn storm(s: &Soak, rng: &mut Rng, waves: usize, health: &mut RawConn) {
    let (script, head) = vanish_script();
    for _ in 0..waves {
        let mut conns: Vec<(TcpStream, usize)> = (0..WAVE)
            .map(|_| {
                let c = TcpStream::connect(s.addr())
                    .unwrap_or_else(|e| panic!("[{}] connect: {e}", s.name()));
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                (c, rng.below(4))
            })
            .collect();
        for (c, mode) in conns.iter_mut() {
            // Half the cuts fall in the control lines, half anywhere
            // (mostly inside the 60 kB payload). 0 means: say nothing.
            let cut = if rng.below(2) == 0 {
                rng.below(head)
            } else {
                rng.below(script.len())
            };
            if *mode >= 2 {
                read_info(c);
            }
            let mut at = 0;
            for _ in 0..3 {
                let to = (at + rng.below(cut - at + 1)).min(cut);
                // The server may already have closed a client it found
                // wrong; nothing in the script is wrong, so writes must work.
                c.write_all(&script[at..to])
                    .unwrap_or_else(|e| panic!("[{}] write: {e}", s.name()));
                at = to;
            }
            c.write_all(&script[at..cut])
                .unwrap_or_else(|e| panic!("[{}] write: {e}", s.name()));
        }
        // Leave in shuffled order: 0 and 2 just close (RST when the INFO or
        // messages are unread, else FIN), 1 half-closes first (the server
        // reads EOF mid-frame while it may still write), 3 closes both ways.
        while !conns.is_empty() {
            let (c, mode) = conns.swap_remove(rng.below(conns.len()));
            match mode {
                1 => {
                    let _ = c.shutdown(Shutdown::Write);
                }
                3 => {
                    let _ = c.shutdown(Shutdown::Both);
                }
                _ => {}
            }
            drop(c);
        }
        let t = Instant::now();
        health.send("PUB health 2\r\nok\r\n");
        health.expect("MSG health 1 2\r\nok\r\n");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "[{}] a round trip took {:?} during the storm",
            s.name(),
            t.elapsed()
        );
    }
}

#[test]
fn clients_vanish_mid_frame() {
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "vanish", "");
        let mut rng = Rng(0x7a15_0001);
        let mut health = s.quiet();
        health.send("SUB health 1\r\n");
        health.ping_pong();
        storm(&s, &mut rng, 2, &mut health);
        drop(health);
        s.baseline();

        let stop = AtomicBool::new(false);
        let published = thread::scope(|sc| {
            // Messages flow to the vanishing subscribers all along, so they
            // leave with output queued or in flight.
            let feeder = sc.spawn(|| {
                let mut p = s.quiet();
                let batch = "PUB vanish.all 16\r\n0123456789abcdef\r\n".repeat(10);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    p.send(&batch);
                    n += 10;
                    thread::sleep(Duration::from_millis(4));
                }
                p.ping_pong();
                n
            });
            let mut health = s.quiet();
            health.send("SUB health 1\r\n");
            health.ping_pong();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                storm(&s, &mut rng, WAVES, &mut health)
            }));
            stop.store(true, Ordering::Relaxed);
            let n = join(feeder);
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
            health.ping_pong();
            n
        });
        assert!(published > 0);
        s.check_after(&format!(
            "{} clients vanished mid-frame ({published} messages to them)",
            WAVE * WAVES
        ));
    });
}

/// Sends `sig` (e.g. "STOP") to the server with kill(1).
fn signal(s: &Soak, sig: &str) {
    let pid = s.srv.pid().expect("server pid").to_string();
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid])
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "kill -{sig} failed");
}

/// Found while writing the test above: a burst of connects stalls for a
/// SYN retransmit (1 s, then 3 s...) as soon as more than 128 are waiting
/// to be accepted, because every natsd runtime listens with a backlog of
/// 128 (`ss -ltn` shows it), where nats-server uses the kernel's somaxconn
/// (4096 here). It shows whenever the server is busy during a reconnect
/// storm: with waves of 200 clients, the vanish test above saw 1 s connect
/// stalls (and the kernel's ListenOverflows counter rise) whenever other
/// tests ran alongside, hence its waves of 100. Made deterministic here by
/// stopping the server (SIGSTOP) so that only the kernel completes
/// handshakes. Needs somaxconn >= 1000.
#[test]
fn connect_burst_is_queued_while_server_is_busy() {
    const BURST: usize = 1000;
    for_each_server(|bin| {
        let s = Soak::start(bin, "backlog", "");
        let addr = s.addr().parse().unwrap();
        signal(&s, "STOP");
        let mut conns = Vec::new();
        let mut failed = None;
        for _ in 0..BURST {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(c) => conns.push(c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        signal(&s, "CONT");
        assert!(
            failed.is_none(),
            "[{}] only {} of {BURST} connects completed while the server was busy: {failed:?}",
            s.name(),
            conns.len()
        );
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            read_info(c);
        }
        drop(conns);
        s.wait_counts(0, None);
    });
}

// ---------------------------------------------------------------------------
// 2. A slow consumer next to fast ones.

const SC_MSG: usize = 32 * 1024;
/// 32 MiB to each subscriber: far more than max_pending (1 MiB) plus what
/// the kernel buffers for a socket that is never read (a few MiB).
const SC_MSGS: usize = 1024;
/// Messages per batch: the publisher waits for every fast subscriber to
/// have all of a batch before sending the next, so a fast one never has more
/// than 256 KiB outstanding and cannot be judged slow (batches close to
/// max_pending are `fast_consumer_under_max_pending_is_not_cut`'s job).
const SC_BATCH: usize = 8;
const SC_FAST: usize = 3;

/// Publishes `batches` batches of `batch` messages to `sc`, read by SC_FAST
/// fast subscribers; returns what each got. Each fast one checks it got no
/// extra message.
fn fast_round(s: &Soak, batches: usize, batch: usize) -> Vec<usize> {
    let target = batches * batch;
    let counts: Vec<AtomicUsize> = (0..SC_FAST).map(|_| AtomicUsize::new(0)).collect();
    let mut readers: Vec<Reader> = (0..SC_FAST)
        .map(|i| Reader::connect(s, &format!("fast {i}"), "SUB sc 1\r\n"))
        .collect();
    // To end the readers at once when the round fails.
    let shutters: Vec<TcpStream> = readers.iter().map(|r| r.w.try_clone().unwrap()).collect();
    thread::scope(|sc| {
        let handles: Vec<_> = readers
            .drain(..)
            .zip(&counts)
            .map(|(mut r, count)| {
                sc.spawn(move || {
                    while count.load(Ordering::Relaxed) < target {
                        match r.next() {
                            Frame::Msg { subject, payload }
                                if subject == "sc" && payload.len() == SC_MSG =>
                            {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            f => panic!(
                                "[{}] after {} messages: {f:?}",
                                r.name,
                                count.load(Ordering::Relaxed)
                            ),
                        }
                    }
                    // Every message was published before the last arrived:
                    // anything before this PONG would be a duplicate.
                    r.send("PING\r\n");
                    match r.next() {
                        Frame::Pong => {}
                        f => panic!("[{}] extra frame after {target}: {f:?}", r.name),
                    }
                })
            })
            .collect();
        let mut publisher = s.quiet();
        let frame = {
            let mut f = format!("PUB sc {SC_MSG}\r\n").into_bytes();
            f.extend(std::iter::repeat_n(b'x', SC_MSG));
            f.extend_from_slice(b"\r\n");
            f.repeat(batch)
        };
        'publish: for b in 1..=batches {
            publisher.send(&frame);
            let deadline = Instant::now() + Duration::from_secs(20);
            while counts.iter().any(|c| c.load(Ordering::Relaxed) < b * batch) {
                // A reader that stopped short of the target failed.
                let failed = handles
                    .iter()
                    .zip(&counts)
                    .any(|(h, c)| h.is_finished() && c.load(Ordering::Relaxed) < target);
                if failed || Instant::now() > deadline {
                    // Stop (the join below reports why), and say what the
                    // server thinks of each connection.
                    eprintln!(
                        "[{}] batch {b} of {batches} not received by all; /connz:",
                        s.name()
                    );
                    let v = http_json(s.mon, "/connz?state=all&limit=1000");
                    for c in v["connections"].as_array().into_iter().flatten() {
                        eprintln!(
                            "  cid {} {} out_msgs {} pending {} reason {}",
                            c["cid"], c["name"], c["out_msgs"], c["pending_bytes"], c["reason"]
                        );
                    }
                    for t in &shutters {
                        let _ = t.shutdown(Shutdown::Both);
                    }
                    break 'publish;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        publisher.ping_pong();
        let failures: Vec<String> = handles
            .into_iter()
            .filter_map(|h| h.join().err())
            .map(|e| panic_text(&*e))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
    counts.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

#[test]
fn slow_consumer_is_cut_fast_ones_lose_nothing() {
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "slow", "max_pending: 1MB\nwrite_deadline: \"2s\"\n");
        fast_round(&s, 8, SC_BATCH);
        s.baseline();
        let slow_before = s.varz_u64("slow_consumers");

        // The slow one subscribes (PONG seen: the subscription is in place),
        // then never reads again.
        let mut slow = s.quiet();
        slow.server = format!("{} slow", s.name());
        slow.send("SUB sc 1\r\n");
        slow.ping_pong();

        let counts = fast_round(&s, SC_MSGS / SC_BATCH, SC_BATCH);
        assert_eq!(
            counts,
            vec![SC_MSGS; SC_FAST],
            "[{}] every fast subscriber must get every message",
            s.name()
        );

        // The slow one must have been closed: it reads what was queued for
        // it before the cut (a truncated stream, no -ERR), then EOF.
        let got = slow.read_to_close();
        let total = SC_MSGS * (SC_MSG + 20);
        assert!(
            got.len() < total / 2,
            "[{}] the slow consumer received {} of {total} bytes: it was not cut",
            s.name(),
            got.len()
        );
        assert!(
            got.starts_with(format!("MSG sc 1 {SC_MSG}\r\n").as_bytes()),
            "[{}] the slow consumer's stream starts {:?}",
            s.name(),
            show(&got[..got.len().min(64)])
        );
        assert!(
            !got.windows(5).any(|w| w == b"-ERR "),
            "[{}] a slow consumer is closed without -ERR",
            s.name()
        );
        assert!(
            s.varz_u64("slow_consumers") > slow_before,
            "[{}] /varz slow_consumers did not count the slow consumer",
            s.name()
        );
        drop(slow);
        s.check_after(&format!(
            "slow consumer cut after {} kB, {SC_FAST} fast ones got {SC_MSGS} x {SC_MSG} B",
            got.len() / 1000
        ));
    });
}

/// Subscribers that keep up must not be cut as slow consumers: they never
/// have more than 656 kB outstanding with `max_pending: 1MB` (nats-server
/// 2.14 passes).
///
/// Found by the test above on all three runtimes: `Outbox` counted pending
/// as queued + in flight, and a writer reports `Outbox::written(n)` only
/// after `write()` returns. On loopback the peer can receive (and act on)
/// the bytes of a write before that: the subscriber reads the whole batch,
/// the publisher sends the next one, and the append on another thread still
/// saw the previous batch in flight (seen: 655720 bytes in flight, exactly
/// one batch, plus 393432 queued), so a subscriber was only safe below about
/// max_pending / 2; natsd-async-std, whose writer task reports after each
/// write, failed about every other run. Now bytes a writer holds count only
/// once it has found the socket full (`Outbox::write_blocked`), which is
/// when they really wait for the peer.
#[test]
fn fast_consumer_under_max_pending_is_not_cut() {
    for_each_server(|bin| {
        let s = Soak::start(bin, "fast-only", "max_pending: 1MB\n");
        // 20 x 32 KiB = 656 kB per batch, all read before the next is sent.
        let counts = fast_round(&s, 64, 20);
        assert_eq!(counts, vec![64 * 20; SC_FAST], "[{}]", s.name());
    });
}

// ---------------------------------------------------------------------------
// 3. Clients sending one byte at a time.

/// Dribbling clients (each its own connection).
const DRIBBLERS: usize = 4;
/// Pause between two bytes: the issue's "1 byte per second" scaled down so
/// a 27-byte frame takes about 4 s.
const DRIBBLE_STEP: Duration = Duration::from_millis(150);

fn dribble_frame(k: usize) -> String {
    format!("PUB drip.{k} 5\r\nhi {k:02}\r\nPING\r\n")
}

/// Worker round trips while `done` is unset; returns (count, slowest).
fn worker(s: &Soak, w: usize, done: &AtomicBool) -> (usize, Duration) {
    let mut c = s.quiet();
    c.send(format!("SUB work.{w} 1\r\n"));
    c.ping_pong();
    let (mut n, mut slowest) = (0, Duration::ZERO);
    loop {
        let t = Instant::now();
        c.send(format!("PUB work.{w} 4\r\n{n:04}\r\n"));
        c.expect(format!("MSG work.{w} 1 4\r\n{n:04}\r\n"));
        slowest = slowest.max(t.elapsed());
        n += 1;
        if done.load(Ordering::Relaxed) {
            return (n, slowest);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn one_byte_at_a_time() {
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "dribble", "");
        {
            let done = AtomicBool::new(true);
            worker(&s, 0, &done);
        }
        s.baseline();

        let mut rx = s.quiet();
        rx.send("SUB drip.* 1\r\n");
        rx.ping_pong();
        let frames: Vec<Vec<u8>> = (0..DRIBBLERS)
            .map(|k| dribble_frame(k).into_bytes())
            .collect();
        let mut drips: Vec<RawConn> = (0..DRIBBLERS).map(|_| s.quiet()).collect();
        let done = AtomicBool::new(false);
        let results = thread::scope(|sc| {
            let workers: Vec<_> = (0..3)
                .map(|w| {
                    sc.spawn({
                        let (s, done) = (&s, &done);
                        move || worker(s, w, done)
                    })
                })
                .collect();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let len = frames[0].len();
                for i in 0..len {
                    for (d, f) in drips.iter_mut().zip(&frames) {
                        d.send([f[i]]);
                    }
                    if i + 1 < len {
                        thread::sleep(DRIBBLE_STEP);
                    }
                }
            }));
            done.store(true, Ordering::Relaxed);
            let results: Vec<_> = workers.into_iter().map(join).collect();
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
            results
        });
        for d in drips.iter_mut() {
            d.expect("PONG\r\n");
        }
        let mut got = BTreeSet::new();
        for _ in 0..DRIBBLERS {
            let l = rx.read_line_skip_ping();
            let l = String::from_utf8_lossy(&l).into_owned();
            let p = rx.read_line();
            got.insert(format!("{l}{}", String::from_utf8_lossy(&p)));
        }
        let want: BTreeSet<String> = (0..DRIBBLERS)
            .map(|k| format!("MSG drip.{k} 1 5\r\nhi {k:02}\r\n"))
            .collect();
        assert_eq!(got, want, "[{}] dribbled messages", s.name());
        rx.ping_pong();
        for (w, (n, slowest)) in results.iter().enumerate() {
            // ~4 s of round trips with 5 ms pauses: hundreds when nothing
            // stalls; 20 is far below that and still catches a server whose
            // loop waits for the dribbler's next byte.
            assert!(
                *n >= 20 && *slowest < Duration::from_secs(1),
                "[{}] worker {w}: {n} round trips, slowest {slowest:?}, while clients dribbled",
                s.name()
            );
        }
        drop((rx, drips));
        s.check_after(&format!(
            "{DRIBBLERS} clients dribbling 1 byte per {DRIBBLE_STEP:?}, workers did {:?} round trips",
            results.iter().map(|r| r.0).collect::<Vec<_>>()
        ));
    });
}

// ---------------------------------------------------------------------------
// 4. Oversized frames.

const MAX_PAYLOAD: usize = 1024 * 1024;

fn oversized_round(s: &Soak) {
    let name = s.name();
    // PUB over max_payload: -ERR and close; the payload the client goes on
    // sending is not waited for.
    let mut c = s.quiet();
    c.server = format!("{name} PUB over max_payload");
    c.send(format!("PUB big {}\r\n", MAX_PAYLOAD + 1));
    c.expect("-ERR 'Maximum Payload Violation'\r\n");
    let _ = c.try_send(vec![b'x'; 64 * 1024]);
    c.expect_closed();

    let mut c = s.srv.raw();
    c.server = format!("{name} HPUB over max_payload");
    c.send("CONNECT {\"verbose\":false,\"headers\":true}\r\n");
    c.ping_pong();
    c.send(format!("HPUB big 12 {}\r\n", MAX_PAYLOAD + 1));
    c.expect_then_closed("-ERR 'Maximum Payload Violation'\r\n");

    // A 5000-byte control line that never ends, and a 1 MiB one in one write.
    for len in [5000, MAX_PAYLOAD] {
        let mut c = s.quiet();
        c.server = format!("{name} {len}-byte control line");
        let _ = c.try_send(format!("SUB {}", "a".repeat(len)));
        c.expect_then_closed("-ERR 'maximum control line exceeded'\r\n");
    }

    // Half of an exactly-max payload, then gone (8 clients at once).
    let half = vec![b'h'; MAX_PAYLOAD / 2];
    let partial: Vec<RawConn> = (0..8)
        .map(|_| {
            let mut c = s.quiet();
            c.send(format!("PUB big {MAX_PAYLOAD}\r\n"));
            c.send(&half);
            c
        })
        .collect();
    drop(partial);

    // The limit itself passes.
    let mut sub = s.quiet();
    sub.send("SUB big 1\r\n");
    sub.ping_pong();
    let mut p = s.quiet();
    let payload: Vec<u8> = (0..MAX_PAYLOAD).map(|i| b'a' + (i % 26) as u8).collect();
    let mut frame = format!("PUB big {MAX_PAYLOAD}\r\n").into_bytes();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    p.send(&frame);
    p.ping_pong();
    let mut want = format!("MSG big 1 {MAX_PAYLOAD}\r\n").into_bytes();
    want.extend_from_slice(&payload);
    want.extend_from_slice(b"\r\n");
    sub.expect(&want);
}

#[test]
fn oversized_frames() {
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "oversized", "");
        oversized_round(&s);
        s.baseline();
        const ROUNDS: usize = 10;
        for _ in 0..ROUNDS {
            oversized_round(&s);
        }
        s.check_after(&format!("{ROUNDS} rounds of oversized frames"));
    });
}

// ---------------------------------------------------------------------------
// 5. Random garbage.

/// Pieces of protocol the token soup is made of. Numbers are padded with
/// spaces so that no run of them can declare a payload the garbage never
/// sends (which would leave the connection waiting, legitimately).
const TOKENS: &[&str] = &[
    "PUB",
    "pub",
    "HPUB",
    "SUB",
    "UNSUB",
    "PING",
    "PONG",
    "CONNECT",
    "INFO",
    "MSG",
    "HMSG",
    "+OK",
    "-ERR",
    "RS+",
    "LS+",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "foo",
    "foo.bar",
    "*",
    ">",
    "q",
    "_INBOX.x",
    "{",
    "}",
    "\"",
    ":",
    ",",
    "\"verbose\"",
    "true",
    "false",
    "\"headers\"",
    "\"protocol\"",
    " 1 ",
    " 12 ",
    " 0 ",
    " -1 ",
    " 999999999 ",
    "NATS/1.0\r\n",
    "\r\n\r\n",
    "\u{0}",
    "\u{ff}",
];

/// Appended to every garbage input: whatever state the parser is in (an op
/// name, a control line, a PING tail, a payload of at most 32 bytes), this
/// ends it and then hits a NUL at the start of an op, which closes the
/// connection with 'Unknown Protocol Operation'.
const GARBAGE_TAIL: &[u8] = b"\r\n\
    \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\
    \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\r\n";

/// One garbage input: (bytes, whether the first byte makes the exact
/// answer `-ERR 'Unknown Protocol Operation'` certain).
fn garbage(rng: &mut Rng) -> (Vec<u8>, bool) {
    let mut g = match rng.below(3) {
        0 => {
            let n = 1 + rng.below(2048);
            rng.bytes(n)
        }
        1 => {
            let mut g = Vec::new();
            for _ in 0..1 + rng.below(40) {
                if rng.below(10) == 0 {
                    let n = 1 + rng.below(8);
                    g.extend(rng.bytes(n));
                } else {
                    g.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
                }
            }
            g
        }
        _ => {
            // A valid frame sequence with a few bytes changed, dropped or
            // inserted (no digits inserted: sizes stay small).
            let (script, head) = vanish_script();
            let mut g = script[..head].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(g.len());
                let mut b = rng.next() as u8;
                if b.is_ascii_digit() {
                    b = b'#';
                }
                match rng.below(3) {
                    0 => g[at] = b,
                    1 => {
                        g.remove(at);
                    }
                    _ => g.insert(at, b),
                }
            }
            g
        }
    };
    let first = g[0];
    let certain = !first.is_ascii_alphabetic() && !b"+-\r\n \t".contains(&first);
    g.extend_from_slice(GARBAGE_TAIL);
    (g, certain)
}

/// Every -ERR text a client may see (§11 of the client protocol spec).
const ERR_TEXTS: &[&str] = &[
    "Unknown Protocol Operation",
    "maximum control line exceeded",
    "Maximum Payload Violation",
    "Authorization Violation",
    "invalid client protocol",
    "no responders requires headers support",
    "Invalid Subject",
    "Invalid Publish Subject",
    "maximum subscriptions exceeded",
    "Permissions Violation",
];

/// Checks that `out` is a sequence of well-formed server frames.
fn well_formed(out: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while i < out.len() {
        let nl = out[i..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("unterminated {:?}", show(&out[i..])))?;
        let line = &out[i..=i + nl];
        i += nl + 1;
        if matches!(line, b"+OK\r\n" | b"PING\r\n" | b"PONG\r\n") || line.starts_with(b"INFO {") {
            continue;
        }
        if let Some(text) = line
            .strip_prefix(b"-ERR '")
            .and_then(|t| t.strip_suffix(b"'\r\n"))
        {
            let text = String::from_utf8_lossy(text);
            if ERR_TEXTS.iter().any(|e| text.starts_with(e)) {
                continue;
            }
            return Err(format!("unknown error {text:?}"));
        }
        if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
            let text = String::from_utf8_lossy(line);
            let size: usize = text
                .split_whitespace()
                .last()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad frame line {text:?}"))?;
            if out.len() < i + size + 2 || &out[i + size..i + size + 2] != b"\r\n" {
                return Err(format!("bad payload after {text:?}"));
            }
            i += size + 2;
            continue;
        }
        return Err(format!("unexpected line {:?}", show(line)));
    }
    Ok(())
}

/// Sends `count` garbage inputs from `seed`, each on a fresh connection;
/// returns the failures.
fn garbage_run(s: &Soak, seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    for n in 0..count {
        let (g, certain) = garbage(&mut rng);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut c = s.srv.raw();
            c.server = format!("{} garbage {seed:#x}/{n}", s.name());
            let mut at = 0;
            for _ in 0..2 {
                let to = at + rng.below(g.len() - at + 1);
                let _ = c.try_send(&g[at..to]);
                at = to;
            }
            let _ = c.try_send(&g[at..]);
            // Bounded (5 s): panics if the server does not close.
            let out = c.read_to_close();
            if certain && out != b"-ERR 'Unknown Protocol Operation'\r\n" {
                return Err(format!("got {:?}", show(&out)));
            }
            well_formed(&out)
        }));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{seed:#x}/{n} {:?}: {e}", show(&g))),
            Err(e) => failures.push(format!("{seed:#x}/{n} {:?}: {}", show(&g), panic_text(&*e))),
        }
    }
    failures
}

#[test]
fn random_garbage() {
    /// Connections per thread and threads: 1500 garbage inputs.
    const PER_THREAD: usize = 375;
    const THREADS: u64 = 4;
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "garbage", "");
        let warm = garbage_run(&s, 0x6a7b_0000, 100);
        assert!(
            warm.is_empty(),
            "[{}] warm-up: {}",
            s.name(),
            warm[..warm.len().min(5)].join("\n")
        );
        s.baseline();
        let failures: Vec<String> = thread::scope(|sc| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let s = &s;
                    sc.spawn(move || garbage_run(s, 0x6a7b_0001 + t, PER_THREAD))
                })
                .collect();
            hs.into_iter().flat_map(join).collect()
        });
        assert!(
            failures.is_empty(),
            "[{}] {} garbage connection(s) not closed cleanly, e.g.:\n{}",
            s.name(),
            failures.len(),
            failures[..failures.len().min(5)].join("\n")
        );
        s.check_after(&format!(
            "{} connections of random garbage",
            PER_THREAD * THREADS as usize
        ));
    });
}

// ---------------------------------------------------------------------------
// 6. A burst of 100k messages with a subscriber that reconnects.

const BURST_BATCH: u64 = 500;

/// Publishes `total` numbered messages in paced batches to `burst`, read by
/// a steady subscriber and by one that drops its connection (with unread
/// data: RST) once `cuts[k]` messages are out and subscribes anew.
/// Returns what the reconnecting one received in all.
fn burst(s: &Soak, total: u64, cuts: &[u64], pace: Duration) -> u64 {
    let sent = AtomicU64::new(0);
    let incarnations = AtomicUsize::new(0);
    let steady = Reader::connect(s, "steady", "SUB burst 1\r\n");
    thread::scope(|sc| {
        let steady = sc.spawn(move || {
            let mut r = steady;
            for want in 1..=total {
                match r.next() {
                    Frame::Msg { payload, .. } if payload == format!("{want:08}").as_bytes() => {}
                    f => panic!("[{}] wanted message {want}, got {f:?}", r.name),
                }
            }
        });
        let (sent, incarnations) = (&sent, &incarnations);
        let flappy = sc.spawn(move || {
            let mut received = 0;
            for k in 0..=cuts.len() {
                let mut r = Reader::connect(s, &format!("reconnecting #{k}"), "SUB burst 1\r\n");
                // Messages sent after this were processed after the SUB.
                let at_sub = sent.load(Ordering::SeqCst);
                incarnations.store(k + 1, Ordering::SeqCst);
                let mut expect: Option<u64> = None;
                loop {
                    if k < cuts.len() && sent.load(Ordering::SeqCst) >= cuts[k] {
                        break; // drop with whatever is unread
                    }
                    let seq: u64 = match r.next() {
                        Frame::Msg { payload, .. } => String::from_utf8_lossy(&payload)
                            .parse()
                            .unwrap_or_else(|_| panic!("[{}] payload {payload:?}", r.name)),
                        f => panic!("[{}] got {f:?}", r.name),
                    };
                    match expect {
                        None => assert!(
                            seq <= at_sub + BURST_BATCH + 1,
                            "[{}] first message {seq}, but {at_sub} were out at SUB time",
                            r.name
                        ),
                        Some(e) => assert_eq!(seq, e, "[{}] gap or reordering", r.name),
                    }
                    expect = Some(seq + 1);
                    received += 1;
                    if seq == total {
                        assert_eq!(k, cuts.len(), "[{}] saw the end early", r.name);
                        break;
                    }
                }
            }
            received
        });

        let mut p = s.quiet();
        let wait = |what: &str, cond: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !cond() {
                assert!(
                    Instant::now() < deadline,
                    "[{}] publisher: waited 10 s for {what}",
                    s.name()
                );
                thread::sleep(Duration::from_millis(1));
            }
        };
        wait("the first subscription", &|| {
            incarnations.load(Ordering::SeqCst) >= 1 || flappy.is_finished()
        });
        let mut n = 0;
        while n < total {
            // Leave every new subscription at least 10% of the burst.
            for (k, &cut) in cuts.iter().enumerate() {
                if n >= cut + total / 10 {
                    wait("a resubscription", &|| {
                        incarnations.load(Ordering::SeqCst) >= k + 2 || flappy.is_finished()
                    });
                }
            }
            let mut batch = String::new();
            for i in n + 1..=(n + BURST_BATCH).min(total) {
                batch.push_str(&format!("PUB burst 8\r\n{i:08}\r\n"));
            }
            p.send(batch);
            n = (n + BURST_BATCH).min(total);
            sent.store(n, Ordering::SeqCst);
            thread::sleep(pace);
        }
        p.ping_pong();
        join(steady);
        join(flappy)
    })
}

#[test]
fn burst_with_reconnecting_subscriber() {
    const TOTAL: u64 = 100_000;
    for_each_server(|bin| {
        let mut s = Soak::start(bin, "burst", "");
        burst(&s, 10_000, &[5_000], Duration::from_millis(5));
        s.baseline();
        // 200 batches, 15 ms apart: about 3 s, so that the reconnects land
        // mid-burst rather than after it.
        let got = burst(
            &s,
            TOTAL,
            &[25_000, 50_000, 75_000],
            Duration::from_millis(15),
        );
        s.check_after(&format!(
            "{TOTAL} messages, reconnecting subscriber got {got}"
        ));
    });
}
