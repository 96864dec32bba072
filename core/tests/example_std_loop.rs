//! Runs `examples/std_loop.rs` as a real process on a free 127.0.0.1 port
//! and talks NATS to it over TCP: two clients, SUB / PUB / PING, and the
//! MSG must arrive. Bounded in time: every socket read has a timeout, the
//! example is started with `--exit-after-secs`, and the process is killed
//! when the test ends, however it ends.

// Host-side test: real sockets, processes and clocks.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the example when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example binary: `cargo test` builds examples next to the test
/// binaries (`target/<profile>/examples/`). When only this test was built
/// (`cargo test --test example_std_loop`), build it with the cargo that
/// runs us, into a target directory of its own so as not to wait on the
/// lock held by that cargo.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let name = format!("std_loop{}", std::env::consts::EXE_SUFFIX);
    let built = profile_dir.join("examples").join(&name);
    if built.exists() {
        return built;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = profile_dir.join("std-loop-example");
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "natsd-core",
            "--example",
            "std_loop",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build --example std_loop");
    assert!(status.success(), "building the std_loop example failed");
    let path = target.join("debug").join("examples").join(&name);
    assert!(path.exists(), "no example binary at {}", path.display());
    path
}

/// Reads from `s` until `want` has appeared, or panics after the socket's
/// read timeout.
fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !got.windows(want.len()).any(|w| w == want) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {:?}; have {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(got)
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("server closed; have {:?}", String::from_utf8_lossy(got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}; have {:?}", String::from_utf8_lossy(got)),
        }
    }
}

fn client(addr: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to std_loop");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, b"\r\n");
    assert!(
        got.starts_with(b"INFO {"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        got.ends_with(b"} \r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    got.clear();
    (s, got)
}

#[test]
fn std_loop_example_serves_nats() {
    let bin = example_binary();
    let child = Command::new(&bin)
        .args(["--port", "0", "--exit-after-secs", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start std_loop");
    let mut child = Running(child);

    // First line: "listening on 127.0.0.1:PORT".
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("std_loop printed no address within 20 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let (mut sub, mut sub_got) = client(&addr);
    sub.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB greet.* 1\r\nPING\r\n")
        .unwrap();
    read_until(&mut sub, &mut sub_got, b"PONG\r\n");
    assert_eq!(sub_got, b"PONG\r\n");
    sub_got.clear();

    let (mut publ, mut pub_got) = client(&addr);
    // Split mid-frame across two writes, with a pause, to cross reads.
    publ.write_all(b"CONNECT {\"verbose\":false}\r\nPUB greet.joe rep")
        .unwrap();
    publ.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    publ.write_all(b"ly.1 5\r\nhello\r\nPING\r\n").unwrap();
    read_until(&mut publ, &mut pub_got, b"PONG\r\n");
    assert_eq!(pub_got, b"PONG\r\n", "the publisher gets only its PONG");

    read_until(&mut sub, &mut sub_got, b"hello\r\n");
    assert_eq!(
        String::from_utf8_lossy(&sub_got),
        "MSG greet.joe 1 reply.1 5\r\nhello\r\n"
    );

    // A bulk of pipelined messages arrives complete and in order.
    let mut bulk = Vec::new();
    for i in 0..500 {
        bulk.extend_from_slice(format!("PUB greet.n 4\r\n{i:04}\r\n").as_bytes());
    }
    bulk.extend_from_slice(b"PING\r\n");
    publ.write_all(&bulk).unwrap();
    pub_got.clear();
    read_until(&mut publ, &mut pub_got, b"PONG\r\n");
    sub_got.clear();
    read_until(&mut sub, &mut sub_got, b"0499\r\n");
    let expect: String = (0..500)
        .map(|i| format!("MSG greet.n 1 4\r\n{i:04}\r\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&sub_got), expect);

    // A protocol error closes the connection after its -ERR.
    let (mut bad, mut bad_got) = client(&addr);
    bad.write_all(b"FOO\r\n").unwrap();
    read_until(&mut bad, &mut bad_got, b"\r\n");
    assert_eq!(bad_got, b"-ERR 'Unknown Protocol Operation'\r\n");
    let mut rest = Vec::new();
    let n = bad.read_to_end(&mut rest).expect("EOF after -ERR");
    assert_eq!(n, 0, "nothing after the -ERR");

    assert!(
        child.0.try_wait().unwrap().is_none(),
        "std_loop must still be running"
    );
}
