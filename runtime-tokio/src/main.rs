//! `natsd-tokio`: natsd on tokio, one current-thread runtime per core.

fn main() {
    let server = natsd_host::startup("tokio");
    if let Err(e) = natsd_tokio::run_on_workers(server, natsd_host::worker_threads()) {
        log::error!("{e}");
        std::process::exit(1);
    }
}
