//! Asynchronous successive halving (ASHA) as a pure state machine: arrivals of runs at rungs go
//! in, in the order they happened; decisions (promote, pause, stop) come out. Nothing here reads
//! a file, so the decisions of a sweep are a function of its arrival log alone.
//!
//! # The rule
//! * A run's score at a rung is its [`Standing`] over the metric evaluations up to its first
//!   snapshot at or past the rung (best value so far, as FID is noisy); runs compare by
//!   [`ReportMetric::compare`], the best-run rule of `kimg report`, then by identity hash
//!   (ascending). A run with no value (missing, or only NaN) ranks after every run with one.
//! * With `n` runs arrived at a rung of `N` expected, the top `⌊n / eta⌋` are promoted (ASHA: a
//!   run is promoted at arrival if it ranks there, with at least `eta` runs arrived); an arrival
//!   outside it **pauses**. A later arrival can make a paused run promotable: it is then promoted
//!   (and resumed by the scheduler).
//! * `N` is the number of runs at the first rung, and at a later rung the number promoted at the
//!   previous one once that rung is complete (unknown before). When all `N` have arrived the rung
//!   is **complete**: exactly the top `keep(N) = min(N, max(⌊N / eta⌋, min_runs))` stay promoted.
//!   Paused runs outside them stop; a run promoted early that is now outside them is stopped too
//!   (its promotion is revoked, and its arrivals at later rungs no longer count), so the runs that
//!   continue past a complete rung are always exactly its top `keep(N)`.
//! * When `keep(N) = N` is already known (few runs left), every arrival is promoted at once.
//! * A run that fails for good counts as arrived, without a value, at the next rung it was
//!   eligible for, so rungs still complete.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::metrics::report::{ReportMetric, Standing};
pub use crate::run::decision::Verdict;

/// The halving settings: rungs (kimg), the reduction factor and the minimum number of runs kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rungs in kimg, increasing, each below the runs' `kimg`.
    pub rungs: Vec<u64>,
    /// The reduction factor: `1 / eta` of the runs at a rung continue (at least 2).
    pub eta: u32,
    /// At least this many runs continue past each rung (when that many reached it).
    pub min_runs: u32,
}

impl Rule {
    /// How many of `n` runs at a complete rung continue: `min(n, max(⌊n / eta⌋, min_runs))`.
    pub fn keep(&self, n: usize) -> usize {
        let min_runs = usize::try_from(self.min_runs).unwrap_or(usize::MAX);
        (n / self.eta_usize()).max(min_runs).min(n)
    }

    /// How many of `runs` runs continue past each rung once it is complete.
    pub fn survivors(&self, runs: usize) -> Vec<usize> {
        let mut n = runs;
        self.rungs
            .iter()
            .map(|_| {
                n = self.keep(n);
                n
            })
            .collect()
    }

    /// The kimg a sweep of `runs` runs of `kimg` each trains under this rule, every rung complete
    /// (each run to the rung it stops at, the survivors of the last rung to `kimg`; a run promoted
    /// early and revoked later costs more, so this is the expected cost, not a bound).
    pub fn expected_kimg(&self, runs: usize, kimg: u64) -> u64 {
        let mut total = 0;
        let mut alive = runs;
        let mut from = 0;
        for (&rung, survivors) in self.rungs.iter().zip(self.survivors(runs)) {
            let segment = rung.min(kimg).saturating_sub(from);
            total += u64::try_from(alive).unwrap_or(u64::MAX) * segment;
            (alive, from) = (survivors, rung.min(kimg));
        }
        total + u64::try_from(alive).unwrap_or(u64::MAX) * kimg.saturating_sub(from)
    }

    fn eta_usize(&self) -> usize {
        usize::try_from(self.eta.max(1)).unwrap_or(usize::MAX)
    }
}

/// What happened to a run, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `run` reached rung `rung` (an index into [`Rule::rungs`]) standing at `standing` (`None`:
    /// no value).
    Arrived {
        /// The run's identity hash.
        run: String,
        /// The rung's index.
        rung: usize,
        /// Its score.
        standing: Option<Standing>,
    },
    /// `run` failed for good.
    Failed {
        /// The run's identity hash.
        run: String,
    },
}

/// One decision about one run at one rung, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The run's identity hash.
    pub run: String,
    /// The rung's index.
    pub rung: usize,
    /// What the run is told.
    pub verdict: Verdict,
    /// Its best value up to the rung (`None`: no value).
    pub value: Option<f64>,
    /// Its rank among the runs at the rung (1 = best).
    pub rank: usize,
    /// How many runs had reached the rung.
    pub of: usize,
    /// The rule that decided, in words.
    pub rule: String,
}

/// One rung's state.
#[derive(Debug, Clone, Default)]
struct Rung {
    /// The runs that arrived, in arrival order, with their score.
    arrived: Vec<(String, Option<Standing>)>,
    /// Runs promoted past this rung.
    promoted: BTreeSet<String>,
    /// Runs stopped at this rung.
    stopped: BTreeSet<String>,
    /// Whether every expected run arrived.
    complete: bool,
}

/// The state of a sweep under a [`Rule`]: every rung's arrivals and decisions.
#[derive(Debug, Clone)]
pub struct Ladder {
    rule: Rule,
    metric: ReportMetric,
    runs: BTreeSet<String>,
    rungs: Vec<Rung>,
}

impl Ladder {
    /// A sweep of `runs` (identity hashes) under `rule`, ranked by `metric`'s direction.
    pub fn new(rule: Rule, metric: ReportMetric, runs: impl IntoIterator<Item = String>) -> Ladder {
        let rungs = vec![Rung::default(); rule.rungs.len()];
        Ladder {
            rule,
            metric,
            runs: runs.into_iter().collect(),
            rungs,
        }
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Apply `event`; returns the decisions it caused (none for an arrival that is not expected:
    /// an unknown run, a rung it is not eligible for, or a repeated arrival).
    pub fn apply(&mut self, event: &Event) -> Vec<Decision> {
        let (run, rung, standing) = match event {
            Event::Arrived {
                run,
                rung,
                standing,
            } => (run, *rung, *standing),
            Event::Failed { run } => match self.next_rung(run) {
                Some(rung) => (run, rung, None),
                None => return Vec::new(),
            },
        };
        if !self.runs.contains(run) || self.next_rung(run) != Some(rung) {
            return Vec::new();
        }
        let Some(state) = self.rungs.get_mut(rung) else {
            return Vec::new();
        };
        state.arrived.push((run.clone(), standing));
        let mut decisions = Vec::new();
        for k in rung..self.rungs.len() {
            let arriving = (k == rung).then_some(run.as_str());
            self.settle(k, arriving, &mut decisions);
        }
        decisions
    }

    /// The rung `run` must reach next (`None`: it is paused or stopped, or past the last rung).
    pub fn next_rung(&self, run: &str) -> Option<usize> {
        for (k, state) in self.rungs.iter().enumerate() {
            if !state.arrived.iter().any(|(r, _)| r == run) {
                return Some(k);
            }
            if !state.promoted.contains(run) {
                return None;
            }
        }
        None
    }

    /// The last verdict about `run`: its latest rung and what it says (`None`: no rung yet).
    pub fn verdict(&self, run: &str) -> Option<(usize, Verdict)> {
        self.rungs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, state)| state.arrived.iter().any(|(r, _)| r == run))
            .map(|(k, state)| {
                let verdict = if state.promoted.contains(run) {
                    Verdict::Promoted
                } else if state.stopped.contains(run) {
                    Verdict::Stopped
                } else {
                    Verdict::Paused
                };
                (k, verdict)
            })
    }

    /// The runs promoted past rung `k`.
    pub fn promoted(&self, k: usize) -> Vec<String> {
        self.rungs
            .get(k)
            .map(|state| state.promoted.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether every expected run reached rung `k`.
    pub fn complete(&self, k: usize) -> bool {
        self.rungs.get(k).is_some_and(|state| state.complete)
    }

    /// The runs at rung `k`, best first.
    pub fn ranking(&self, k: usize) -> Vec<String> {
        self.ranked(k).into_iter().map(|(run, _)| run).collect()
    }

    /// The runs at rung `k` with their scores, best first.
    fn ranked(&self, k: usize) -> Vec<(String, Option<Standing>)> {
        let Some(state) = self.rungs.get(k) else {
            return Vec::new();
        };
        let mut arrived = state.arrived.clone();
        arrived.sort_by(|a, b| self.order(a, b));
        arrived
    }

    /// The ranking order: by standing (no value last), then by hash.
    fn order(&self, a: &(String, Option<Standing>), b: &(String, Option<Standing>)) -> Ordering {
        let by_standing = match (&a.1, &b.1) {
            (Some(x), Some(y)) => self.metric.compare(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_standing.then(a.0.cmp(&b.0))
    }

    /// How many runs rung `k` expects (`None`: unknown while the previous rung is incomplete).
    fn expected(&self, k: usize) -> Option<usize> {
        match k.checked_sub(1) {
            None => Some(self.runs.len()),
            Some(previous) => {
                let state = self.rungs.get(previous)?;
                state.complete.then_some(state.promoted.len())
            }
        }
    }

    /// Bring rung `k`'s promotions up to date after a change, appending the decisions.
    fn settle(&mut self, k: usize, arriving: Option<&str>, decisions: &mut Vec<Decision>) {
        let ranking = self.ranked(k);
        let n = ranking.len();
        let expected = self.expected(k);
        let complete = expected == Some(n);
        let eta = self.rule.eta;
        let (allowed, reason) = match expected {
            _ if complete => (
                self.rule.keep(n),
                format!("all {n} arrived: the top {} continue", self.rule.keep(n)),
            ),
            Some(total) if self.rule.keep(total) >= total => {
                (n, format!("all {total} expected continue (min_runs)"))
            }
            _ => (
                n / self.rule.eta_usize(),
                format!("asha: the top {n}/{eta} of the {n} arrived so far"),
            ),
        };
        let mut revoked = Vec::new();
        for (i, (run, standing)) in ranking.iter().enumerate() {
            let state = &mut self.rungs[k];
            let decide = |verdict: Verdict, rule: String| Decision {
                run: run.clone(),
                rung: k,
                verdict,
                value: standing.map(|s| s.best),
                rank: i + 1,
                of: n,
                rule,
            };
            if i < allowed {
                if state.promoted.insert(run.clone()) {
                    decisions.push(decide(
                        Verdict::Promoted,
                        format!("rank {} ≤ {allowed}; {reason}", i + 1),
                    ));
                }
            } else if complete {
                if state.promoted.remove(run) {
                    revoked.push(run.clone());
                }
                if state.stopped.insert(run.clone()) {
                    decisions.push(decide(
                        Verdict::Stopped,
                        format!("rank {} > {allowed}; {reason}", i + 1),
                    ));
                }
            } else if arriving == Some(run.as_str()) {
                decisions.push(decide(
                    Verdict::Paused,
                    format!("rank {} > {allowed}; {reason}", i + 1),
                ));
            }
        }
        self.rungs[k].complete = complete;
        for run in revoked {
            for later in self.rungs.iter_mut().skip(k + 1) {
                later.arrived.retain(|(r, _)| *r != run);
                later.promoted.remove(&run);
                later.stopped.remove(&run);
            }
        }
    }
}

/// A run's score at a rung it reached with the snapshot at `arrival_kimg`: its standing over the
/// evaluations of `history` (`(kimg, value)`) up to that snapshot, later ones ignored.
pub fn standing_at(
    metric: &ReportMetric,
    history: &[(f64, f64)],
    arrival_kimg: f64,
) -> Option<Standing> {
    let upto: Vec<(f64, f64)> = history
        .iter()
        .copied()
        .filter(|(kimg, _)| *kimg <= arrival_kimg)
        .collect();
    metric.standing(&upto)
}

#[cfg(test)]
mod tests;
