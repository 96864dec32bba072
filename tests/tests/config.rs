//! Configuration files, `-t`, the files a server writes (pid, ports, log)
//! and `--signal`, over every server binary (also runs against a real
//! nats-server with `NATSD_TEST_SERVERS`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use natsd_tests::{for_each_server, free_port, ServerBin, ServerProcess};

/// Values for the environment variables the Helm configs refer to.
const HELM_ENV: &[(&str, &str)] = &[
    ("SERVER_NAME", "nats-0"),
    ("SYS_PASSWORD", "sys-pw"),
    ("TOKEN", "s3cr3t"),
    ("APP_PASSWORD", "app-pw"),
];

struct Run {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

/// Runs the binary to completion (bounded to 10 s).
fn run(bin: &ServerBin, args: &[&str], env: &[(&str, &str)]) -> Run {
    let child = Command::new(&bin.path)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("[{bin}] spawn: {e}"));
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("[{bin}] {args:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap().unwrap();
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "natsd-config-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn helm_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/helm");
    d.is_dir().then_some(d)
}

/// `-t -c` on every Helm rendering: valid, or refused naming a key that
/// the file (or a file it includes) really contains.
#[test]
fn helm_configs_pass_check_or_name_the_refused_key() {
    let Some(root) = helm_dir() else {
        eprintln!("no Helm data; skipped");
        return;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("nats.conf").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 12, "{dirs:?}");
    for_each_server(|bin| {
        let mut valid = Vec::new();
        for dir in &dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let conf = dir.join("nats.conf").display().to_string();
            let r = run(bin, &["-t", "-c", &conf], HELM_ENV);
            if r.code == Some(0) {
                assert!(
                    r.stderr.starts_with(&format!(
                        "{}: configuration file {conf} is valid (sha256:",
                        bin.name
                    )),
                    "[{bin}] {name}: {}",
                    r.stderr
                );
                valid.push(name);
                continue;
            }
            // The TLS renderings need certificate files nats-server loads.
            if bin.is_nats_server() && r.stderr.contains("error parsing X509 certificate/key pair")
            {
                continue;
            }
            assert_eq!(r.code, Some(1), "[{bin}] {name}: {}", r.stderr);
            let key = r
                .stderr
                .split("not supported yet: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| {
                    panic!("[{bin}] {name} refused without naming a key: {}", r.stderr)
                });
            let texts: String = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect();
            // A nested key (`cluster.tls`) is named by its path.
            let leaf = key.rsplit('.').next().unwrap_or(key);
            assert!(
                texts.contains(leaf),
                "[{bin}] {name}: refused key {key:?} is not in the file: {}",
                r.stderr
            );
        }
        for must in ["01-default", "02-cluster", "12-token-units"] {
            assert!(
                valid.iter().any(|v| v == must),
                "[{bin}] {must} must pass -t; valid: {valid:?}"
            );
        }
    });
}

/// A copy of a Helm rendering (and its include files) whose ports and pid
/// file point at free ports and a scratch directory.
fn helm_copy(name: &str, dir: &Path) -> Option<(String, u16)> {
    let src = helm_dir()?.join(name);
    let http = free_port();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_none_or(|x| x != "conf") {
            continue;
        }
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replace("\"port\": 4222", &format!("\"port\": {}", free_port()))
            .replace(
                "\"http_port\": 8222",
                &format!("\"http_port\": {http},\n  \"http\": \"127.0.0.1:{http}\""),
            )
            .replace(
                "/var/run/nats/nats.pid",
                &dir.join("nats.pid").display().to_string(),
            );
        std::fs::write(dir.join(f.file_name().unwrap()), text).unwrap();
    }
    Some((dir.join("nats.conf").display().to_string(), http))
}

/// The single-server Helm renderings natsd accepts start and serve clients
/// with the values the chart sets.
#[test]
fn helm_single_server_configs_serve_clients() {
    if helm_dir().is_none() {
        return;
    }
    for_each_server(|bin| {
        // 01-default: server name from $SERVER_NAME, pid file, monitoring.
        let dir = scratch("helm01");
        let (conf, http) = helm_copy("01-default", &dir).unwrap();
        let mut srv = ServerProcess::start_with_env(bin, &["-c", &conf], HELM_ENV);
        let mut c = srv.raw();
        assert_eq!(c.info()["server_name"], "nats-0", "[{bin}] {}", c.info());
        c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        c.expect("PONG\r\n");
        let pid = std::fs::read_to_string(dir.join("nats.pid")).unwrap();
        assert_eq!(
            pid,
            srv.pid().unwrap().to_string(),
            "[{bin}] pid file: decimal pid, no newline"
        );
        let err = srv.stderr();
        assert!(
            err.contains(&format!("Using configuration file: {conf} (sha256:")),
            "[{bin}] {err}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", http)).is_ok(),
            "[{bin}] monitoring port {http}"
        );
        srv.kill();

        // 12-token-units: token from $TOKEN, unquoted 2MB.
        let dir = scratch("helm12");
        let (conf, _) = helm_copy("12-token-units", &dir).unwrap();
        let srv = ServerProcess::start_with_env(bin, &["-c", &conf], HELM_ENV);
        let mut c = srv.raw();
        let info = c.info();
        assert_eq!(
            (
                info["auth_required"].as_bool(),
                info["max_payload"].as_u64()
            ),
            (Some(true), Some(2 << 20)),
            "[{bin}] {info}"
        );
        c.send("CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\nPING\r\n");
        c.expect("PONG\r\n");
        let mut bad = srv.raw();
        bad.send("CONNECT {\"verbose\":false,\"auth_token\":\"wrong\"}\r\nPING\r\n");
        bad.expect_then_closed("-ERR 'Authorization Violation'\r\n");
    });
}

/// `-t` results and texts (errors on line 2 so that columns agree with
/// nats-server, which counts from 0 on line 1).
#[test]
fn check_mode() {
    for_each_server(|bin| {
        let dir = scratch("check");
        let name = &bin.name;
        let ok = write(&dir, "ok.conf", "port: 4222\n");
        let r = run(bin, &["-t", "-c", &ok], &[]);
        assert_eq!(r.code, Some(0), "[{bin}] {}", r.stderr);
        assert_eq!(
            r.stderr,
            format!(
                "{name}: configuration file {ok} is valid \
                 (sha256:797533ebd0dfba7d34a0f9337ecf147e442871f48ddfd07ed751575a5737267e)\n"
            )
        );
        assert!(r.stdout.is_empty(), "[{bin}] stdout: {}", r.stdout);
        let cases = [
            ("port: 1\nbogus_key: 1\n", ":2:1: unknown field \"bogus_key\""),
            ("port: 1\nping_interval: 30\n", ":2:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"),
            ("port: 1\nlame_duck_duration: \"10s\"\n", ":2:1: invalid lame_duck_duration of 10s, minimum is 30 seconds"),
            ("port: 1\nmax_payload: 3000000000\n", ":2:1: max_payload value is too big"),
            ("port: 1\nserver_name: \"a b\"\n", ":2:1: server name cannot contain spaces"),
            ("port: 1\nhost: 5\n", ":2:1: interface conversion: interface {} is int64, not string"),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let f = write(&dir, &format!("bad{i}.conf"), text);
            let r = run(bin, &["-t", "-c", &f], &[]);
            assert_eq!(r.code, Some(1), "[{bin}] {text:?}: {}", r.stderr);
            assert!(
                r.stderr.starts_with(&format!("{name}: {f}{want}")),
                "[{bin}] {text:?}: {:?}",
                r.stderr
            );
        }
        let missing = dir.join("missing.conf").display().to_string();
        let r = run(bin, &["-t", "-c", &missing], &[]);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr
                .contains(&format!("open {missing}: no such file or directory")),
            "[{bin}] {}",
            r.stderr
        );
        let empty = write(&dir, "empty.conf", "");
        let r = run(bin, &["-t", "-c", &empty], &[]);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr
                .contains(&format!("{empty}: config has no values or is empty")),
            "[{bin}] {}",
            r.stderr
        );
        let r = run(bin, &["-t"], &[]);
        assert_ne!(r.code, Some(0));
        assert!(
            r.stderr
                .contains("must specify [-c, --config] option to check configuration file syntax"),
            "[{bin}] {}",
            r.stderr
        );
        // Includes are relative to the including file; $VARs come from the environment.
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        write(&sub, "inc.conf", "max_connections: 5\n");
        let main = write(
            &dir,
            "main.conf",
            "include sub/inc.conf\nserver_name: $MY_NAME\n",
        );
        let r = run(bin, &["-t", "-c", &main], &[("MY_NAME", "n1")]);
        assert_eq!(r.code, Some(0), "[{bin}] {}", r.stderr);
        let r = run(bin, &["-t", "-c", &main], &[]);
        assert_eq!(r.code, Some(1), "[{bin}] {}", r.stderr);
        assert!(
            r.stderr
                .contains("variable reference for 'MY_NAME' on line 2 can not be found"),
            "[{bin}] {}",
            r.stderr
        );
        if !bin.is_nats_server() {
            // natsd also checks what nats-server only checks at startup.
            let f = write(&dir, "big.conf", "max_payload: 100MB\n");
            let r = run(bin, &["-t", "-c", &f], &[]);
            assert_eq!(r.code, Some(1), "[{bin}] {}", r.stderr);
            assert!(r
                .stderr
                .contains("max_payload (104857600) cannot be higher than max_pending (67108864)"));
            let f = write(&dir, "cl.conf", "port: 1\ngateway { port: 6222 }\n");
            let r = run(bin, &["-t", "-c", &f], &[]);
            assert_eq!(
                (r.code, r.stderr.trim()),
                (
                    Some(1),
                    format!("{name}: {f}:2:1: not supported yet: gateway").as_str()
                )
            );
            let f = write(
                &dir,
                "cl.conf",
                "port: 1\ncluster {\n  port: 6222\n  tls: {}\n}\n",
            );
            let r = run(bin, &["-t", "-c", &f], &[]);
            assert_eq!(
                (r.code, r.stderr.trim()),
                (
                    Some(1),
                    format!("{name}: {f}:4:3: missing 'cert_file' in TLS configuration").as_str()
                )
            );
        }
    });
}

/// Startup errors name the file, line, column and key, and exit 1; so does
/// validation of the merged options.
#[test]
fn startup_errors() {
    for_each_server(|bin| {
        let dir = scratch("starterr");
        let port = free_port().to_string();
        let f = write(&dir, "bad.conf", "port: 1\nbogus_key: 1\n");
        let r = run(bin, &["-a", "127.0.0.1", "-p", &port, "-c", &f], &[]);
        assert_eq!(r.code, Some(1), "[{bin}] {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("{f}:2:1: unknown field \"bogus_key\"")),
            "[{bin}] {}",
            r.stderr
        );
        let f = write(&dir, "big.conf", "max_payload: 100MB\n");
        let r = run(bin, &["-a", "127.0.0.1", "-p", &port, "-c", &f], &[]);
        assert_eq!(r.code, Some(1), "[{bin}] {}", r.stderr);
        assert!(
            r.stderr
                .contains("max_payload (104857600) cannot be higher than max_pending (67108864)"),
            "[{bin}] {}",
            r.stderr
        );
    });
}

/// nats-server reads the file first and lets the flags given override it.
#[test]
fn flags_override_the_file() {
    for_each_server(|bin| {
        let dir = scratch("override");
        // The harness passes -a 127.0.0.1 -p <free port>, which must win over these.
        let f = write(
            &dir,
            "o.conf",
            "listen: 127.0.0.9:1\nserver_name: from_file\nmax_payload: 1234\nping_interval: \"1m\"\n",
        );
        let srv = ServerProcess::start(bin, &["-c", &f, "-n", "from_flag"]);
        let info = srv.raw().info();
        assert_eq!(info["server_name"], "from_flag", "[{bin}] {info}");
        assert_eq!(info["max_payload"], 1234, "[{bin}] {info}");
        let srv = ServerProcess::start(bin, &["-c", &f]);
        assert_eq!(srv.raw().info()["server_name"], "from_file");
    });
}

/// pid file, ports file and log file, then `--signal term=<pid file>`:
/// a clean exit 0 that removes the ports file (natsd: and the pid file).
#[test]
fn files_and_signal_term() {
    for_each_server(|bin| {
        let dir = scratch("files");
        let d = dir.display().to_string();
        let f = write(
            &dir,
            "f.conf",
            &format!("pid_file: \"{d}/s.pid\"\nports_file_dir: \"{d}\"\nlog_file: \"{d}/s.log\"\n"),
        );
        let mut srv = ServerProcess::start(bin, &["-c", &f]);
        let pid = srv.pid().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("s.pid")).unwrap(),
            pid.to_string()
        );
        let ports = dir.join(format!("{}_{pid}.ports", bin.name));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ports.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ports).unwrap()).unwrap();
        assert_eq!(
            json["nats"][0],
            format!("nats://127.0.0.1:{}", srv.port()),
            "[{bin}] {json}"
        );
        let log = std::fs::read_to_string(dir.join("s.log")).unwrap();
        assert!(
            log.contains("[INF] Server is ready"),
            "[{bin}] log file: {log}"
        );
        assert!(
            log.starts_with(&format!("[{pid}] 20")),
            "[{bin}] log line format: {log}"
        );
        let pid_file = dir.join("s.pid").display().to_string();
        let r = run(bin, &["--signal", &format!("term={pid_file}")], &[]);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (Some(0), ""),
            "[{bin}] --signal term"
        );
        let status = srv
            .wait_exit(Duration::from_secs(10))
            .expect("server exits after term");
        assert!(status.success(), "[{bin}] exit status {status}");
        assert!(!ports.exists(), "[{bin}] ports file removed at exit");
        if !bin.is_nats_server() {
            assert!(
                !dir.join("s.pid").exists(),
                "natsd removes its pid file at exit"
            );
        }
        let log = std::fs::read_to_string(dir.join("s.log")).unwrap();
        assert!(log.contains("Server Exiting.."), "[{bin}] {log}");
    });
}

/// `log_size_limit` rotates to `<file>.<YYYY.MM.DD.hh.mm.ss.nanos>`;
/// `log_max_num` keeps that many files.
#[test]
fn log_rotation() {
    for_each_server(|bin| {
        let dir = scratch("rotate");
        let d = dir.display().to_string();
        let f = write(
            &dir,
            "r.conf",
            &format!("log_file: \"{d}/r.log\"\nlog_size_limit: 200\nlog_max_num: 2\n"),
        );
        let srv = ServerProcess::start(bin, &["-c", &f, "-DV"]);
        for _ in 0..5 {
            let mut c = srv.raw();
            c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
            c.expect("PONG\r\n");
        }
        std::thread::sleep(Duration::from_millis(200));
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let backups: Vec<&String> = names.iter().filter(|n| n.starts_with("r.log.")).collect();
        assert_eq!(
            backups.len(),
            1,
            "[{bin}] log_max_num 2 keeps one backup: {names:?}"
        );
        let suffix = &backups[0]["r.log.".len()..];
        let parts: Vec<&str> = suffix.split('.').collect();
        assert!(
            (6..=7).contains(&parts.len())
                && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())),
            "[{bin}] backup name {suffix}"
        );
        let current = std::fs::read_to_string(dir.join("r.log")).unwrap();
        let all = format!(
            "{current}{}",
            std::fs::read_to_string(dir.join(backups[0])).unwrap()
        );
        assert!(
            all.contains("[INF] Rotated log, backup saved as \""),
            "[{bin}] {all}"
        );
        assert!(
            all.contains("[INF] Purged log file \"r.log."),
            "[{bin}] {all}"
        );
    });
}

/// `-T=false` (and `logtime: false`) drop the timestamp.
#[test]
fn logtime_off() {
    for_each_server(|bin| {
        let dir = scratch("logtime");
        let conf = write(&dir, "l.conf", "logtime: false\n");
        for args in [vec!["-T=false".to_string()], vec!["-c".to_string(), conf]] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let srv = ServerProcess::start(bin, &args);
            let err = srv.stderr();
            let line = err
                .lines()
                .find(|l| l.contains("Server is ready"))
                .unwrap_or_else(|| panic!("[{bin}] {err}"));
            assert_eq!(
                line,
                format!("[{}] [INF] Server is ready", srv.pid().unwrap()),
                "[{bin}] {args:?}"
            );
        }
    });
}

/// `--signal` errors (no process is signalled).
#[test]
fn signal_errors() {
    for_each_server(|bin| {
        let name = &bin.name;
        let r = run(bin, &["-sl", "reload=12x"], &[]);
        assert_eq!(
            (r.code, r.stderr.trim_end()),
            (Some(1), format!("{name}: invalid pid: 12x").as_str())
        );
        let r = run(bin, &["--signal=bogus=1"], &[]);
        assert_eq!(
            (r.code, r.stderr.trim_end()),
            (
                Some(1),
                format!("{name}: unknown signal \"bogus\"").as_str()
            )
        );
        let dir = scratch("sig");
        let f = write(&dir, "bad.pid", "abc");
        let r = run(bin, &["-sl", &format!("ldm={f}")], &[]);
        assert_eq!(
            (r.code, r.stderr.trim_end()),
            (Some(1), format!("{name}: invalid pid: abc").as_str())
        );
    });
}
