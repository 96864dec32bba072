//! nats-server's command line, read with Go `flag` syntax: `-p 4222`,
//! `-p=4222`, `--port 4222`, `--port=4222`; boolean flags take no value or
//! `=true`/`=false`. A pure function of the argument list.
//!
//! As in nats-server, a configuration file (`-c`) is read first and the
//! flags given on the command line then override it: the host applies the
//! file to the defaults and then [`Flags::apply`]. Flags of subsystems
//! natsd does not implement (JetStream, profiling, syslog)
//! are refused with `not supported yet: -<flag>`.

use crate::options::Options;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a server, or with `test_only` (`-t`) check the configuration
    /// file and exit.
    Run {
        /// The options from the flags alone, on nats-server's defaults:
        /// what runs when there is no configuration file. Not validated
        /// yet (see [`crate::config::validate`]).
        opts: Box<Options>,
        /// `-c`/`--config`.
        config_file: Option<String>,
        /// `-t`.
        test_only: bool,
        /// The option flags given, to apply again on top of the options
        /// read from `config_file`.
        flags: Flags,
    },
    /// `-sl`/`--signal <command>[=<pid or pid file>]`: send a signal to a
    /// running server and exit. `command` is as given (`stop`, `quit`,
    /// `term`, `reopen`, `reload`, `ldm`; see [`SignalCommand::parse`]).
    Signal {
        /// The command word.
        command: String,
        /// The text after `=`: a pid, a pid file, or a pid prefix ending in
        /// `*`. `None`: find the running server by name.
        target: Option<String>,
    },
    /// Print usage and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// The `--signal` commands and the Unix signal each sends (nats-server's
/// mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalCommand {
    /// `stop`: SIGKILL.
    Stop,
    /// `quit`: SIGINT (graceful shutdown).
    Quit,
    /// `term`: SIGTERM (graceful shutdown, ignored in lame duck mode).
    Term,
    /// `reopen`: SIGUSR1 (reopen the log file).
    Reopen,
    /// `reload`: SIGHUP (reload the configuration).
    Reload,
    /// `ldm`: SIGUSR2 (enter lame duck mode).
    LameDuck,
}

impl SignalCommand {
    /// The command for a word, or `None` (nats-server: `unknown signal "x"`).
    pub fn parse(word: &str) -> Option<SignalCommand> {
        Some(match word {
            "stop" => SignalCommand::Stop,
            "quit" => SignalCommand::Quit,
            "term" => SignalCommand::Term,
            "reopen" => SignalCommand::Reopen,
            "reload" => SignalCommand::Reload,
            "ldm" => SignalCommand::LameDuck,
            _ => return None,
        })
    }

    /// The signal's name, e.g. `SIGHUP`.
    pub fn signal_name(self) -> &'static str {
        match self {
            SignalCommand::Stop => "SIGKILL",
            SignalCommand::Quit => "SIGINT",
            SignalCommand::Term => "SIGTERM",
            SignalCommand::Reopen => "SIGUSR1",
            SignalCommand::Reload => "SIGHUP",
            SignalCommand::LameDuck => "SIGUSR2",
        }
    }
}

/// The option flags of a command line, in order, to apply on top of the
/// options read from a configuration file (nats-server: flags win).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Flags(Vec<(Flag, String, String)>);

impl Flags {
    /// Sets every option the flags name, as the command line said.
    pub fn apply(&self, opts: &mut Options) {
        for (flag, name, value) in &self.0 {
            // The values were checked when the command line was read.
            let _ = set(opts, *flag, name, value);
        }
    }

    /// True if no option flag was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A command line error: print it and the usage, exit 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl CliError {
    /// True for errors of flag syntax, after which nats-server (Go's `flag`
    /// package) prints the usage; false for the others, which it prints as
    /// `<program>: <error>` alone (`unrecognized command: "x"`, `must
    /// specify [-c, --config] …`, `invalid signal parameters: […]`).
    pub fn shows_usage(&self) -> bool {
        ![
            "unrecognized command",
            "must specify",
            "invalid signal parameters",
        ]
        .iter()
        .any(|p| self.0.starts_with(p))
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Addr,
    Port,
    Name,
    Debug,
    Trace,
    TraceVerbose,
    DebugTrace,
    DebugTraceVerbose,
    LogTime,
    LogTimeUtc,
    User,
    Pass,
    Auth,
    HttpPort,
    HttpsPort,
    PidFile,
    LogFile,
    LogSizeLimit,
    MaxTracedMsgLen,
    PortsFileDir,
    ClientAdvertise,
    Cluster,
    ClusterName,
    Routes,
    NoAdvertise,
    ClusterAdvertise,
    ConnectRetries,
    Tls,
    TlsCert,
    TlsKey,
    TlsVerify,
    TlsCaCert,
    Config,
    Test,
    Signal,
    Help,
    Version,
}

const FLAGS: &[(&str, Flag)] = &[
    ("a", Flag::Addr),
    ("addr", Flag::Addr),
    ("net", Flag::Addr),
    ("p", Flag::Port),
    ("port", Flag::Port),
    ("n", Flag::Name),
    ("name", Flag::Name),
    ("server_name", Flag::Name),
    ("D", Flag::Debug),
    ("debug", Flag::Debug),
    ("V", Flag::Trace),
    ("trace", Flag::Trace),
    ("VV", Flag::TraceVerbose),
    ("DV", Flag::DebugTrace),
    ("DVV", Flag::DebugTraceVerbose),
    ("T", Flag::LogTime),
    ("logtime", Flag::LogTime),
    ("logtime_utc", Flag::LogTimeUtc),
    ("P", Flag::PidFile),
    ("pid", Flag::PidFile),
    ("l", Flag::LogFile),
    ("log", Flag::LogFile),
    ("log_size_limit", Flag::LogSizeLimit),
    ("max_traced_msg_len", Flag::MaxTracedMsgLen),
    ("ports_file_dir", Flag::PortsFileDir),
    ("client_advertise", Flag::ClientAdvertise),
    ("cluster", Flag::Cluster),
    ("cluster_listen", Flag::Cluster),
    ("cluster_name", Flag::ClusterName),
    ("routes", Flag::Routes),
    ("no_advertise", Flag::NoAdvertise),
    ("cluster_advertise", Flag::ClusterAdvertise),
    ("connect_retries", Flag::ConnectRetries),
    ("tls", Flag::Tls),
    ("tlscert", Flag::TlsCert),
    ("tlskey", Flag::TlsKey),
    ("tlsverify", Flag::TlsVerify),
    ("tlscacert", Flag::TlsCaCert),
    ("c", Flag::Config),
    ("config", Flag::Config),
    ("t", Flag::Test),
    ("sl", Flag::Signal),
    ("signal", Flag::Signal),
    ("user", Flag::User),
    ("pass", Flag::Pass),
    ("auth", Flag::Auth),
    ("m", Flag::HttpPort),
    ("http_port", Flag::HttpPort),
    ("ms", Flag::HttpsPort),
    ("https_port", Flag::HttpsPort),
    ("h", Flag::Help),
    ("help", Flag::Help),
    ("v", Flag::Version),
    ("version", Flag::Version),
];

/// Flags nats-server has that natsd does not implement yet: refused by name
/// rather than silently ignored.
const NOT_YET: &[&str] = &[
    "s",
    "syslog",
    "r",
    "remote_syslog",
    "js",
    "jetstream",
    "sd",
    "store_dir",
    "profile",
    "help_tls",
];

impl Flag {
    fn is_bool(self) -> bool {
        matches!(
            self,
            Flag::Debug
                | Flag::Trace
                | Flag::TraceVerbose
                | Flag::DebugTrace
                | Flag::DebugTraceVerbose
                | Flag::LogTime
                | Flag::LogTimeUtc
                | Flag::Test
                | Flag::NoAdvertise
                | Flag::Tls
                | Flag::TlsVerify
                | Flag::Help
                | Flag::Version
        )
    }
}

fn invalid_value(name: &str, value: &str) -> CliError {
    CliError(format!(
        "invalid value \"{value}\" for flag -{name}: parse error"
    ))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, as `flag` reads integers: optional
/// sign, then decimal, `0x` hex, `0o`/`0` octal or `0b` binary; `_` allowed
/// between digits after a base prefix.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r.replace('_', ""))
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r.replace('_', ""))
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// Sets the option one flag names (values already split off the flag).
fn set(opts: &mut Options, flag: Flag, name: &str, value: &str) -> Result<(), CliError> {
    let on = value == "true";
    let int = || parse_go_int(value).ok_or_else(|| invalid_value(name, value));
    match flag {
        Flag::Addr => {
            opts.host = if value.is_empty() {
                Options::default().host
            } else {
                value.to_string()
            }
        }
        // nats-server: 0 is the default port, -1 a random one.
        Flag::Port => {
            opts.port = match int()? {
                0 => 4222,
                -1 => 0,
                p @ 1..=65535 => p as u16,
                _ => return Err(invalid_value(name, value)),
            }
        }
        Flag::Name => opts.server_name = (!value.is_empty()).then(|| value.to_string()),
        Flag::Debug => opts.debug = on,
        Flag::Trace => opts.trace = on,
        Flag::TraceVerbose => {
            opts.trace = on;
            opts.trace_verbose = on;
        }
        Flag::DebugTrace => {
            opts.debug = on;
            opts.trace = on;
        }
        Flag::DebugTraceVerbose => {
            opts.debug = on;
            opts.trace = on;
            opts.trace_verbose = on;
        }
        Flag::LogTime => opts.logtime = on,
        Flag::LogTimeUtc => opts.logtime_utc = on,
        Flag::User => opts.user = Some(value.to_string()),
        Flag::Pass => opts.password = Some(value.to_string()),
        Flag::Auth => opts.token = Some(value.to_string()),
        // nats-server: 0 leaves monitoring off, -1 picks a free port.
        Flag::HttpPort | Flag::HttpsPort => {
            // 0: off, -1: a random port.
            let port = match int()? {
                0 => None,
                -1 => Some(0),
                p @ 1..=65535 => Some(p as u16),
                _ => return Err(invalid_value(name, value)),
            };
            if flag == Flag::HttpPort {
                opts.http_port = port;
            } else {
                opts.https_port = port;
            }
        }
        Flag::PidFile => opts.pid_file = value.to_string(),
        Flag::LogFile => opts.log_file = value.to_string(),
        Flag::LogSizeLimit => {
            opts.log_size_limit = u64::try_from(int()?).map_err(|_| invalid_value(name, value))?
        }
        Flag::MaxTracedMsgLen => {
            opts.max_traced_msg_len =
                usize::try_from(int()?).map_err(|_| invalid_value(name, value))?
        }
        Flag::PortsFileDir => opts.ports_file_dir = value.to_string(),
        Flag::ClientAdvertise => opts.client_advertise = value.to_string(),
        Flag::Cluster => {
            let c = opts.cluster.get_or_insert_with(Default::default);
            if value.is_empty() {
                // nats-server: an empty --cluster turns routing off.
                c.port = None;
            } else {
                set_cluster_listen(c, value).ok_or_else(|| invalid_value(name, value))?;
            }
        }
        Flag::ClusterName => {
            opts.cluster.get_or_insert_with(Default::default).name =
                (!value.is_empty()).then(|| value.to_string())
        }
        Flag::Routes => {
            let routes = value
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(crate::route::RouteUrl::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid_value(name, value))?;
            opts.cluster.get_or_insert_with(Default::default).routes = routes;
        }
        Flag::NoAdvertise => {
            opts.cluster
                .get_or_insert_with(Default::default)
                .no_advertise = on
        }
        Flag::ClusterAdvertise => {
            opts.cluster.get_or_insert_with(Default::default).advertise = value.to_string()
        }
        Flag::ConnectRetries => {
            opts.cluster
                .get_or_insert_with(Default::default)
                .connect_retries = u32::try_from(int()?).map_err(|_| invalid_value(name, value))?
        }
        // Any TLS flag turns TLS on; the certificate and key are checked
        // once file and flags are merged (`Options::validate`).
        Flag::Tls => {
            if on {
                opts.tls.get_or_insert_with(crate::tls::TlsOptions::default);
            }
        }
        Flag::TlsCert => {
            opts.tls
                .get_or_insert_with(crate::tls::TlsOptions::default)
                .cert_file = value.to_string()
        }
        Flag::TlsKey => {
            opts.tls
                .get_or_insert_with(crate::tls::TlsOptions::default)
                .key_file = value.to_string()
        }
        Flag::TlsVerify => {
            if on {
                opts.tls
                    .get_or_insert_with(crate::tls::TlsOptions::default)
                    .verify = true;
            }
        }
        Flag::TlsCaCert => {
            opts.tls
                .get_or_insert_with(crate::tls::TlsOptions::default)
                .ca_file = value.to_string()
        }
        Flag::Config | Flag::Test | Flag::Signal | Flag::Help | Flag::Version => {}
    }
    Ok(())
}

/// `--cluster nats://[user:pass@]host:port`: the route listen address and,
/// as nats-server does, the route credentials (cleared when absent).
fn set_cluster_listen(c: &mut crate::route::ClusterOptions, value: &str) -> Option<()> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or_default();
    let (creds, hostport) = match rest.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, rest),
    };
    let (host, port) = match hostport.strip_prefix('[') {
        Some(r) => {
            let (h, after) = r.split_once(']')?;
            (h, after.strip_prefix(':')?)
        }
        None => hostport.rsplit_once(':')?,
    };
    c.port = match parse_go_int(port)? {
        0 => None,
        -1 => Some(0),
        p @ 1..=65535 => Some(p as u16),
        _ => return None,
    };
    if !host.is_empty() {
        c.host = host.to_string();
    }
    match creds {
        Some(cr) => {
            let (u, p) = cr.split_once(':')?;
            c.user = Some(u.to_string());
            c.password = Some(p.to_string());
        }
        None => {
            c.user = None;
            c.password = None;
        }
    }
    Some(())
}

/// Reads the arguments after the program name.
///
/// Errors are nats-server's texts (`flag provided but not defined: -x`,
/// `invalid value "x" for flag -p: parse error`, `flag needs an argument:
/// -p`, `unrecognized command: "x"`, `must specify [-c, --config] option to
/// check configuration file syntax`), or `not supported yet: -<flag>`.
pub fn parse_args<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut opts = Options::default();
    let mut flags = Vec::new();
    let (mut config_file, mut test_only, mut signal) = (None, false, None);
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // Go's flag package stops at the first non-flag argument;
            // nats-server then refuses it.
            return Err(CliError(format!("unrecognized command: \"{arg}\"")));
        };
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(CliError(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(&(_, flag)) = FLAGS.iter().find(|(n, _)| *n == name) else {
            if NOT_YET.contains(&name) {
                return Err(CliError(format!("not supported yet: -{name}")));
            }
            return Err(CliError(format!("flag provided but not defined: -{name}")));
        };
        let value = if flag.is_bool() {
            match inline.as_deref() {
                None => true,
                Some(v) => parse_bool(v).ok_or_else(|| {
                    CliError(format!(
                        "invalid boolean value \"{v}\" for -{name}: parse error"
                    ))
                })?,
            }
            .to_string()
        } else {
            match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| CliError(format!("flag needs an argument: -{name}")))?;
                    i += 1;
                    v.clone()
                }
            }
        };
        match flag {
            Flag::Help => return Ok(Command::Help),
            Flag::Version => return Ok(Command::Version),
            Flag::Config => config_file = (!value.is_empty()).then_some(value),
            Flag::Test => test_only = value == "true",
            Flag::Signal => signal = Some(value),
            _ => {
                set(&mut opts, flag, name, &value)?;
                flags.push((flag, name.to_string(), value));
            }
        }
    }
    if let Some(rest) = args.get(i) {
        return Err(CliError(format!("unrecognized command: \"{rest}\"")));
    }
    if let Some(sig) = signal {
        let mut parts = sig.split('=');
        let command = parts.next().unwrap_or_default().to_string();
        let target = parts.next().map(str::to_string);
        let rest: Vec<&str> = parts.collect();
        if !rest.is_empty() {
            return Err(CliError(format!(
                "invalid signal parameters: [{}]",
                rest.join(" ")
            )));
        }
        return Ok(Command::Signal { command, target });
    }
    if test_only && config_file.is_none() {
        return Err(CliError(
            "must specify [-c, --config] option to check configuration file syntax".into(),
        ));
    }
    Ok(Command::Run {
        opts: Box::new(opts),
        config_file,
        test_only,
        flags: Flags(flags),
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The usage text for `-h`, in nats-server's layout, listing what natsd
/// implements today.
pub const USAGE: &str = "
Usage: natsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to natsd process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/natsd.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_listen <url>       Same as --cluster
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version

Not supported yet (refused): -s/--syslog, -r/--remote_syslog,
JetStream (-js, -sd) and profiling (--profile) flags.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse_args(args.iter().copied()).unwrap() {
            Command::Run { opts, .. } => *opts,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn go_flag_forms() {
        for form in [
            &["-p", "1234"][..],
            &["-p=1234"],
            &["--port", "1234"],
            &["--port=1234"],
        ] {
            assert_eq!(run(form).port, 1234);
        }
        let o = run(&[
            "-a",
            "127.0.0.1",
            "-DV",
            "--user",
            "u",
            "--pass=p",
            "-T=false",
        ]);
        assert_eq!(o.host, "127.0.0.1");
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(parse_args(["-h"]).unwrap(), Command::Help);
        assert_eq!(parse_args(["--version"]).unwrap(), Command::Version);
        assert_eq!(run(&["-m", "8222"]).http_port, Some(8222));
        assert_eq!(run(&["--http_port=-1"]).http_port, Some(0));
        assert_eq!(run(&["-m", "0"]).http_port, None);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_args(["--bogus"]).unwrap_err().0,
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            parse_args(["-p"]).unwrap_err().0,
            "flag needs an argument: -p"
        );
        assert!(parse_args(["-p", "abc"]).is_err());
        let o = run(&["--tlsverify", "--tlscert", "c.pem", "--tlskey=k.pem"]);
        let t = o.tls.expect("TLS on");
        assert!(t.verify);
        assert_eq!(
            (t.cert_file.as_str(), t.key_file.as_str()),
            ("c.pem", "k.pem")
        );
        assert_eq!(parse_args(["-js"]).unwrap_err().0, "not supported yet: -js");
        assert_eq!(
            parse_args(["-p", "1", "foo"]).unwrap_err().0,
            "unrecognized command: \"foo\""
        );
        assert_eq!(
            parse_args(["-t"]).unwrap_err().0,
            "must specify [-c, --config] option to check configuration file syntax"
        );
        assert_eq!(
            parse_args(["-sl", "a=b=c=d"]).unwrap_err().0,
            "invalid signal parameters: [c d]"
        );
        assert_eq!(
            parse_args(["--log_size_limit", "1MB"]).unwrap_err().0,
            "invalid value \"1MB\" for flag -log_size_limit: parse error"
        );
        assert_eq!(
            parse_args(["-m", "x"]).unwrap_err().0,
            "invalid value \"x\" for flag -m: parse error"
        );
        assert!(parse_args(["--http_port=70000"]).is_err());
    }

    #[test]
    fn config_test_and_signal() {
        match parse_args(["-c", "a.conf", "-t", "-p", "5000", "-DVV"]).unwrap() {
            Command::Run {
                opts,
                config_file,
                test_only,
                flags,
            } => {
                assert_eq!(config_file.as_deref(), Some("a.conf"));
                assert!(test_only);
                assert_eq!(opts.port, 5000);
                assert!(opts.debug && opts.trace && opts.trace_verbose);
                // Flags win over what a file set.
                let mut file = Options {
                    port: 1,
                    debug: false,
                    max_payload: 7,
                    ..Options::default()
                };
                flags.apply(&mut file);
                assert_eq!((file.port, file.debug, file.max_payload), (5000, true, 7));
            }
            c => panic!("{c:?}"),
        }
        assert_eq!(
            parse_args(["-sl=ldm=/var/run/nats/nats.pid"]).unwrap(),
            Command::Signal {
                command: "ldm".into(),
                target: Some("/var/run/nats/nats.pid".into())
            }
        );
        assert_eq!(
            parse_args(["--signal", "reload"]).unwrap(),
            Command::Signal {
                command: "reload".into(),
                target: None
            }
        );
        assert_eq!(SignalCommand::parse("ldm"), Some(SignalCommand::LameDuck));
        assert_eq!(
            SignalCommand::parse("stop").map(SignalCommand::signal_name),
            Some("SIGKILL")
        );
        assert_eq!(SignalCommand::parse("bogus"), None);
    }

    #[test]
    fn logging_and_files() {
        let o = run(&[
            "-P",
            "/tmp/n.pid",
            "-l=/tmp/n.log",
            "--log_size_limit",
            "0x400",
            "--max_traced_msg_len",
            "10",
            "--ports_file_dir",
            "/tmp",
            "--client_advertise",
            "h:1",
            "--logtime_utc",
            "-VV",
            "-T=false",
        ]);
        assert_eq!(
            (o.pid_file.as_str(), o.log_file.as_str()),
            ("/tmp/n.pid", "/tmp/n.log")
        );
        assert_eq!((o.log_size_limit, o.max_traced_msg_len), (1024, 10));
        assert_eq!(
            (o.ports_file_dir.as_str(), o.client_advertise.as_str()),
            ("/tmp", "h:1")
        );
        assert!(o.logtime_utc && o.trace && o.trace_verbose && !o.debug && !o.logtime);
        assert_eq!(run(&["-p", "0"]).port, 4222);
        assert_eq!(run(&["-p", "-1"]).port, 0);
    }

    #[test]
    fn cluster_flags() {
        let o = run(&[
            "--cluster",
            "nats://ruser:rpass@127.0.0.1:6222",
            "--cluster_name=C1",
            "--routes",
            "nats://127.0.0.1:6223, nats-route://h:6224",
            "--no_advertise",
            "--cluster_advertise",
            "10.0.0.1:6222",
            "--connect_retries=2",
        ]);
        let c = o.cluster.unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", Some(6222)));
        assert_eq!(c.name.as_deref(), Some("C1"));
        assert_eq!(
            (c.user.as_deref(), c.password.as_deref()),
            (Some("ruser"), Some("rpass"))
        );
        let ports: Vec<u16> = c.routes.iter().map(|r| r.port).collect();
        assert_eq!(ports, [6223, 6224]);
        assert!(c.no_advertise);
        assert_eq!(c.advertise, "10.0.0.1:6222");
        assert_eq!(c.connect_retries, 2);
        let c = run(&["--cluster_listen", "nats://0.0.0.0:-1"])
            .cluster
            .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("0.0.0.0", Some(0)));
        assert_eq!(
            parse_args(["--cluster", "bogus"]).unwrap_err().0,
            "invalid value \"bogus\" for flag -cluster: parse error"
        );
        assert_eq!(
            parse_args(["--routes", "127.0.0.1:1"]).unwrap_err().0,
            "invalid value \"127.0.0.1:1\" for flag -routes: parse error"
        );
    }
}
