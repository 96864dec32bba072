//! The option layer of the configuration file (`config::options`): every
//! single-server option of spec §2.1–2.4, its errors and warnings (texts
//! checked against nats-server 2.14.0 `-t`, columns 1-based), the merge
//! with command-line flags, the reload comparison, the Helm chart's
//! renderings, and the round trip `to_config` → `apply`.

// `any_options` names every field today and keeps `..Options::default()` for
// the ones added later.
#![allow(clippy::needless_update)]

use std::collections::BTreeMap;
use std::time::Duration;

use natsd_core::cli::{self, Command};
use natsd_core::config::{self, MapLoader};
use natsd_core::options::{
    NkeyUser, Permissions, ResponsePermission, SubjectPermission, User, WriteTimeout,
};
use natsd_core::Options;
use proptest::prelude::*;

fn load_with(
    text: &str,
    loader: &mut MapLoader,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Options, Vec<String>), String> {
    let mut o = Options::default();
    let loaded = config::load(text, "t.conf", loader, env, &mut o).map_err(|e| e.to_string())?;
    Ok((o, loaded.warnings.iter().map(ToString::to_string).collect()))
}

fn load(text: &str) -> Result<(Options, Vec<String>), String> {
    load_with(text, &mut MapLoader::new(), &|_| None)
}

/// The options a file gives, asserting it gives no warning.
#[track_caller]
fn opts(text: &str) -> Options {
    let (o, w) = load(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert!(w.is_empty(), "{text:?}: unexpected warnings {w:?}");
    o
}

#[track_caller]
fn error(text: &str) -> String {
    match load(text) {
        Ok((o, w)) => panic!("{text:?} should fail, gave {o:?} {w:?}"),
        Err(e) => e,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn network_identity_and_limits() {
    let d = Options::default();
    let o = opts("listen: 127.0.0.1:4333");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    assert_eq!(opts("listen: \"[::1]:5000\"").host, "::1");
    let o = opts("listen: 4333");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4333));
    assert_eq!(opts("listen: \":4333\"").host, "0.0.0.0");
    assert_eq!(opts("port: 5222").port, 5222);
    assert_eq!(opts("port: 0").port, 4222, "0 is the default port");
    assert_eq!(opts("port: -1").port, 0, "-1 is a random port");
    assert_eq!(
        opts("PORT: 1\nport: 2").port,
        2,
        "case-insensitive, last wins"
    );
    assert_eq!(opts("host: 127.0.0.2").host, "127.0.0.2");
    assert_eq!(opts("net: 127.0.0.3").host, "127.0.0.3");
    assert_eq!(opts("host: \"\"").host, "0.0.0.0");
    assert_eq!(
        opts("client_advertise: \"nats.example.com:4222\"").client_advertise,
        "nats.example.com:4222"
    );
    assert_eq!(opts("server_name: n1").server_name.as_deref(), Some("n1"));
    assert_eq!(opts("server_name: \"\"").server_name, None);
    assert_eq!(opts("server_tags: a").server_tags, ["a"]);
    assert_eq!(opts("server_tags: [a, \"b c\"]").server_tags, ["a", "b c"]);
    assert_eq!(
        opts("server_metadata { z: \"1\", a: two }").server_metadata,
        BTreeMap::from([
            ("a".to_string(), "two".to_string()),
            ("z".to_string(), "1".to_string())
        ])
    );
    assert_eq!(opts("max_connections: 10").max_connections, 10);
    assert_eq!(opts("max_conn: 11").max_connections, 11);
    assert_eq!(
        opts("max_connections: 0").max_connections,
        0,
        "2.14: 0 rejects every client"
    );
    assert_eq!(
        opts("max_connections: -1").max_connections,
        0,
        "negative rejects every client"
    );
    assert_eq!(opts("max_payload: 2MB").max_payload, 2 << 20);
    assert_eq!(opts("max_payload: 0").max_payload, d.max_payload);
    assert_eq!(opts("max_pending: 128MB").max_pending, 128 << 20);
    assert_eq!(opts("max_pending: 0").max_pending, d.max_pending);
    assert_eq!(opts("max_control_line: 2KB").max_control_line, 2048);
    assert_eq!(opts("max_subscriptions: 5").max_subscriptions, 5);
    assert_eq!(opts("max_subs: 6").max_subscriptions, 6);
    assert_eq!(opts("max_sub_tokens: 7").max_sub_tokens, 7);
    assert_eq!(opts("max_subscription_tokens: 255").max_sub_tokens, 255);
    assert_eq!(opts("ping_interval: \"20s\"").ping_interval, secs(20));
    assert_eq!(opts("ping_interval: 1h30m").ping_interval, secs(5400));
    assert_eq!(opts("ping_interval: \"0s\"").ping_interval, d.ping_interval);
    assert_eq!(opts("ping_max: 5").ping_max, 5);
    assert_eq!(opts("ping_max: 0").ping_max, d.ping_max);
    assert_eq!(
        opts("write_deadline: \"500ms\"").write_deadline,
        Duration::from_millis(500)
    );
    assert_eq!(
        opts("write_timeout: close").write_timeout,
        WriteTimeout::Close
    );
    assert_eq!(
        opts("write_timeout: default").write_timeout,
        WriteTimeout::Default
    );
    assert!(opts("no_header_support: true").no_header_support);
    assert!(opts("disable_sublist_cache: true").no_sublist_cache);
    assert!(opts("no_sublist_cache: yes").no_sublist_cache);
    assert_eq!(opts("max_closed_clients: 5").max_closed_clients, 5);
    assert_eq!(
        opts("max_closed_clients: 0").max_closed_clients,
        d.max_closed_clients
    );
    assert_eq!(
        opts("lame_duck_duration: \"30s\"").lame_duck_duration,
        secs(30)
    );
    assert_eq!(
        opts("lame_duck_grace_period: \"4s\"").lame_duck_grace_period,
        secs(4)
    );
    assert_eq!(
        opts("lame_duck_grace_period: \"0s\"").lame_duck_grace_period,
        d.lame_duck_grace_period
    );
    assert!(opts("no_fast_producer_stall: true").no_fast_producer_stall);
    assert_eq!(opts("proxy_protocol: false"), d);
    assert_eq!(opts("connect_error_reports: 5").connect_error_reports, 5);
    assert_eq!(
        opts("reconnect_error_reports: 6").reconnect_error_reports,
        6
    );
    assert_eq!(opts("connect_error_reports: 0").connect_error_reports, 3600);
}

#[test]
fn monitoring_logging_process() {
    let o = opts("http: 127.0.0.1:8222");
    assert_eq!(
        (o.http_host.as_str(), o.http_port),
        ("127.0.0.1", Some(8222))
    );
    assert_eq!(opts("http: 8222").http_port, Some(8222));
    assert_eq!(opts("http_port: 8223").http_port, Some(8223));
    assert_eq!(opts("monitor_port: 8224").http_port, Some(8224));
    assert_eq!(opts("http_port: -1").http_port, Some(0));
    assert_eq!(opts("http_port: 0").http_port, None);
    assert_eq!(opts("https_port: 0"), Options::default());
    assert_eq!(opts("http_base_path: \"/nats\"").http_base_path, "/nats");
    let o =
        opts("debug: true\ntrace: true\nlogtime: false\nlogtime_utc: true\ntrace_headers: true");
    assert!(
        o.debug && o.trace && !o.logtime && o.logtime_utc && o.trace_headers && !o.trace_verbose
    );
    let o = opts("trace_verbose: true");
    assert!(o.trace && o.trace_verbose);
    let o = opts("log_file: \"/var/log/n.log\"\nlog_size_limit: 10MB\nlog_max_num: 3\nmax_traced_msg_len: 100");
    assert_eq!(
        (o.log_file.as_str(), o.log_size_limit, o.log_max_num),
        ("/var/log/n.log", 10 << 20, 3)
    );
    assert_eq!(o.max_traced_msg_len, 100);
    let o = opts("logfile: a\nlogfile_size_limit: 1\nlogfile_max_num: 2");
    assert_eq!(
        (o.log_file.as_str(), o.log_size_limit, o.log_max_num),
        ("a", 1, 2)
    );
    let o = opts("pid_file: \"/var/run/n.pid\"\nports_file_dir: /tmp");
    assert_eq!(
        (o.pid_file.as_str(), o.ports_file_dir.as_str()),
        ("/var/run/n.pid", "/tmp")
    );
    assert_eq!(opts("pidfile: p").pid_file, "p");
    for same in [
        "syslog: false",
        "remote_syslog: \"\"",
        "prof_port: 0",
        "prof_block_rate: 0",
        "no_sys_acc: false",
        "jetstream: false",
        "jetstream: disabled",
        "jetstream: \"DISABLE\"",
    ] {
        assert_eq!(opts(same), Options::default(), "{same}");
    }
    assert!(opts("no_system_account: true").no_system_account);
    assert_eq!(opts("https_port: 8222").https_port, Some(8222));
    assert_eq!(opts("https_port: -1").https_port, Some(0));
}

#[test]
fn authorization() {
    let o = opts("authorization { user: admin, password: \"$2a$11$abc\", timeout: 3 }");
    assert_eq!(
        (o.user.as_deref(), o.password.as_deref()),
        (Some("admin"), Some("$2a$11$abc"))
    );
    assert_eq!(o.auth_timeout, Some(secs(3)));
    let o = opts("authorization { username: u, pass: p }");
    assert_eq!(
        (o.user.as_deref(), o.password.as_deref(), o.auth_timeout),
        (Some("u"), Some("p"), None)
    );
    let o = opts("authorization { User: u, PASSWORD: p, Timeout: 1.5 }");
    assert_eq!(
        (o.user.as_deref(), o.auth_timeout),
        (Some("u"), Some(Duration::from_millis(1500)))
    );
    assert_eq!(
        opts("authorization { token: s3cr3t, timeout: \"2s\" }")
            .token
            .as_deref(),
        Some("s3cr3t")
    );
    assert_eq!(
        opts("authorization { token: t, timeout: 0 }").auth_timeout,
        None
    );
    // The block replaces the single-user settings as a whole.
    let mut o = Options {
        user: Some("flag".into()),
        ..Options::default()
    };
    config::apply(
        &config::parse(
            "authorization { token: t }",
            "t",
            &mut MapLoader::new(),
            &|_| None,
        )
        .unwrap(),
        &mut o,
    )
    .unwrap();
    assert_eq!((o.user, o.token.as_deref()), (None, Some("t")));
    assert_eq!(
        error("authorization { user: a, token: b }"),
        "t.conf:1:1: Cannot have a user/pass and token"
    );
    assert_eq!(
        error("authorization { bogus: 1 }"),
        "t.conf:1:17: unknown field \"bogus\""
    );
    assert_eq!(
        error("authorization { token: 5 }"),
        "t.conf:1:17: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("authorization: 5"),
        "t.conf:1:1: interface conversion: interface {} is int64, not map[string]interface {}"
    );
    assert_eq!(
        error("authorization { token: b, timeout: \"xx\" }"),
        "t.conf:1:27: error parsing authorization config, 'timeout' time: invalid duration \"xx\""
    );
    assert_eq!(
        error("authorization { token: b, timeout: true }"),
        "t.conf:1:27: error parsing authorization config, 'timeout' wrong type"
    );
    for (key, col) in [("auth_callout: {}", 17), ("proxy_required: true", 17)] {
        let name = key.split(':').next().unwrap();
        assert_eq!(
            error(&format!("authorization {{ {key} }}")),
            format!("t.conf:1:{col}: not supported yet: authorization.{name}")
        );
    }
    let (o, w) = load("authorization { user: a, password: b, timeout: 100 }").unwrap();
    assert_eq!(o.auth_timeout, Some(secs(100)));
    assert_eq!(
        w,
        ["t.conf:1:39: invalid use of field \"timeout\": timeout of 100 (100.000000 seconds) is high, consider \
          keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example"]
    );
    let (_, w) = load("authorization { timeout: 2m }").unwrap();
    assert!(
        w[0].contains("timeout of 2000000 (2000000.000000 seconds) is high"),
        "{w:?}"
    );
}

#[test]
fn durations_and_warnings() {
    let (o, w) = load("ping_interval: 30\nwrite_deadline: 3").unwrap();
    assert_eq!((o.ping_interval, o.write_deadline), (secs(30), secs(3)));
    assert_eq!(
        w,
        [
            "t.conf:1:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
            "t.conf:2:1: invalid use of field \"write_deadline\": write_deadline should be converted to a duration",
        ]
    );
    // Unquoted 2m is the integer 2 000 000 (size suffix), so 2 000 000 s.
    let (o, w) = load("ping_interval: 2m").unwrap();
    assert_eq!((o.ping_interval, w.len()), (secs(2_000_000), 1));
    assert_eq!(
        error("ping_interval: \"xx\""),
        "t.conf:1:1: error parsing ping_interval: time: invalid duration \"xx\""
    );
    assert_eq!(
        error("ping_interval: \"1x\""),
        "t.conf:1:1: error parsing ping_interval: time: unknown unit \"x\" in duration \"1x\""
    );
    assert_eq!(
        error("write_deadline: 1.5"),
        "t.conf:1:1: interface conversion: interface {} is float64, not int64"
    );
    assert_eq!(
        error("lame_duck_duration: \"10s\""),
        "t.conf:1:1: invalid lame_duck_duration of 10s, minimum is 30 seconds"
    );
    assert_eq!(
        error("lame_duck_duration: \"abc\""),
        "t.conf:1:1: error parsing lame_duck_duration: time: invalid duration \"abc\""
    );
    assert_eq!(
        error("lame_duck_duration: 60"),
        "t.conf:1:1: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("lame_duck_grace_period: \"-1s\""),
        "t.conf:1:1: invalid lame_duck_grace_period, needs to be positive"
    );
    let (_, w) = load("").unwrap();
    assert_eq!(w, ["t.conf: config has no values or is empty"]);
    let (_, w) = load("# only a comment\n").unwrap();
    assert_eq!(w, ["t.conf: config has no values or is empty"]);
}

#[test]
fn errors() {
    let cases = [
        ("bogus_key: 1", "t.conf:1:1: unknown field \"bogus_key\""),
        ("port: 1\n  Bogus: 1", "t.conf:2:3: unknown field \"Bogus\""),
        (
            "port: \"abc\"",
            "t.conf:1:1: interface conversion: interface {} is string, not int64",
        ),
        (
            "port: 1.5",
            "t.conf:1:1: interface conversion: interface {} is float64, not int64",
        ),
        ("port: 70000", "t.conf:1:1: invalid port 70000"),
        (
            "host: 5",
            "t.conf:1:1: interface conversion: interface {} is int64, not string",
        ),
        (
            "debug: \"true\"",
            "t.conf:1:1: interface conversion: interface {} is string, not bool",
        ),
        (
            "logtime: 1",
            "t.conf:1:1: interface conversion: interface {} is int64, not bool",
        ),
        (
            "server_name: \"a b\"",
            "t.conf:1:1: server name cannot contain spaces",
        ),
        (
            "max_payload: 3000000000",
            "t.conf:1:1: max_payload value is too big",
        ),
        (
            "MAX_CONTROL_LINE: 3000000000",
            "t.conf:1:1: MAX_CONTROL_LINE value is too big",
        ),
        (
            "max_payload: -5",
            "t.conf:1:1: max_payload value can not be negative",
        ),
        (
            "max_sub_tokens: 256",
            "t.conf:1:1: max_sub_tokens value is too big",
        ),
        (
            "max_sub_tokens: 0",
            "t.conf:1:1: max_sub_tokens value can not be negative",
        ),
        (
            "ping_interval: \"-1s\"",
            "t.conf:1:1: ping_interval value can not be negative",
        ),
        (
            "listen: \"4333\"",
            "t.conf:1:1: could not parse address string \"4333\"",
        ),
        (
            "listen: \"::1:4333\"",
            "t.conf:1:1: could not parse address string \"::1:4333\"",
        ),
        ("listen: \"a:b\"", "t.conf:1:1: could not parse port \"b\""),
        ("listen: \"h:\"", "t.conf:1:1: could not parse port \"\""),
        (
            "listen: true",
            "t.conf:1:1: expected port or host:port, got bool",
        ),
        (
            "listen: [1,]",
            "t.conf:1:1: expected port or host:port, got []interface {}",
        ),
        (
            "listen: 2006-01-02T15:04:05Z",
            "t.conf:1:1: expected port or host:port, got time.Time",
        ),
        (
            "http: {}",
            "t.conf:1:1: expected port or host:port, got map[string]interface {}",
        ),
        (
            "write_timeout: xx",
            "t.conf:1:1: write_timeout must be 'default', 'close' or 'retry'",
        ),
        (
            "write_timeout: retry",
            "t.conf:1:1: not supported yet: write_timeout",
        ),
        (
            "server_tags: [a, 1 ]",
            "t.conf:1:1: error parsing tags: unsupported type *conf.token where string is expected",
        ),
        (
            "server_tags: 5",
            "t.conf:1:1: error parsing tags: unsupported type int64",
        ),
        (
            "server_metadata: 5",
            "t.conf:1:1: error parsing metadata: unsupported type int64",
        ),
        (
            "server_metadata: {a: b, c: 1}",
            "t.conf:1:25: interface conversion: interface {} is int64, not string",
        ),
        (
            "jetstream: \"bogus\"",
            "t.conf:1:1: Expected 'enabled' or 'disabled' for string value, got 'bogus'",
        ),
        (
            "jetstream: 0",
            "t.conf:1:1: Expected map, bool or string to define JetStream, got int64",
        ),
        (
            "ports_file_dir: 5",
            "t.conf:1:1: interface conversion: interface {} is int64, not string",
        ),
        (
            "log_size_limit: -1",
            "t.conf:1:1: log_size_limit value can not be negative",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text:?}");
    }
}

#[test]
fn refused_by_name() {
    for key in config::options::NOT_SUPPORTED {
        assert_eq!(
            error(&format!("{key}: {{}}")),
            format!("t.conf:1:1: not supported yet: {key}"),
            "{key}"
        );
    }
    for (text, key) in [
        ("syslog: true", "syslog"),
        ("remote_syslog: \"udp://localhost:514\"", "remote_syslog"),
        ("prof_port: 65432", "prof_port"),
        ("prof_block_rate: 5", "prof_block_rate"),
        ("proxy_protocol: true", "proxy_protocol"),
        ("jetstream: true", "jetstream"),
        ("jetstream: enabled", "jetstream"),
        ("jetstream { store_dir: /data }", "jetstream"),
        ("Gateway { port: 6222 }", "Gateway"),
    ] {
        assert_eq!(
            error(text),
            format!("t.conf:1:1: not supported yet: {key}"),
            "{text}"
        );
    }
    // In an included file the position names that file.
    let mut loader = MapLoader::new().with("inc.conf", "\nresolver: MEMORY\n");
    let e = load_with("port: 1\ninclude inc.conf\n", &mut loader, &|_| None).unwrap_err();
    assert_eq!(e, "inc.conf:2:1: not supported yet: resolver");
}

#[test]
fn variables_and_includes() {
    let o = opts("mp = 4096\nmax_payload: $mp");
    assert_eq!(
        o.max_payload, 4096,
        "a key used only as a variable is not unknown"
    );
    let env = |k: &str| (k == "MP").then(|| "2KB".to_string());
    let (o, _) = load_with("max_payload: $MP", &mut MapLoader::new(), &env).unwrap();
    assert_eq!(o.max_payload, 2048);
    let mut loader = MapLoader::new()
        .with("a.conf", "max_connections: 7")
        .with("b.conf", "max_subscriptions: 8");
    let (o, _) = load_with("include a.conf\ninclude \"b.conf\"\n", &mut loader, &|_| {
        None
    })
    .unwrap();
    assert_eq!((o.max_connections, o.max_subscriptions), (7, 8));
}

#[test]
fn digests_match_nats_server() {
    let mut o = Options::default();
    let l = config::load(
        "port: 4222\n",
        "t.conf",
        &mut MapLoader::new(),
        &|_| None,
        &mut o,
    )
    .unwrap();
    assert_eq!(
        l.digest,
        "sha256:797533ebd0dfba7d34a0f9337ecf147e442871f48ddfd07ed751575a5737267e"
    );
}

#[test]
fn validation() {
    let o = opts("max_payload: 100MB");
    assert_eq!(
        config::validate(&o).unwrap_err(),
        "max_payload (104857600) cannot be higher than max_pending (67108864)"
    );
    assert!(config::validate(&opts("max_payload: 100MB\nmax_pending: 200MB")).is_ok());
    let o = Options {
        server_name: Some("a b".into()),
        ..Options::default()
    };
    assert_eq!(
        config::validate(&o).unwrap_err(),
        "server name cannot contain spaces"
    );
    let o = Options {
        user: Some("u".into()),
        token: Some("t".into()),
        ..Options::default()
    };
    assert_eq!(
        config::validate(&o).unwrap_err(),
        "Cannot have a user/pass and token"
    );
}

/// The file first, then the flags given (nats-server: flags win).
#[test]
fn flags_override_the_file() {
    let Command::Run {
        config_file, flags, ..
    } = cli::parse_args([
        "-c", "x.conf", "-p", "5555", "-D", "-T=false", "--user", "cli",
    ])
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(config_file.as_deref(), Some("x.conf"));
    let mut o = opts("port: 4333\ndebug: false\nlogtime: true\nmax_payload: 2MB\nauthorization { user: f, password: p }");
    flags.apply(&mut o);
    assert_eq!(
        (o.port, o.debug, o.logtime, o.max_payload),
        (5555, true, false, 2 << 20)
    );
    assert_eq!(
        (o.user.as_deref(), o.password.as_deref()),
        (Some("cli"), Some("p"))
    );
}

#[test]
fn reload() {
    let base = opts("port: 4222");
    let changed = |text: &str| config::reload_diff(&base, &opts(&format!("port: 4222\n{text}")));
    assert_eq!(
        changed("debug: true\ntrace: true\nlogtime: false\nmax_connections: 10\nmax_payload: 2000\n\
                 max_control_line: 2048\nping_interval: \"30s\"\nping_max: 5\nwrite_deadline: \"3s\""),
        Ok(vec![
            "trace", "debug", "logtime", "max_connections", "ping_interval", "ping_max", "max_control_line",
            "max_payload", "write_deadline"
        ])
    );
    assert_eq!(
        changed("authorization { user: a, password: b, timeout: 3 }"),
        Ok(vec![
            "authorization.user",
            "authorization.password",
            "authorization.timeout"
        ])
    );
    assert_eq!(
        changed("client_advertise: x\npid_file: p\nports_file_dir: d\nlog_file: l\nserver_tags: [a]\nserver_metadata {a: b}\n\
                 max_traced_msg_len: 1\nno_fast_producer_stall: true\ntrace_verbose: true\ntrace_headers: true\nlogtime_utc: true"),
        Ok(vec![
            "client_advertise", "trace", "trace_verbose", "trace_headers", "logtime_utc", "no_fast_producer_stall",
            "pid_file", "ports_file_dir", "log_file", "max_traced_msg_len", "server_tags", "server_metadata"
        ])
    );
    // Refusals as nats-server logs them (verified with SIGHUP on 2.14.0).
    for (text, want) in [
        ("host: 127.0.0.2", "Host: old=0.0.0.0, new=127.0.0.2"),
        ("listen: 127.0.0.1:4223", "Host: old=0.0.0.0, new=127.0.0.1"),
        ("port: 4223", "Port: old=4222, new=4223"),
        ("server_name: x", "ServerName: old=, new=x"),
        (
            "max_pending: 100MB",
            "MaxPending: old=67108864, new=104857600",
        ),
        ("max_subscriptions: 5", "MaxSubs: old=0, new=5"),
        ("max_sub_tokens: 5", "MaxSubTokens: old=0, new=5"),
        (
            "lame_duck_duration: \"40s\"",
            "LameDuckDuration: old=2m0s, new=40s",
        ),
        (
            "lame_duck_grace_period: \"4s\"",
            "LameDuckGracePeriod: old=10s, new=4s",
        ),
        (
            "no_header_support: true",
            "NoHeaderSupport: old=false, new=true",
        ),
        ("write_timeout: close", "WriteTimeout: old=, new=close"),
        ("log_size_limit: 1000", "LogSizeLimit: old=0, new=1000"),
        ("log_max_num: 3", "LogMaxFiles: old=0, new=3"),
        (
            "max_closed_clients: 5",
            "MaxClosedClients: old=10000, new=5",
        ),
        ("http_port: 18230", "HTTPPort: old=0, new=18230"),
        ("http: \"0.0.0.0:18230\"", "HTTPPort: old=0, new=18230"),
        ("http_base_path: \"/x\"", "HTTPBasePath: old=, new=/x"),
        (
            "disable_sublist_cache: true",
            "NoSublistCache: old=false, new=true",
        ),
        (
            "max_pending: 5000000\nmax_subscriptions: 3\nserver_name: x",
            "ServerName: old=, new=x",
        ),
    ] {
        assert_eq!(
            changed(text),
            Err(format!("config reload not supported for {want}")),
            "{text}"
        );
    }
    assert_eq!(config::reload_diff(&base, &base), Ok(vec![]));
    let new =
        opts("ping_interval: \"30s\"\nauthorization { token: t, timeout: 3 }\nserver_tags: [a]");
    assert_eq!(
        config::reload_log_line("ping_interval", &new),
        "Reloaded: ping_interval = 30s"
    );
    assert_eq!(
        config::reload_log_line("authorization.token", &new),
        "Reloaded: authorization token"
    );
    assert_eq!(
        config::reload_log_line("authorization.timeout", &new),
        "Reloaded: authorization timeout = 3"
    );
    assert_eq!(
        config::reload_log_line("server_tags", &new),
        "Reloaded: tags"
    );
}

/// Every rendering of the official Helm chart is accepted, or refused
/// naming a key natsd does not implement.
#[test]
#[allow(clippy::disallowed_methods)] // reads the reference files
fn helm_chart_configs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/helm");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        eprintln!("no Helm data at {}; skipped", root.display());
        return;
    };
    let env = |k: &str| match k {
        "SERVER_NAME" => Some("nats-0".to_string()),
        "SYS_PASSWORD" | "TOKEN" | "APP_PASSWORD" => Some("s3cr3t".to_string()),
        _ => None,
    };
    let mut seen = 0;
    for dir in dirs {
        let dir = dir.unwrap().path();
        let main = dir.join("nats.conf");
        let Ok(text) = std::fs::read_to_string(&main) else {
            continue;
        };
        let mut loader = MapLoader::new();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "conf") {
                loader.insert(
                    f.file_name().unwrap().to_string_lossy(),
                    std::fs::read_to_string(&f).unwrap(),
                );
            }
        }
        seen += 1;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match load_with(&text, &mut loader, &env) {
            Ok((o, w)) => {
                assert!(w.is_empty(), "{name}: {w:?}");
                assert_eq!(o.server_name.as_deref(), Some("nats-0"), "{name}");
                assert_eq!(
                    (o.port, o.http_port, o.pid_file.as_str()),
                    (4222, Some(8222), "/var/run/nats/nats.pid")
                );
                assert_eq!(
                    (o.lame_duck_duration, o.lame_duck_grace_period),
                    (secs(30), secs(10))
                );
                assert!(config::validate(&o).is_ok(), "{name}");
            }
            Err(e) => assert!(e.contains(": not supported yet: "), "{name}: {e}"),
        }
    }
    assert!(seen >= 12, "found {seen} Helm configs");
    let text = std::fs::read_to_string(root.join("12-token-units/nats.conf")).unwrap();
    let (o, _) = load_with(&text, &mut MapLoader::new(), &env).unwrap();
    assert_eq!(
        (o.token.as_deref(), o.max_payload),
        (Some("s3cr3t"), 2 << 20)
    );
}

fn text() -> impl Strategy<Value = String> {
    // Anything printable, quotes, backslashes, `$`, `#` and non-ASCII included.
    "[a-zA-Z0-9 _./:$#\"'\\\\{}\\[\\]=,;é€-]{1,12}"
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,12}"
}

fn duration(min_nanos: u64) -> impl Strategy<Value = Duration> {
    prop_oneof![
        (min_nanos.max(1)..10_000_000_000_000u64).prop_map(Duration::from_nanos),
        (min_nanos.div_ceil(1_000_000_000).max(1)..100_000u64).prop_map(Duration::from_secs),
    ]
}

prop_compose! {
    fn any_options()(
        (host, port, server_name, client_advertise, server_tags, server_metadata) in (
            prop_oneof![word(), Just("::1".to_string())],
            any::<u16>(),
            proptest::option::of("[a-zA-Z0-9_.-]{1,12}"),
            prop_oneof![Just(String::new()), text()],
            proptest::collection::vec(text(), 0..3),
            proptest::collection::btree_map("[a-zA-Z0-9 _./:$#\"\\\\{}=,;é-]{1,12}", text(), 0..3),
        ),
        (max_payload, max_pending, max_control_line, max_connections, max_subscriptions, max_sub_tokens) in (
            1usize..=(i32::MAX as usize), 1usize..=(1 << 40), 1usize..=(i32::MAX as usize),
            0usize..1_000_000, 0usize..1_000_000, any::<u8>(),
        ),
        (ping_interval, ping_max, write_deadline, lame_duck_duration, lame_duck_grace_period) in (
            duration(1), 1u32..100, duration(1), duration(30_000_000_000), duration(1),
        ),
        (write_timeout, bools, max_closed_clients, connect_error_reports, reconnect_error_reports) in (
            prop_oneof![Just(WriteTimeout::Default), Just(WriteTimeout::Close)],
            proptest::array::uniform10(any::<bool>()),
            1usize..100_000, 1i64..100_000, 1i64..100_000,
        ),
        (http_host, http_port, http_base_path) in (
            prop_oneof![Just(String::new()), word(), Just("::1".to_string())],
            proptest::option::of(any::<u16>()),
            prop_oneof![Just(String::new()), text()],
        ),
        (log_file, log_size_limit, log_max_num, max_traced_msg_len, pid_file, ports_file_dir) in (
            prop_oneof![Just(String::new()), text()], 0u64..(1 << 40), 0u64..100, 0usize..100_000,
            prop_oneof![Just(String::new()), text()], prop_oneof![Just(String::new()), text()],
        ),
        (auth, auth_timeout, (users, nkeys, default_permissions, no_auth_user)) in (
            prop_oneof![
                Just((None, None, None)),
                text().prop_map(|u| (Some(u), None, None)),
                (text(), text()).prop_map(|(u, p)| (Some(u), Some(p), None)),
                text().prop_map(|t| (None, None, Some(t))),
            ],
            // Over 60 s would (rightly) warn.
            proptest::option::of((1u64..=60_000_000_000).prop_map(Duration::from_nanos)),
            any_users(),
        ),
    ) -> Options {
        let [no_header_support, no_sublist_cache, no_fast_producer_stall, trace_verbose, trace, debug, trace_headers,
             logtime, logtime_utc, extra] = bools;
        // A users array excludes the single user and the token.
        let (user, password, token) = if users.is_empty() && nkeys.is_empty() { auth } else { (None, None, None) };
        Options {
            host, port, server_name, client_advertise, server_tags, server_metadata,
            max_payload, max_pending, max_control_line, max_connections, max_subscriptions, max_sub_tokens,
            ping_interval, ping_max, write_deadline, lame_duck_duration, lame_duck_grace_period,
            write_timeout, no_header_support, no_sublist_cache, no_fast_producer_stall,
            max_closed_clients, connect_error_reports, reconnect_error_reports,
            http_host, http_port, http_base_path,
            // trace_verbose implies trace in a file.
            trace_verbose, trace: trace || trace_verbose, debug, trace_headers, logtime, logtime_utc: logtime_utc ^ extra,
            log_file, log_size_limit, log_max_num, max_traced_msg_len, pid_file, ports_file_dir,
            user, password, token, auth_timeout, users, nkeys, default_permissions, no_auth_user,
            ..Options::default()
        }
    }
}

/// A valid permission subject, maybe with wildcards.
fn perm_subject() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("*".to_string()), "[a-zA-Z0-9_$-]{1,5}"],
        1..4,
    )
    .prop_flat_map(|toks| {
        let s = toks.join(".");
        prop_oneof![
            Just(s.clone()),
            Just(format!("{s}.>")),
            Just(">".to_string())
        ]
    })
}

fn subject_permission(queues: bool) -> impl Strategy<Value = Option<SubjectPermission>> {
    let entry = move || {
        (perm_subject(), proptest::option::of("[a-z0-9.*>]{1,6}")).prop_map(move |(s, q)| match q {
            Some(q) if queues && !q.starts_with('.') && !q.ends_with('.') => format!("{s} {q}"),
            _ => s,
        })
    };
    proptest::option::of(
        (
            proptest::option::of(proptest::collection::vec(entry(), 1..4)),
            proptest::collection::vec(entry(), 0..3),
        )
            .prop_filter("something set", |(a, d)| a.is_some() || !d.is_empty())
            .prop_map(|(allow, deny)| SubjectPermission { allow, deny }),
    )
}

fn permissions() -> impl Strategy<Value = Permissions> {
    (
        subject_permission(false),
        subject_permission(true),
        proptest::option::of((0u64..5, prop_oneof![Just(0u64), 1u64..10_000_000_000])),
    )
        .prop_map(|(publish, subscribe, response)| {
            let mut p = Permissions {
                publish,
                subscribe,
                response: response.map(|(max_msgs, nanos)| ResponsePermission {
                    max_msgs,
                    expires: Duration::from_nanos(nanos),
                }),
            };
            if p.response.is_some() {
                // What a file with allow_responses always means.
                p.publish
                    .get_or_insert_with(SubjectPermission::default)
                    .allow
                    .get_or_insert_with(Vec::new);
            }
            p
        })
}

fn connection_types() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(
        vec![
            "STANDARD".to_string(),
            "WEBSOCKET".to_string(),
            "MQTT".to_string(),
        ],
        0..3,
    )
}

type Users = (
    Vec<User>,
    Vec<NkeyUser>,
    Option<Permissions>,
    Option<String>,
);

fn any_users() -> impl Strategy<Value = Users> {
    let user = (
        text(),
        text(),
        proptest::option::of(permissions()),
        connection_types(),
    )
        .prop_map(
            |(username, password, permissions, allowed_connection_types)| User {
                username,
                password,
                permissions,
                allowed_connection_types,
                account: None,
            },
        );
    let nkey =
        (any::<[u8; 32]>(), proptest::option::of(permissions())).prop_map(|(k, permissions)| {
            NkeyUser {
                nkey: natsd_core::nkey::encode_public(natsd_core::nkey::PREFIX_USER, &k),
                permissions,
                allowed_connection_types: vec![],
                account: None,
            }
        });
    prop_oneof![
        Just((vec![], vec![], None, None)),
        (
            proptest::collection::vec(user, 0..3),
            proptest::collection::vec(nkey, 0..2),
            proptest::option::of(permissions()),
            any::<bool>(),
        )
            .prop_map(|(mut users, nkeys, defaults, no_auth)| {
                let mut seen = std::collections::HashSet::new();
                users.retain(|u| seen.insert(u.username.clone()));
                let no_auth = no_auth
                    .then(|| users.first().map(|u| u.username.clone()))
                    .flatten();
                (users, nkeys, defaults, no_auth)
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any options a file can express, written with `to_config`, read back
    /// as the same options.
    #[test]
    fn to_config_round_trip(o in any_options()) {
        let text = config::to_config(&o);
        let mut back = Options::default();
        let loaded = config::load(&text, "rt.conf", &mut MapLoader::new(), &|_| None, &mut back)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        prop_assert_eq!(&back, &o, "{}", text);
    }
}

#[test]
fn to_config_of_defaults() {
    let text = config::to_config(&Options::default());
    assert_eq!(opts(&text), Options::default(), "{text}");
    assert!(text.contains("ping_interval: \"2m0s\"\n"), "{text}");
}

#[test]
fn cluster_block() {
    use natsd_core::route::{ClusterOptions, RouteUrl};
    let o = opts(
        "cluster {\n  name: C1\n  listen: \"127.0.0.1:6222\"\n  routes: [\"nats-route://ruser:rpass@10.0.0.2:6222\", \"nats://h3:6222\"]\n  no_advertise: true\n  connect_retries: 3\n  authorization { user: ruser, password: rpass, timeout: 0.5 }\n  pool_size: 3\n  compression: s2_fast\n  advertise: \"10.0.0.1:6222\"\n}\n",
    );
    let c = o.cluster.clone().unwrap();
    assert_eq!(c.name.as_deref(), Some("C1"));
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", Some(6222)));
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].user.as_deref(), Some("ruser"));
    assert_eq!(c.routes[1], RouteUrl::parse("nats://h3:6222").unwrap());
    assert!(c.no_advertise);
    assert_eq!(c.connect_retries, 3);
    assert_eq!(c.user.as_deref(), Some("ruser"));
    assert_eq!(c.auth_timeout, Some(std::time::Duration::from_millis(500)));
    assert_eq!((c.pool_size, c.compression.as_str()), (3, "s2_fast"));
    assert_eq!(c.advertise, "10.0.0.1:6222");
    assert!(c.enabled());
    // Written back and read again: the same options.
    let again = opts(&config::to_config(&o));
    assert_eq!(again.cluster, o.cluster);
    // Route TLS, pinned accounts (accepted; natsd does not pool).
    let o = opts(
        "cluster {\n  port: 6222\n  accounts: [ ACC, B ]\n  tls {\n    cert_file: srv.pem\n    key_file: srv.key\n    ca_file: ca.pem\n    verify: true\n    timeout: 0.5\n    insecure: true\n    handshake_first: true\n    min_version: \"1.3\"\n    cipher_suites: [ TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ]\n  }\n}\n",
    );
    let c = o.cluster.clone().unwrap();
    assert_eq!(c.accounts, ["ACC", "B"]);
    let t = c.tls.clone().unwrap();
    assert_eq!(
        (
            t.cert_file.as_str(),
            t.key_file.as_str(),
            t.ca_file.as_str()
        ),
        ("srv.pem", "srv.key", "ca.pem")
    );
    assert!(t.verify && t.insecure);
    assert_eq!(t.timeout, std::time::Duration::from_millis(500));
    assert_eq!(t.min_version, natsd_core::tls::MinVersion::Tls13);
    assert_eq!(
        t.handshake_first,
        natsd_core::tls::HandshakeFirst::Off,
        "routes are always TLS first; the key is accepted and ignored"
    );
    assert_eq!(t.cipher_suites.len(), 1);
    // With TLS the route auth timeout is the TLS timeout plus a second.
    assert_eq!(
        c.effective_auth_timeout(),
        std::time::Duration::from_millis(1500)
    );
    let again = opts(&config::to_config(&o));
    assert_eq!(again.cluster, o.cluster);
    // No port: a cluster block without routing, as nats-server.
    let c = opts("cluster { name: C1, routes: [\"nats://a:1\"] }")
        .cluster
        .unwrap();
    assert!(!c.enabled());
    assert_eq!(opts("cluster { port: -1 }").cluster.unwrap().port, Some(0));
    assert_eq!(
        opts("cluster { listen: 7222 }").cluster.unwrap(),
        ClusterOptions {
            port: Some(7222),
            ..ClusterOptions::default()
        }
    );
    for (text, want) in [
        (
            "cluster {\n  port: 1\n  tls: { cert_file: c, key_file: k }\n}",
            "t.conf:3:3: tls: routes verify their peers and need ca_file (natsd does not read the system's CA store)",
        ),
        (
            "cluster { tls: { cert_file: c, key_file: k, ca_file: a, verify_and_map: true } }",
            "t.conf:1:57: not supported yet: cluster.tls.verify_and_map",
        ),
        (
            "cluster { tls: { cert_file: c, key_file: k, ca_file: a, pinned_certs: [] } }",
            "t.conf:1:57: not supported yet: cluster.tls.pinned_certs",
        ),
        (
            "cluster { tls: { cert_file: c, key_file: k, ca_file: a, bogus: 1 } }",
            "t.conf:1:57: error parsing tls config, unknown field \"bogus\"",
        ),
        (
            "tls: { cert_file: c, key_file: k, insecure: true }",
            "t.conf:1:35: not supported yet: tls.insecure",
        ),
        (
            "cluster { accounts: [ 1 ] }",
            "t.conf:1:23: error parsing accounts: unsupported type in array int64",
        ),
        (
            "cluster { permissions: {} }",
            "t.conf:1:11: not supported yet: cluster.permissions",
        ),
        (
            "cluster { bogus: 1 }",
            "t.conf:1:11: unknown field \"bogus\"",
        ),
        (
            "cluster { routes: [\"127.0.0.1:1\"] }",
            "t.conf:1:11: error parsing route url [\"127.0.0.1:1\"]: missing scheme",
        ),
        (
            "cluster { name: \"a b\" }",
            "t.conf:1:11: cluster name cannot contain spaces",
        ),
        (
            "cluster { authorization { users: [] } }",
            "t.conf:1:27: Cluster authorization does not allow multiple users",
        ),
    ] {
        assert_eq!(error(text), want, "{text}");
    }
}

#[test]
fn tls_block() {
    use natsd_core::tls::{HandshakeFirst, MinVersion, TlsOptions};
    let base = "tls { cert_file: c.pem, key_file: k.pem";
    let t = |extra: &str| {
        opts(&format!("{base}\n{extra}\n}}"))
            .tls
            .expect("tls options")
    };
    assert_eq!(
        t(""),
        TlsOptions {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            ..TlsOptions::default()
        }
    );
    assert_eq!(t("").timeout, Duration::from_secs(2));
    assert_eq!(t("timeout: 5").timeout, Duration::from_secs(5));
    assert_eq!(t("timeout: 0.5").timeout, Duration::from_millis(500));
    assert_eq!(t("timeout: \"250ms\"").timeout, Duration::from_millis(250));
    let v = t("ca_file: ca.pem, verify_and_map: true");
    assert!(v.verify && v.verify_and_map && v.verifies());
    for (text, want) in [
        ("handshake_first: true", HandshakeFirst::On),
        ("first: \"on\"", HandshakeFirst::On),
        ("immediate: off", HandshakeFirst::Off),
        (
            "handshake_first: auto",
            HandshakeFirst::Fallback(Duration::from_millis(50)),
        ),
        (
            "handshake_first: \"300ms\"",
            HandshakeFirst::Fallback(Duration::from_millis(300)),
        ),
    ] {
        assert_eq!(t(text).handshake_first, want, "{text}");
    }
    assert_eq!(t("min_version: \"1.3\"").min_version, MinVersion::Tls13);
    assert_eq!(
        t("cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]").cipher_suites,
        ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
    );
    let o = opts(&format!("{base} }}\nallow_non_tls: true"));
    assert!(o.allow_non_tls && !o.tls_required());
    assert_eq!(o.effective_auth_timeout(), Duration::from_secs(3));
    for (text, want) in [
        (
            "tls { key_file: k }",
            "t.conf:1:1: missing 'cert_file' in TLS configuration",
        ),
        (
            "tls {\n  cert_file: c\n  pinned_certs: []\n}",
            "t.conf:3:3: not supported yet: tls.pinned_certs",
        ),
        (
            "tls { cert_file: c, key_file: k, bogus: 1 }",
            "t.conf:1:34: error parsing tls config, unknown field \"bogus\"",
        ),
        (
            "tls { cert_file: c, key_file: k, min_version: \"1.1\" }",
            "t.conf:1:34: unsupported TLS version: 1.1",
        ),
        (
            "tls { cert_file: c, key_file: k, cipher_suites: [X] }",
            "t.conf:1:34: unrecognized cipher X",
        ),
        (
            "tls { cert_file: c, key_file: k, verify: true }",
            "t.conf:1:1: tls: verify needs ca_file (natsd does not read the system's CA store)",
        ),
        (
            "tls { cert_file: c, key_file: k, handshake_first: \"soon\" }",
            "t.conf:1:34: field \"handshake_first\" value \"soon\" is invalid",
        ),
    ] {
        assert_eq!(load(text).unwrap_err(), want, "{text}");
    }
}

/// Found by the `config` fuzz target: a `%` right before a multi-byte
/// character in a route URL's user or password panicked (the escape's hex
/// digits were sliced out of the text inside that character).
#[test]
fn route_url_percent_before_multibyte_character() {
    let o = opts("cluster {\n  port: 6222\n  routes: [\"nats://u%é:p%4é@h:6222\"]\n}\n");
    let r = &o.cluster.unwrap().routes[0];
    assert_eq!(r.user.as_deref(), Some("u%é"));
    assert_eq!(r.password.as_deref(), Some("p%4é"));
    assert_eq!((r.host.as_str(), r.port), ("h", 6222));
}

/// Found by the `config` fuzz target: a duration with many zeros after the
/// dot overflowed in the Go duration parser (a panic with overflow checks,
/// a wrong value without).
#[test]
fn duration_with_a_long_zero_fraction() {
    let zeros = "0".repeat(80);
    let o = opts(&format!("write_deadline: \"3.{zeros}4s\"\n"));
    assert_eq!(o.write_deadline, secs(3));
}
