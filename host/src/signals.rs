//! Signals, handled the same way for every runtime: one thread waits for
//! them (signal-hook) and acts on the shared [`Server`]. What each does is
//! nats-server's: SIGHUP reloads the configuration file, SIGUSR1 reopens
//! the log file, SIGUSR2 enters lame duck mode, SIGINT and SIGTERM shut down
//! (SIGTERM is ignored during lame duck mode, which ends the process itself).

use std::io;
use std::sync::Arc;
use std::time::Instant;

use natsd_core::config;
use natsd_core::lame_duck::Step;
use natsd_core::Server;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

/// Starts the signal thread.
pub fn install(server: Arc<Server>) -> io::Result<()> {
    // `$SYS.REQ.SERVER.<id>.RELOAD` runs the same reload as SIGHUP.
    let weak = Arc::downgrade(&server);
    server.set_reload_hook(Box::new(move || match weak.upgrade() {
        Some(server) => reload(&server),
        None => Err("server is gone".into()),
    }));
    let mut signals =
        signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        log::info!("Trapped \"hangup\" signal");
                        let _ = reload(&server);
                    }
                    SIGUSR1 => {
                        log::info!("Trapped \"user defined signal 1\" signal");
                        if crate::logfile::reopen() {
                            log::info!("File log re-opened");
                        }
                    }
                    SIGUSR2 => {
                        log::info!("Trapped \"user defined signal 2\" signal");
                        if !server.in_lame_duck() {
                            let server = server.clone();
                            let spawned = std::thread::Builder::new()
                                .name("lame-duck".into())
                                .spawn(move || lame_duck(&server));
                            if let Err(e) = spawned {
                                log::error!("Could not start lame duck mode: {e}");
                            }
                        }
                    }
                    SIGTERM if server.in_lame_duck() => {
                        log::info!("Trapped \"terminated\" signal, ignored in lame duck mode");
                    }
                    _ => {
                        crate::shutting_down(if sig == SIGTERM {
                            "terminated"
                        } else {
                            "interrupt"
                        });
                        std::process::exit(0);
                    }
                }
            }
        })?;
    Ok(())
}

/// Re-reads the configuration file and applies what may change at run
/// time; refuses the whole reload (keeping the old options) otherwise.
/// Failures are logged and returned (the `$SYS` RELOAD request answers
/// with them).
pub fn reload(server: &Server) -> Result<(), String> {
    let fail = |e: String| {
        log::error!("Failed to reload server configuration: {e}");
        Err(e)
    };
    let Some((file, _)) = crate::config_file() else {
        return fail("can only reload config when a file is provided using -c or --config".into());
    };
    let (new, loaded) = match crate::config::load_file(file, crate::cli_flags()) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if let Err(e) = config::validate(&new) {
        return fail(e);
    }
    // New certificates apply to connections accepted from now on; a file
    // that no longer reads refuses the whole reload.
    let tls_config = match crate::tls::load(&new) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let route_tls = match crate::tls::load_cluster(&new) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let old = server.options();
    match config::reload_diff(&old, &new) {
        Err(e) => fail(e),
        Ok(changed) => {
            for key in &changed {
                log::info!("{}", config::reload_log_line(key, &new));
            }
            crate::apply_logging(&new);
            server.reload(new);
            server.tls().install(tls_config);
            server.routes().install_tls(route_tls);
            log::info!("Reloaded server configuration ({})", loaded.digest);
            Ok(())
        }
    }
}

/// Runs lame duck mode to its end, then exits 0.
fn lame_duck(server: &Server) {
    let mut step = server.enter_lame_duck(Instant::now());
    while let Step::WaitUntil(at) = step {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        step = server.lame_duck_step(Instant::now());
    }
    crate::shutting_down("user defined signal 2");
    std::process::exit(0);
}
