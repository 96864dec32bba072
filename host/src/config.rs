//! The configuration file on a real file system: reading it (includes
//! relative to the including file, `$VAR` from the process environment),
//! merging the command-line flags over it, and `-t`.

use natsd_core::cli::Flags;
use natsd_core::config::{self, resolve_include_path, Loaded, Loader};
use natsd_core::Options;

use crate::files::go_io_error;

/// A [`Loader`] reading included files from disk, relative to the
/// directory of the file that includes them.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, including_file: &str, path: &str) -> Result<(String, String), String> {
        let name = resolve_include_path(including_file, path);
        read(&name).map(|text| (name, text))
    }
}

/// Reads a file as text, with Go's error texts (`open x: no such file or
/// directory`, `read x: is a directory`). Invalid UTF-8 is replaced.
pub fn read(path: &str) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            let op = if e.raw_os_error() == Some(libc::EISDIR) {
                "read"
            } else {
                "open"
            };
            Err(go_io_error(op, path, &e))
        }
    }
}

/// The process environment, for `$VAR` references.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Options from a configuration file, with the command-line flags applied
/// over them, plus what [`config::load`] reported. Not validated.
///
/// The error is the text to print after `<program>: `: a read error, or
/// `file:line:col: message`.
pub fn load_file(file: &str, flags: &Flags) -> Result<(Options, Loaded), String> {
    load_text(&read(file)?, file, flags)
}

/// [`load_file`] for text already read.
pub fn load_text(text: &str, file: &str, flags: &Flags) -> Result<(Options, Loaded), String> {
    let mut opts = Options::default();
    let loaded =
        config::load(text, file, &mut FsLoader, &env, &mut opts).map_err(|e| e.to_string())?;
    flags.apply(&mut opts);
    Ok((opts, loaded))
}

/// What the server runs with.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Options from the file (if any) and the flags, validated.
    pub opts: Options,
    /// The configuration file and its digest (`sha256:…`), if one was given.
    pub config: Option<(String, String)>,
}

/// The outcome of [`resolve`] that ends the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `-t` succeeded: print this line to standard error, exit 0.
    Valid(String),
    /// Print this to standard error, exit 1.
    Fail(String),
}

/// Turns the command line into the options to run with: the file (if
/// `config_file`) with the flags over it, or the flags alone; then
/// [`config::validate`]. With `test_only`, always ends in [`Exit`].
/// Warnings are printed to standard error here (before any log line, as
/// nats-server does).
pub fn resolve(
    prog: &str,
    flag_opts: Options,
    config_file: Option<String>,
    test_only: bool,
    flags: &Flags,
) -> Result<Resolved, Exit> {
    let fail = |msg: String| Exit::Fail(format!("{prog}: {msg}"));
    let (opts, config) = match config_file {
        Some(file) => {
            let text = read(&file).map_err(fail)?;
            // Like nats-server, a configuration error is followed by a blank line.
            let (opts, loaded) =
                load_text(&text, &file, flags).map_err(|e| fail(format!("{e}\n")))?;
            let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
            if test_only && !warnings.is_empty() {
                return Err(fail(format!("{}\n", warnings.join("\n"))));
            }
            for w in &warnings {
                eprintln!("{w}");
            }
            (opts, Some((file, loaded.digest)))
        }
        None => (flag_opts, None),
    };
    config::validate(&opts).map_err(fail)?;
    if test_only {
        let (file, digest) = config.unwrap_or_default();
        return Err(Exit::Valid(format!(
            "{prog}: configuration file {file} is valid ({digest})"
        )));
    }
    Ok(Resolved { opts, config })
}
