//! `natsd-mio`: natsd on mio, one event loop per core.

#![forbid(unsafe_code)]

fn main() {
    let server = natsd_host::startup("mio");
    let result = natsd_host::signals::install(server.clone()).and_then(|()| natsd_mio::run(server));
    if let Err(e) = result {
        log::error!("{e}");
        std::process::exit(1);
    }
}
