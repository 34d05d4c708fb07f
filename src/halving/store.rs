//! Successive halving on the shared file system, in the experiment directory `runs/<experiment>/`:
//!
//! * `halving.json` — the roster: the rule, the deciding metric and the sweep's runs (hash and
//!   directory name), written by `kimg run` before any worker starts;
//! * `decisions.jsonl` — the log: every arrival at a rung and every failure (the events of
//!   [`Ladder`]), each followed by the decisions it caused, timestamped. The events alone decide:
//!   replaying them in order rebuilds the ladder and gives the same decisions;
//! * `halving.lock` — an OS file lock held while an event is decided and logged, so that workers
//!   on several nodes decide one at a time;
//! * `decision.json` in each run directory ([`RunDecision`]) — a run's latest decision, rewritten
//!   atomically for every run a decision is about.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use super::rule::{Decision, Event, Ladder, Rule};
use crate::fsutil::atomic_write;
use crate::metrics::report::{ReportMetric, Standing};
use crate::run::decision::RunDecision;
use crate::run_files::{DECISIONS_LOG, HALVING_LOCK, HALVING_ROSTER};

/// Why a halving file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HalvingError {
    /// A file could not be read, written or locked.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The roster is not valid JSON of the expected shape.
    #[error("{}: {message}", .path.display())]
    BadRoster {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HalvingError + '_ {
    move |source| HalvingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One run of the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterRun {
    /// Its identity hash.
    pub hash: String,
    /// Its directory's name in the experiment directory.
    pub dir: String,
}

/// The content of `halving.json`: who takes part and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The deciding metric (see [`ReportMetric::parse`]).
    pub metric: String,
    /// The rule.
    pub rule: Rule,
    /// The sweep's runs.
    pub runs: Vec<RosterRun>,
}

impl Roster {
    /// Read `experiment_dir/halving.json` (`Ok(None)` when absent).
    pub fn read(experiment_dir: &Path) -> Result<Option<Roster>, HalvingError> {
        let path = experiment_dir.join(HALVING_ROSTER);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(HalvingError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| HalvingError::BadRoster {
                path,
                message: e.to_string(),
            })
    }

    /// Write `experiment_dir/halving.json` atomically.
    pub fn write(&self, experiment_dir: &Path) -> Result<(), HalvingError> {
        let path = experiment_dir.join(HALVING_ROSTER);
        std::fs::create_dir_all(experiment_dir).map_err(io_error(experiment_dir))?;
        let text = serde_json::to_string_pretty(self).expect("rosters serialise");
        atomic_write(&path, text.as_bytes()).map_err(io_error(&path))
    }

    /// The hash of the run whose directory is named `dir`.
    pub fn hash_of(&self, dir: &str) -> Option<&str> {
        self.runs
            .iter()
            .find(|r| r.dir == dir)
            .map(|r| r.hash.as_str())
    }

    /// The directory name of run `hash`.
    fn dir_of(&self, hash: &str) -> Option<&str> {
        self.runs
            .iter()
            .find(|r| r.hash == hash)
            .map(|r| r.dir.as_str())
    }

    /// An empty ladder of this roster.
    fn ladder(&self) -> Ladder {
        Ladder::new(
            self.rule.clone(),
            ReportMetric::parse(&self.metric),
            self.runs.iter().map(|r| r.hash.clone()),
        )
    }
}

/// One line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogLine {
    /// A run reached a rung with its snapshot at `kimg`.
    Arrival {
        /// When.
        time: DateTime<Local>,
        /// The run's hash.
        run: String,
        /// The rung's index.
        rung: usize,
        /// The rung in kimg.
        rung_kimg: u64,
        /// The snapshot that reached it.
        kimg: u64,
        /// The best value up to that snapshot (`None`: no value).
        value: Option<f64>,
        /// Where the best value was first reached.
        value_kimg: Option<f64>,
        /// The latest value (`None`: none, or NaN).
        latest: Option<f64>,
    },
    /// A run failed for good.
    Failure {
        /// When.
        time: DateTime<Local>,
        /// The run's hash.
        run: String,
    },
    /// A decision an event caused: the run's hash and what its decision file holds.
    Decision {
        /// The run's hash.
        run: String,
        /// The decision.
        #[serde(flatten)]
        decision: RunDecision,
    },
}

impl LogLine {
    /// The ladder event of an arrival or failure line.
    fn event(&self) -> Option<Event> {
        match self {
            LogLine::Arrival {
                run,
                rung,
                value,
                value_kimg,
                latest,
                ..
            } => Some(Event::Arrived {
                run: run.clone(),
                rung: *rung,
                standing: value.map(|best| Standing {
                    best,
                    best_kimg: value_kimg.unwrap_or(0.0),
                    latest: latest.unwrap_or(f64::NAN),
                }),
            }),
            LogLine::Failure { run, .. } => Some(Event::Failed { run: run.clone() }),
            LogLine::Decision { .. } => None,
        }
    }
}

/// Every line of `experiment_dir/decisions.jsonl` (unreadable lines skipped: a line being
/// appended by a worker on another node).
pub fn read_log(experiment_dir: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(experiment_dir.join(DECISIONS_LOG))
        .map(|text| {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The ladder of `roster` after replaying the events of `log`, and the decisions they caused.
pub fn replay(roster: &Roster, log: &[LogLine]) -> (Ladder, Vec<Decision>) {
    let mut ladder = roster.ladder();
    let decisions = log
        .iter()
        .filter_map(LogLine::event)
        .flat_map(|event| ladder.apply(&event))
        .collect();
    (ladder, decisions)
}

/// The experiment's halving lock, held until dropped.
struct ExperimentLock(File);

impl ExperimentLock {
    /// Wait for the lock of `experiment_dir`.
    fn acquire(experiment_dir: &Path) -> Result<ExperimentLock, HalvingError> {
        let path = experiment_dir.join(HALVING_LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(ExperimentLock(file))
    }
}

impl Drop for ExperimentLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// What an arriving run brings: its rung and its score there.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// The run's hash.
    pub run: String,
    /// The rung's index.
    pub rung: usize,
    /// The snapshot that reached it, in kimg.
    pub kimg: u64,
    /// Its score (`None`: no value).
    pub standing: Option<Standing>,
}

/// Decide `arrival` under the experiment's lock: replay the log, apply the arrival, append it
/// and its decisions to the log, and write the decision file of every run decided about. An
/// arrival the ladder does not expect (a repeat after a crash) is not logged and decides nothing.
pub fn arrive(
    experiment_dir: &Path,
    roster: &Roster,
    arrival: &Arrival,
) -> Result<(Ladder, Vec<Decision>), HalvingError> {
    let standing = arrival.standing;
    let line = LogLine::Arrival {
        time: Local::now(),
        run: arrival.run.clone(),
        rung: arrival.rung,
        rung_kimg: roster.rule.rungs.get(arrival.rung).copied().unwrap_or(0),
        kimg: arrival.kimg,
        value: standing.map(|s| s.best),
        value_kimg: standing.map(|s| s.best_kimg),
        latest: standing.map(|s| s.latest).filter(|v| !v.is_nan()),
    };
    decide(experiment_dir, roster, &line)
}

/// Record that run `hash` failed for good, under the experiment's lock (its place at the next
/// rung counts as arrived without a value, so the rung can complete).
pub fn record_failure(
    experiment_dir: &Path,
    roster: &Roster,
    hash: &str,
) -> Result<(Ladder, Vec<Decision>), HalvingError> {
    let line = LogLine::Failure {
        time: Local::now(),
        run: hash.to_string(),
    };
    decide(experiment_dir, roster, &line)
}

/// Apply the event of `line` under the lock; log it with its decisions when it decided anything.
fn decide(
    experiment_dir: &Path,
    roster: &Roster,
    line: &LogLine,
) -> Result<(Ladder, Vec<Decision>), HalvingError> {
    let _lock = ExperimentLock::acquire(experiment_dir)?;
    let (mut ladder, _) = replay(roster, &read_log(experiment_dir));
    let event = line.event().expect("arrivals and failures are events");
    let expected = match &event {
        Event::Arrived { run, rung, .. } => ladder.next_rung(run) == Some(*rung),
        Event::Failed { run } => ladder.next_rung(run).is_some(),
    };
    if !expected {
        return Ok((ladder, Vec::new()));
    }
    let decisions = ladder.apply(&event);
    let time = Local::now();
    let mut text = serde_json::to_string(line).expect("log lines serialise") + "\n";
    for decision in &decisions {
        let decided = LogLine::Decision {
            run: decision.run.clone(),
            decision: run_decision(roster, decision, time),
        };
        text.push_str(&(serde_json::to_string(&decided).expect("log lines serialise") + "\n"));
    }
    let path = experiment_dir.join(DECISIONS_LOG);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(io_error(&path))?;
    for decision in &decisions {
        write_decision_file(experiment_dir, roster, decision, time)?;
    }
    Ok((ladder, decisions))
}

/// Write the decision file of the run `decision` is about.
fn write_decision_file(
    experiment_dir: &Path,
    roster: &Roster,
    decision: &Decision,
    time: DateTime<Local>,
) -> Result<(), HalvingError> {
    let Some(dir) = roster.dir_of(&decision.run) else {
        return Ok(());
    };
    let run_dir = experiment_dir.join(dir);
    run_decision(roster, decision, time)
        .write(&run_dir)
        .map_err(io_error(&run_dir))
}

/// What a run's decision file says of `decision`, taken at `time`.
fn run_decision(roster: &Roster, decision: &Decision, time: DateTime<Local>) -> RunDecision {
    RunDecision {
        time,
        metric: roster.metric.clone(),
        rung: decision.rung,
        rung_kimg: roster.rule.rungs.get(decision.rung).copied().unwrap_or(0),
        verdict: decision.verdict,
        value: decision.value,
        rank: decision.rank,
        of: decision.of,
        rule: decision.rule.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{LogLine, RunDecision};
    use crate::run::decision::Verdict;

    #[test]
    fn a_decision_line_reads_back_as_written_and_holds_the_decision_file() {
        let decision = RunDecision {
            time: chrono::Local::now(),
            metric: "fid50k_full".into(),
            rung: 1,
            rung_kimg: 3000,
            verdict: Verdict::Stopped,
            value: Some(12.5),
            rank: 3,
            of: 5,
            rule: "top 1 of 5 (eta 3)".into(),
        };
        let line = LogLine::Decision {
            run: "0123456789ab".into(),
            decision: decision.clone(),
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(serde_json::from_str::<LogLine>(&text).unwrap(), line);
        // The line holds the decision file's keys at its top level, beside its kind and run.
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let file = serde_json::to_value(&decision).unwrap();
        for (key, value) in file.as_object().unwrap() {
            assert_eq!(&json[key], value, "{key}");
        }
        assert_eq!(json["kind"], "decision");
        assert_eq!(json["run"], "0123456789ab");
    }
}
