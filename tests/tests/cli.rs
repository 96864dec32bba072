//! Command-line behaviour of the server binaries.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use natsd_tests::{for_each_server, ServerBin, ServerProcess};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` (bounded to 10 s) and captures its output.
fn run(bin: &ServerBin, args: &[&str]) -> Run {
    let mut child = Command::new(&bin.path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("[{bin}] spawn: {e}"));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("[{bin}] {args:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn help_exits_zero_with_usage() {
    for_each_server(|bin| {
        for flag in ["-h", "--help"] {
            let r = run(bin, &[flag]);
            assert_eq!(
                r.code,
                Some(0),
                "[{bin}] {flag} exit code; stderr: {}",
                r.stderr
            );
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(all.contains("Usage:"), "[{bin}] {flag} prints usage: {all}");
            assert!(
                all.contains("--port"),
                "[{bin}] {flag} usage lists --port: {all}"
            );
        }
    });
}

#[test]
fn version_exits_zero() {
    for_each_server(|bin| {
        for flag in ["-v", "--version"] {
            let r = run(bin, &[flag]);
            assert_eq!(
                r.code,
                Some(0),
                "[{bin}] {flag} exit code; stderr: {}",
                r.stderr
            );
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(
                all.contains('v') && all.chars().any(|c| c.is_ascii_digit()),
                "[{bin}] {flag} prints a version: {all:?}"
            );
        }
    });
}

#[test]
fn unknown_flag() {
    for_each_server(|bin| {
        let r = run(bin, &["--bogus"]);
        assert!(
            r.stderr.contains("flag provided but not defined: -bogus"),
            "[{bin}] --bogus stderr: {:?}",
            r.stderr
        );
        // nats-server prints the error and exits 0; natsd exits 1.
        if !bin.is_nats_server() {
            assert_eq!(r.code, Some(1), "[{bin}] --bogus exit code");
        }
        let r = run(bin, &["-p", "notaport"]);
        assert_ne!(r.code, None, "[{bin}] -p notaport must exit");
        assert!(
            !r.stderr.is_empty(),
            "[{bin}] -p notaport explains: {r:?}",
            r = (r.code, &r.stdout)
        );
    });
}

/// `-n NAME` sets INFO server_name; the server logs "Server is ready" on stderr.
#[test]
fn server_name_and_ready_line() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &["-n", "black-box"]);
        let c = srv.raw();
        assert_eq!(
            c.info()["server_name"],
            "black-box",
            "[{bin}] INFO: {}",
            c.info()
        );
        let err = srv.stderr();
        assert!(err.contains("Server is ready"), "[{bin}] stderr: {err}");
        assert!(
            err.contains(&format!("127.0.0.1:{}", srv.port())),
            "[{bin}] listen address in the log: {err}"
        );
        let srv = ServerProcess::start(bin, &["--name=other"]);
        assert_eq!(
            srv.raw().info()["server_name"],
            "other",
            "[{bin}] --name=other"
        );
    });
}

/// The logging flags are accepted; -DV traces protocol lines.
#[test]
fn logging_flags() {
    for_each_server(|bin| {
        for flags in [&["-D"][..], &["-V"], &["-T"], &["-D", "-V", "-T=false"]] {
            let srv = ServerProcess::start(bin, flags);
            let mut c = srv.raw();
            c.ping_pong();
        }
        let srv = ServerProcess::start(bin, &["-DV"]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":false}\r\nSUB traced.subject 1\r\n");
        c.ping_pong();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let err = srv.stderr();
            if err.contains("<<- [SUB traced.subject 1]")
                && err.contains("[TRC]")
                && err.contains("[DBG]")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{bin}] -DV trace lines missing; stderr:\n{err}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}
