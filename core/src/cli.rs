//! nats-server's command line, read with Go `flag` syntax: `-p 4222`,
//! `-p=4222`, `--port 4222`, `--port=4222`; boolean flags take no value or
//! `=true`/`=false`. A pure function of the argument list.

use crate::options::Options;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a server with these options.
    Run(Box<Options>),
    /// Print usage and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// A command line error: print it and the usage, exit 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy)]
enum Flag {
    Addr,
    Port,
    Name,
    Debug,
    Trace,
    DebugTrace,
    LogTime,
    User,
    Pass,
    Auth,
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
    ("VV", Flag::Trace),
    ("DV", Flag::DebugTrace),
    ("DVV", Flag::DebugTrace),
    ("T", Flag::LogTime),
    ("logtime", Flag::LogTime),
    ("user", Flag::User),
    ("pass", Flag::Pass),
    ("auth", Flag::Auth),
    ("h", Flag::Help),
    ("help", Flag::Help),
    ("v", Flag::Version),
    ("version", Flag::Version),
];

/// Flags nats-server has that natsd does not implement yet: refused by name
/// rather than silently ignored.
const NOT_YET: &[&str] = &[
    "P", "pid", "m", "http_port", "ms", "https_port", "c", "config", "t", "sl", "signal", "client_advertise",
    "ports_file_dir", "l", "log", "s", "syslog", "r", "remote_syslog", "log_size_limit", "max_traced_msg_len", "js",
    "jetstream", "sd", "store_dir", "tls", "tlscert", "tlskey", "tlsverify", "tlscacert", "routes", "cluster",
    "cluster_name", "no_advertise", "cluster_advertise", "connect_retries", "cluster_listen", "profile", "help_tls",
];

impl Flag {
    fn is_bool(self) -> bool {
        matches!(self, Flag::Debug | Flag::Trace | Flag::DebugTrace | Flag::LogTime | Flag::Help | Flag::Version)
    }
}

/// Reads the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut opts = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(CliError(format!("unexpected argument: {arg}")));
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
                    CliError(format!("invalid boolean value \"{v}\" for -{name}: parse error"))
                })?,
            }
            .to_string()
        } else {
            match inline {
                Some(v) => v,
                None => {
                    let v = args.get(i).ok_or_else(|| CliError(format!("flag needs an argument: -{name}")))?;
                    i += 1;
                    v.clone()
                }
            }
        };
        match flag {
            Flag::Help => return Ok(Command::Help),
            Flag::Version => return Ok(Command::Version),
            Flag::Addr => opts.host = value,
            Flag::Port => {
                opts.port = value
                    .parse()
                    .map_err(|_| CliError(format!("invalid value \"{value}\" for flag -{name}: parse error")))?
            }
            Flag::Name => opts.server_name = Some(value),
            Flag::Debug => opts.debug = value == "true",
            Flag::Trace => opts.trace = value == "true",
            Flag::DebugTrace => {
                opts.debug = value == "true";
                opts.trace = opts.debug;
            }
            Flag::LogTime => opts.logtime = value == "true",
            Flag::User => opts.user = Some(value),
            Flag::Pass => opts.password = Some(value),
            Flag::Auth => opts.token = Some(value),
        }
    }
    if let Some(rest) = args.get(i) {
        return Err(CliError(format!("unexpected argument: {rest}")));
    }
    opts.validate().map_err(CliError)?;
    Ok(Command::Run(Box::new(opts)))
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

Logging Options:
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse_args(args.iter().copied()).unwrap() {
            Command::Run(o) => *o,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn go_flag_forms() {
        for form in [&["-p", "1234"][..], &["-p=1234"], &["--port", "1234"], &["--port=1234"]] {
            assert_eq!(run(form).port, 1234);
        }
        let o = run(&["-a", "127.0.0.1", "-DV", "--user", "u", "--pass=p", "-T=false"]);
        assert_eq!(o.host, "127.0.0.1");
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(parse_args(["-h"]).unwrap(), Command::Help);
        assert_eq!(parse_args(["--version"]).unwrap(), Command::Version);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_args(["--bogus"]).unwrap_err().0, "flag provided but not defined: -bogus");
        assert_eq!(parse_args(["-p"]).unwrap_err().0, "flag needs an argument: -p");
        assert!(parse_args(["-p", "abc"]).is_err());
        assert_eq!(parse_args(["-c", "x.conf"]).unwrap_err().0, "not supported yet: -c");
    }
}
