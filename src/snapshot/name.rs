//! Snapshot file names: `network-snapshot-<kimg:06>.safetensors` as the reference numbers its
//! pickles (`network-snapshot-000123.pkl`), built and parsed only here.

use std::path::{Path, PathBuf};

const PREFIX: &str = "network-snapshot-";
const EXTENSION: &str = ".safetensors";

/// The file name of the snapshot taken after `kimg` thousand images.
pub fn snapshot_file_name(kimg: u64) -> String {
    format!("{PREFIX}{kimg:06}{EXTENSION}")
}

/// The kimg in a snapshot's file name, kimg's (`.safetensors`) or the reference's (`.pkl`).
pub fn snapshot_kimg(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix(PREFIX)?.split('.').next()?;
    digits.parse().ok()
}

/// kimg's snapshots in `run_dir`, oldest first (the names sort by kimg).
pub fn snapshots_in(run_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(run_dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                name.ends_with(EXTENSION) && snapshot_kimg(&name).is_some()
            })
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The newest snapshot in `run_dir` (`None` without snapshots or without the directory).
pub fn latest_snapshot(run_dir: &Path) -> Option<PathBuf> {
    snapshots_in(run_dir).ok()?.pop()
}

/// The kimg of the newest snapshot in `run_dir` (`None` without snapshots).
pub fn latest_snapshot_kimg(run_dir: &Path) -> Option<u64> {
    snapshot_kimg(&latest_snapshot(run_dir)?.file_name()?.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_list_in_kimg_order() {
        assert_eq!(
            snapshot_file_name(12),
            "network-snapshot-000012.safetensors"
        );
        assert_eq!(snapshot_kimg(&snapshot_file_name(12)), Some(12));
        assert_eq!(snapshot_kimg("network-snapshot-000340.pkl"), Some(340));
        assert_eq!(snapshot_kimg("network-snapshot-latest.pkl"), None);
        assert_eq!(snapshot_kimg("fakes000012.png"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest_snapshot(dir.path()), None);
        assert_eq!(latest_snapshot_kimg(dir.path()), None);
        for name in [
            snapshot_file_name(20),
            snapshot_file_name(4),
            "network-snapshot-000030.safetensors.tmp".into(),
            "fakes000040.png".into(),
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = snapshots_in(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [snapshot_file_name(4), snapshot_file_name(20)]);
        assert_eq!(
            latest_snapshot(dir.path()),
            Some(dir.path().join(snapshot_file_name(20)))
        );
        assert_eq!(latest_snapshot_kimg(dir.path()), Some(20));
    }
}
