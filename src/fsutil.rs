//! File-system helpers shared by everything that writes state: atomic replacement, and the
//! removal of what an atomic replacement leaves behind when its process is killed.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk, and renamed over `path`, so readers see the old or the new content, never a
/// torn one, and a crash loses nothing already written.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_write_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)
    })
}

/// [`atomic_write`] for writers that want a path: `write` creates the temporary file it is given,
/// which is then flushed to disk and renamed over `path`.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(temporary_name(&name, std::process::id()));
    let result = (|| {
        write(&tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file of process `pid` replacing `name`: `.<name>.tmp<pid>`.
fn temporary_name(name: &str, pid: u32) -> String {
    format!(".{name}.tmp{pid}")
}

/// The file name a temporary file named `temporary` replaces, and the process that wrote it.
fn temporary_target(temporary: &str) -> Option<(&str, u32)> {
    let (name, pid) = temporary.strip_prefix('.')?.rsplit_once(".tmp")?;
    Some((name, pid.parse().ok()?))
}

/// Remove from `dir` the temporary files of [`atomic_write`]s that other processes (killed ones:
/// the caller makes sure no live one writes there) left behind while replacing files that `owned`
/// accepts by name. Returns the files removed.
pub fn remove_stale_temporaries(
    dir: &Path,
    owned: impl Fn(&str) -> bool,
) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let stale = path
            .file_name()
            .and_then(|name| temporary_target(&name.to_string_lossy()).map(|(n, p)| (owned(n), p)))
            .is_some_and(|(owned, pid)| owned && pid != std::process::id());
        if stale {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::{atomic_write, remove_stale_temporaries, temporary_name};

    #[test]
    fn stale_temporaries_of_owned_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let ours = temporary_name("a.bin", std::process::id());
        let names = [
            temporary_name("a.bin", 1),
            temporary_name("b.txt", 1),
            ours.clone(),
            "a.bin".into(),
            ".a.bin.tmpx".into(),
        ];
        for name in &names {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let removed = remove_stale_temporaries(dir.path(), |n| n.ends_with(".bin")).unwrap();
        assert_eq!(removed, [dir.path().join(&names[0])]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = names[1..].to_vec();
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
