//! Where log lines go: standard error, or the `log_file` (`-l`) opened for
//! appending (mode 0640), rotated by size like nats-server when
//! `log_size_limit` is set: once a write takes the file past the limit it
//! is renamed to `<file>.<YYYY>.<MM>.<DD>.<hh>.<mm>.<ss>.<nanoseconds>`
//! (trailing zeros of the nanoseconds dropped), a new file is started with
//! `Rotated log, backup saved as "<backup>"`, and with `log_max_num` the
//! oldest backups beyond `log_max_num - 1` are deleted (`Purged log file
//! "<name>"`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::files::go_io_error;

/// The log file in use, if any (standard error otherwise).
static FILE: Mutex<Option<LogFile>> = Mutex::new(None);

/// An open log file.
#[derive(Debug)]
pub struct LogFile {
    path: String,
    file: File,
    size: u64,
    limit: u64,
    max_num: u64,
}

fn open_append(path: &str) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl LogFile {
    /// Opens `path` for appending. Errors read like nats-server's
    /// `error opening file: open <path>: no such file or directory`.
    pub fn open(path: &str, limit: u64, max_num: u64) -> Result<LogFile, String> {
        let file = open_append(path)
            .map_err(|e| format!("error opening file: {}", go_io_error("open", path, &e)))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path: path.to_string(),
            file,
            size,
            limit,
            max_num,
        })
    }

    /// Appends one line; if that takes the file past the size limit,
    /// rotates and returns the messages to log into the new file.
    fn write(&mut self, line: &str, now: SystemTime) -> Vec<String> {
        if self.file.write_all(line.as_bytes()).is_ok() {
            self.size += line.len() as u64;
        }
        if self.limit > 0 && self.size > self.limit {
            return self.rotate(now);
        }
        Vec::new()
    }

    fn rotate(&mut self, now: SystemTime) -> Vec<String> {
        let backup = format!("{}.{}", self.path, backup_suffix(now));
        let mut msgs = Vec::new();
        if let Err(e) = std::fs::rename(&self.path, &backup) {
            // Keep writing to the current file; try again on the next line.
            msgs.push(format!(
                "Unable to rotate log file: {}",
                go_io_error("rename", &self.path, &e)
            ));
            self.size = 0;
            return msgs;
        }
        match open_append(&self.path) {
            Ok(f) => {
                self.file = f;
                self.size = 0;
            }
            Err(e) => msgs.push(format!(
                "Unable to reopen log file: {}",
                go_io_error("open", &self.path, &e)
            )),
        }
        msgs.push(format!("Rotated log, backup saved as \"{backup}\""));
        if self.max_num > 0 {
            msgs.extend(self.purge());
        }
        msgs
    }

    /// Deletes the oldest backups so that at most `max_num` files remain,
    /// the current one included.
    fn purge(&self) -> Vec<String> {
        let path = Path::new(&self.path);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        };
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!("{base}.");
        let mut backups: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.strip_prefix(&prefix).is_some_and(is_backup_suffix))
                    .collect()
            })
            .unwrap_or_default();
        // The suffix sorts by time except for the trimmed nanoseconds.
        backups.sort_by_key(|n| backup_sort_key(&n[prefix.len()..]));
        let keep = (self.max_num as usize).saturating_sub(1);
        let excess = backups.len().saturating_sub(keep);
        let mut msgs = Vec::new();
        for name in backups.into_iter().take(excess) {
            match std::fs::remove_file(dir.join(&name)) {
                Ok(()) => msgs.push(format!("Purged log file \"{name}\"")),
                Err(e) => msgs.push(format!(
                    "Unable to purge log file \"{name}\": {}",
                    crate::files::go_errno_text(&e)
                )),
            }
        }
        msgs
    }
}

/// `YYYY.MM.DD.hh.mm.ss.nnnnnnnnn` (UTC), nanoseconds without trailing zeros.
fn backup_suffix(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut s = format!(
        "{y:04}.{m:02}.{day:02}.{:02}.{:02}.{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        s.push('.');
        s.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    s
}

fn is_backup_suffix(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (6..=7).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn backup_sort_key(s: &str) -> (String, u32) {
    let parts: Vec<&str> = s.split('.').collect();
    let (date, nanos) = parts.split_at(6.min(parts.len()));
    let nanos = nanos
        .first()
        .map_or(0, |n| format!("{n:0<9}").parse().unwrap_or(0));
    (date.join("."), nanos)
}

/// Sends log output to `path` from now on (`None`: standard error).
pub fn set(file: Option<LogFile>) {
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = file;
}

/// Writes one finished log line. `format_info` turns a message into an
/// `[INF]` line, for the rotation messages.
pub(crate) fn write_line(line: &str, format_info: &dyn Fn(&str) -> String) {
    let mut guard = FILE.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_mut() {
        Some(f) => {
            let now = SystemTime::now();
            for msg in f.write(line, now) {
                let l = format_info(&msg);
                if f.file.write_all(l.as_bytes()).is_ok() {
                    f.size += l.len() as u64;
                }
            }
        }
        None => {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Reopens the log file (after an external rotation: SIGUSR1, `--signal
/// reopen`). Returns false if there is no log file or it cannot be opened
/// (the old handle is then kept).
pub fn reopen() -> bool {
    let mut guard = FILE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(f) = guard.as_mut() else {
        return false;
    };
    match open_append(&f.path) {
        Ok(file) => {
            f.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            f.file = file;
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn suffixes() {
        let t = UNIX_EPOCH + Duration::new(1_764_131_084, 211_642_326);
        assert_eq!(backup_suffix(t), "2025.11.26.04.24.44.211642326");
        assert_eq!(
            backup_suffix(UNIX_EPOCH + Duration::new(1_764_131_084, 500_000_000)),
            "2025.11.26.04.24.44.5"
        );
        assert_eq!(
            backup_suffix(UNIX_EPOCH + Duration::from_secs(1_764_131_084)),
            "2025.11.26.04.24.44"
        );
        assert!(is_backup_suffix("2025.11.26.04.24.44.5"));
        assert!(!is_backup_suffix("2025.11.26.04.24.44.5.gz"));
        assert!(
            backup_sort_key("2025.11.26.04.24.44.5") > backup_sort_key("2025.11.26.04.24.44.21")
        );
    }

    #[test]
    fn rotates_and_purges() {
        let dir = std::env::temp_dir().join(format!("natsd-logfile-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.log").display().to_string();
        let mut f = LogFile::open(&path, 100, 2).unwrap();
        let mut msgs = Vec::new();
        for i in 0..10u64 {
            let t = UNIX_EPOCH + Duration::from_secs(1_764_131_084 + i);
            msgs.extend(f.write(&format!("{:060}\n", i), t));
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"n.log".to_string()));
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("Rotated log, backup saved as \"")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("Purged log file \"n.log.2025.11.26.04.24.")),
            "{msgs:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
