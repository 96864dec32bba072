//! `--signal <command>[=<target>]`: send a signal to a running server, as
//! `nats-server --signal` does (the receiving side is the runtimes' signal
//! handling).
//!
//! The target is a pid, the path of a pid file holding one, or a pid
//! prefix ending in `*` (every running process of this program whose pid
//! starts with it). Without a target, the one running process of this
//! program (same executable name, found in `/proc`) is used.
//!
//! Commands and signals: `stop` SIGKILL, `quit` SIGINT, `term` SIGTERM,
//! `reopen` SIGUSR1, `reload` SIGHUP, `ldm` SIGUSR2.

use natsd_core::cli::SignalCommand;

use crate::files::go_errno_text;

/// Sends `command` to `target`; `prog` is this program's name, used to
/// find running servers and in messages. Errors are nats-server's texts
/// (`invalid pid: x`, `unknown signal "x"`, `no <prog> processes running`,
/// `\nsignal "reload" 123: no such process`).
pub fn send(prog: &str, command: &str, target: Option<&str>) -> Result<(), String> {
    let pids = match target {
        None => {
            let pids = running(prog);
            match pids.len() {
                0 => return Err(format!("no {prog} processes running")),
                1 => pids,
                _ => {
                    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
                    return Err(format!(
                        "multiple {prog} processes running:\n{}",
                        list.join("\n")
                    ));
                }
            }
        }
        Some(t) => match t.strip_suffix('*') {
            Some(prefix) => {
                let pids: Vec<i32> = running(prog)
                    .into_iter()
                    .filter(|p| p.to_string().starts_with(prefix))
                    .collect();
                if pids.is_empty() {
                    return Err(format!("no {prog} processes matching {t} running"));
                }
                pids
            }
            None => {
                // A pid file if it can be read, else the pid itself.
                let text = std::fs::read_to_string(t).unwrap_or_else(|_| t.to_string());
                // Never 0 or negative: kill(2) would signal a whole group.
                let pid = text.parse::<i32>().ok().filter(|p| *p > 0);
                vec![pid.ok_or_else(|| format!("invalid pid: {text}"))?]
            }
        },
    };
    let Some(cmd) = SignalCommand::parse(command) else {
        return Err(format!("unknown signal \"{command}\""));
    };
    let sig = match cmd {
        SignalCommand::Stop => libc::SIGKILL,
        SignalCommand::Quit => libc::SIGINT,
        SignalCommand::Term => libc::SIGTERM,
        SignalCommand::Reopen => libc::SIGUSR1,
        SignalCommand::Reload => libc::SIGHUP,
        SignalCommand::LameDuck => libc::SIGUSR2,
    };
    let mut errors = String::new();
    for pid in pids {
        if let Err(e) = kill(pid, sig) {
            errors.push_str(&format!(
                "\nsignal \"{command}\" {pid}: {}",
                go_errno_text(&e)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Pids of the other running processes named `prog` (as `/proc/<pid>/comm`
/// shows it, cut to 15 bytes), in ascending order.
fn running(prog: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let name: String = prog.chars().take(15).collect();
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| pid != me)
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim_end_matches('\n') == name)
                })
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

#[allow(unsafe_code)]
fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) takes two integers and reads no memory of ours.
    let r = unsafe { libc::kill(pid, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors() {
        assert_eq!(
            send("natsd-x", "reload", Some("12x")),
            Err("invalid pid: 12x".into())
        );
        assert_eq!(
            send("natsd-x", "reload", Some("/nonexistent/pid")),
            Err("invalid pid: /nonexistent/pid".into())
        );
        assert_eq!(
            send("natsd-x", "bogus", Some("1")),
            Err("unknown signal \"bogus\"".into())
        );
        assert_eq!(
            send("natsd-no-such-prog", "reload", None),
            Err("no natsd-no-such-prog processes running".into())
        );
        // The largest pid Linux allows is 2^22; this one does not exist.
        assert_eq!(
            send("natsd-x", "reload", Some("999999999")),
            Err("\nsignal \"reload\" 999999999: no such process".into())
        );
    }
}
