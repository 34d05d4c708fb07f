//! What a killed process wrote past the snapshot a session continues from: the temporary files of
//! the snapshots (and other files) it did not finish, the `stats.jsonl` lines of its later ticks, the `metric-*.jsonl`
//! lines of its later snapshots, and a line it was killed in the middle of. A session removes them
//! before it trains, so that every tick and every evaluation is in the logs once.

use std::path::Path;

use super::Trainer;
use super::tick::EVENTS_CONTEXT;
use crate::run_files::{STATS_FILE, STATUS_FILE, TRAINING_OPTIONS_FILE, metric_log};
use crate::snapshot::name::snapshot_kimg;
use crate::train::error::{TrainError, io_error};
use crate::train::iteration::Progress;

impl Trainer {
    /// Remove the unfinished files of killed training processes: snapshots, grids, curves, logs,
    /// the options and the status (not the run record, which `kimg run` writes). The run directory
    /// is this process's: `kimg run` locks it, `--outdir` makes a new one.
    pub(super) fn remove_unfinished_files(&mut self) -> Result<(), TrainError> {
        let written_by_training = |name: &str| {
            snapshot_kimg(name).is_some()
                || [".png", ".svg", ".jsonl"].iter().any(|e| name.ends_with(e))
                || [TRAINING_OPTIONS_FILE, STATUS_FILE].contains(&name)
        };
        let removed = crate::fsutil::remove_stale_temporaries(&self.run_dir, written_by_training)
            .map_err(io_error("removing unfinished files"))?;
        for path in removed {
            self.write_log(&format!(
                "Removed {}, which a killed process did not finish writing.",
                path.display()
            ));
        }
        Ok(())
    }

    /// Cut the logs back to the snapshot this session continues from (`None`: a fresh start, which
    /// keeps nothing), rewriting each changed file atomically. A fresh start that dropped lines
    /// also supersedes the killed process's TensorBoard events.
    pub(super) fn supersede_logs(&mut self, from: Option<Progress>) -> Result<(), TrainError> {
        #[expect(clippy::cast_precision_loss, reason = "tick counts are small")]
        let last_tick = from.map(|p| p.cur_tick as f64);
        let mut dropped = keep_lines(&self.run_dir.join(STATS_FILE), |line| {
            let tick = line["Progress/tick"]["mean"].as_f64();
            tick.zip(last_tick).is_some_and(|(tick, last)| tick <= last)
        })?;
        let last_kimg = from.map(|p| p.cur_nimg / 1000);
        for metric in self.spec.train.metrics.clone() {
            dropped += keep_lines(&self.run_dir.join(metric_log(&metric)), |line| {
                let kimg = line["snapshot_pkl"].as_str().and_then(snapshot_kimg);
                kimg.zip(last_kimg).is_some_and(|(kimg, last)| kimg <= last)
            })?;
        }
        if dropped > 0 {
            self.write_log(&format!(
                "Dropped {dropped} log lines that a killed process wrote past this point."
            ));
            if from.is_none() {
                self.events.session_start(0);
                self.events.flush().map_err(io_error(EVENTS_CONTEXT))?;
            }
        }
        Ok(())
    }
}

/// Keep the complete lines of the JSON-lines file `path` that `keep` accepts; returns how many
/// were dropped (a missing file has none).
fn keep_lines(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<usize, TrainError> {
    let context = || format!("cutting {} back to the snapshot", path.display());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(io_error(context())(error)),
    };
    let total = text.split_inclusive('\n').count();
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| {
            line.ends_with('\n')
                && serde_json::from_str::<serde_json::Value>(line).is_ok_and(|value| keep(&value))
        })
        .collect();
    let dropped = total - kept.split_inclusive('\n').count();
    if dropped > 0 {
        crate::fsutil::atomic_write(path, kept.as_bytes()).map_err(io_error(context()))?;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::keep_lines;

    #[test]
    fn later_and_torn_lines_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.jsonl");
        let line = |tick: u32| format!("{{\"Progress/tick\": {{\"mean\": {tick}}}}}\n");
        let kept = format!("{}{}", line(0), line(1));
        std::fs::write(&path, format!("{kept}{}{{\"Progress/ti", line(2))).unwrap();
        let keep = |value: &serde_json::Value| value["Progress/tick"]["mean"].as_f64() <= Some(1.0);
        assert_eq!(keep_lines(&path, keep).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
        assert_eq!(keep_lines(&path, keep).unwrap(), 0);
        assert_eq!(keep_lines(&dir.path().join("none.jsonl"), keep).unwrap(), 0);
    }
}
