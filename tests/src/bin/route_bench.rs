//! `route_bench`: publish on node A, subscribe on node B of a two-node
//! cluster, for server A (natsd) against server B (nats-server) side by
//! side, in the style of `shared/bench/compare.sh`: rounds alternate A, B,
//! each on a fresh cluster, and the table gives the medians and the median
//! of per-round ratios.
//!
//! ```text
//! cargo run --release -p natsd-tests --bin route_bench -- \
//!     A_BINARY B_BINARY [--rounds 5] [--n 2000000] [--size 16]
//! ```
//!
//! The publisher pipelines `PUB bench.ab <size>` frames to node A with at
//! most `window` messages in flight (published, not yet received on B);
//! the subscriber on node B counts whole `MSG` frames. The rate is
//! messages received per second from the first publish to the last
//! delivery.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_tests::{free_port, ServerBin, ServerProcess};

const SUBJECT: &str = "bench.ab";

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bin(path: &str) -> ServerBin {
    ServerBin {
        path: path.into(),
        name: std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned()),
    }
}

/// A two-node cluster of `b`: node A listens for routes, node B dials it.
fn cluster(b: &ServerBin) -> (ServerProcess, ServerProcess) {
    let route = free_port();
    let a = ServerProcess::start(
        b,
        &[
            "--cluster",
            &format!("nats://127.0.0.1:{route}"),
            "--cluster_name",
            "bench",
        ],
    );
    let route_b = free_port();
    let node_b = ServerProcess::start(
        b,
        &[
            "--cluster",
            &format!("nats://127.0.0.1:{route_b}"),
            "--cluster_name",
            "bench",
            "--routes",
            &format!("nats://127.0.0.1:{route}"),
        ],
    );
    (a, node_b)
}

fn connect(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(6).any(|w| w == b"PONG\r\n") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed during CONNECT");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

/// One round on a fresh cluster: messages per second A → B.
fn round(b: &ServerBin, n: u64, size: usize) -> f64 {
    let (node_a, node_b) = cluster(b);
    let mut sub = connect(node_b.port());
    sub.write_all(format!("SUB {SUBJECT} 1\r\nSUB probe 2\r\nPING\r\n").as_bytes())
        .unwrap();
    let mut publisher = connect(node_a.port());
    // Interest reaches A once the route is up: probe until B sees one.
    let deadline = Instant::now() + Duration::from_secs(20);
    sub.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        publisher.write_all(b"PUB probe 1\r\np\r\n").unwrap();
        if let Ok(k) = sub.read(&mut buf) {
            seen.extend_from_slice(&buf[..k]);
        }
        if seen.windows(9).any(|w| w == b"MSG probe") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{b}] the route never carried interest"
        );
    }
    // Let late probe copies arrive, then count only bench frames.
    std::thread::sleep(Duration::from_millis(300));
    sub.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while sub.read(&mut buf).is_ok_and(|k| k > 0) {}
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    let frame_len = format!("MSG {SUBJECT} 1 {size}\r\n").len() + size + 2;
    let received = Arc::new(AtomicU64::new(0));
    let counter = {
        let received = received.clone();
        let mut sub = sub.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut bytes = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            let want = n * frame_len as u64;
            while bytes < want {
                match sub.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        // Answer the server's keep-alive PINGs, rare here.
                        if buf[..k].windows(6).any(|w| w == b"PING\r\n") {
                            let _ = sub.write_all(b"PONG\r\n");
                            bytes -= 6;
                        }
                        bytes += k as u64;
                        received.store(bytes / frame_len as u64, Ordering::Relaxed);
                    }
                }
            }
            Instant::now()
        })
    };
    let mut frame = format!("PUB {SUBJECT} {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', size));
    frame.extend_from_slice(b"\r\n");
    let per_batch = (64 * 1024 / frame.len()).max(1) as u64;
    let batch: Vec<u8> = frame.repeat(per_batch as usize);
    let window = (8 << 20) / frame.len() as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < n {
        while sent - received.load(Ordering::Relaxed) > window {
            std::thread::yield_now();
        }
        let k = per_batch.min(n - sent);
        publisher
            .write_all(&batch[..k as usize * frame.len()])
            .unwrap();
        sent += k;
    }
    let end = counter.join().unwrap();
    let got = received.load(Ordering::Relaxed);
    assert_eq!(got, n, "[{b}] lost messages: {got} of {n}");
    drop((node_a, node_b));
    n as f64 / end.duration_since(start).as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn human(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.1}k", r / 1e3)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths: Vec<&String> = args.iter().take_while(|a| !a.starts_with("--")).collect();
    let [a, b] = paths.as_slice() else {
        eprintln!("usage: route_bench A_BINARY B_BINARY [--rounds 5] [--n 2000000] [--size 16]");
        std::process::exit(2);
    };
    let (a, b) = (bin(a), bin(b));
    let rounds = arg(&args, "--rounds", 5) as usize;
    let n = arg(&args, "--n", 2_000_000);
    let size = arg(&args, "--size", 16) as usize;
    let (mut ra, mut rb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let x = round(&a, n, size);
        let y = round(&b, n, size);
        eprintln!(
            "round {}: {a} {} msgs/s, {b} {} msgs/s",
            r + 1,
            human(x),
            human(y)
        );
        ra.push(x);
        rb.push(y);
        ratios.push(x / y);
    }
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    println!("SCENARIO        METRIC  BETTER  A median  B median  A/B median  A/B range  rounds");
    println!(
        "route-pubsub    msgs/s  higher  {:<8}  {:<8}  {:<10.3}  {:.2}-{:.2}  {rounds}",
        human(median(&mut ra)),
        human(median(&mut rb)),
        median(&mut ratios),
        lo,
        hi
    );
    println!(
        "A = {}, B = {}; {n} messages of {size} B from node A to node B",
        a.path.display(),
        b.path.display()
    );
}
