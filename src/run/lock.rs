//! One worker per run: an advisory lock on `<run dir>/run.lock`.
//!
//! The lock is an OS file lock (`flock`), held by the training process for its whole life. The
//! kernel drops it when the process exits for any reason — `kill -9` and power loss included — so
//! a stale lock can never block a run: the next worker simply takes it. The file's content (pid,
//! host, time) only tells people and `kimg status` who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::run_files::LOCK_FILE;

/// A held run lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("run {} is locked by another worker ({holder})", .dir.display())]
    Held {
        /// The run directory.
        dir: PathBuf,
        /// What the holder wrote: `pid 123 on host at time`.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("locking {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// `pid <pid> on <host> since <time>` for this process.
fn holder_text() -> String {
    format!(
        "pid {} on {} since {}",
        std::process::id(),
        hostname(),
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
    )
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

fn open(dir: &Path) -> Result<(File, PathBuf), LockError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    Ok((file, path))
}

impl RunLock {
    /// Take the lock of run directory `dir` without waiting.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let (mut file, path) = open(dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", holder_text()));
        written.map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(RunLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Who holds the lock of `dir` right now (`None` when nobody does). Never blocks and never takes
/// the lock for longer than the check.
pub fn holder(dir: &Path) -> Option<String> {
    if !dir.join(LOCK_FILE).exists() {
        return None;
    }
    let (mut file, _) = open(dir).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Some(text.trim().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LockError, RunLock, holder};

    #[test]
    fn a_second_worker_is_refused_and_the_lock_is_free_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let held = holder(dir.path()).expect("held");
        assert!(
            held.contains(&format!("pid {}", std::process::id())),
            "{held}"
        );
        match RunLock::acquire(dir.path()) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder, held),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        RunLock::acquire(dir.path()).unwrap();
    }
}
