//! `natsd-async-std`: natsd on async-std's executor, one worker per core.
//! async-std is unmaintained upstream; see the library docs.

fn main() {
    // Before anything else: async-std reads its pool size once, at first use.
    natsd_async_std::init_worker_threads();
    let server = natsd_host::startup("async-std");
    // The accept loop runs here; connections run on async-std's pool.
    if let Err(e) = futures::executor::block_on(natsd_async_std::run(server)) {
        log::error!("{e}");
        std::process::exit(1);
    }
}
