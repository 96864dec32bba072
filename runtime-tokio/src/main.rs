//! `natsd-tokio`: natsd on tokio's multi-threaded runtime, one worker per core.

fn main() {
    let server = natsd_host::startup("tokio");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(natsd_host::worker_threads())
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(natsd_tokio::run(server)) {
        log::error!("{e}");
        std::process::exit(1);
    }
}
