//! The sweep report: every run of a manifest with its state and a metric's history, read from
//! the runs' `metric-<name>.jsonl` files, as a table, as curves for [`super::plot`] and as a page
//! for [`super::html`]; the best run by one rule, [`ReportMetric::rank`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::registry::MetricSpec;
use crate::run_files::{STATS_FILE, metric_log};
use crate::snapshot::name::snapshot_kimg;

/// Which value of which metric file a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMetric {
    /// The metric, i.e. the file `metric-<metric>.jsonl`.
    pub metric: String,
    /// The key in its `results` (`pr50k3_full_recall`); `None`: the first one.
    pub result: Option<String>,
}

impl ReportMetric {
    /// `fid50k_full` → that metric's value; `pr50k3_full_recall` → one value of `pr50k3_full`.
    pub fn parse(name: &str) -> ReportMetric {
        for suffix in ["_precision", "_recall"] {
            if let Some(metric) = name.strip_suffix(suffix) {
                return ReportMetric {
                    metric: metric.to_string(),
                    result: Some(name.to_string()),
                };
            }
        }
        ReportMetric {
            metric: name.to_string(),
            result: None,
        }
    }

    /// The name of the value shown: the result's key when one was picked, else the metric.
    pub fn name(&self) -> &str {
        self.result.as_deref().unwrap_or(&self.metric)
    }

    /// Whether larger values are better, as the metric's registry entry says (unknown names:
    /// lower is better, as for the distances).
    pub fn higher_is_better(&self) -> bool {
        MetricSpec::parse(&self.metric).is_some_and(|spec| spec.family.higher_is_better())
    }

    /// `(kimg, value)` of every evaluated snapshot of `run_dir`, by kimg; a snapshot evaluated
    /// twice counts with its last line. Unreadable lines are skipped.
    pub fn history(&self, run_dir: &Path) -> Vec<(f64, f64)> {
        let path = run_dir.join(metric_log(&self.metric));
        std::fs::read_to_string(path).map_or_else(|_| Vec::new(), |text| self.history_in(&text))
    }

    /// [`ReportMetric::history`] from the text of the metric's file.
    pub fn history_in(&self, text: &str) -> Vec<(f64, f64)> {
        let mut points = BTreeMap::new();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(kimg) = value["snapshot_pkl"].as_str().and_then(snapshot_kimg) else {
                continue;
            };
            let results = &value["results"];
            let result = match &self.result {
                Some(key) => results[key].as_f64(),
                None => results
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(serde_json::Value::as_f64),
            };
            if let Some(result) = result {
                points.insert(kimg, result);
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
        points.into_iter().map(|(k, v)| (k as f64, v)).collect()
    }

    /// The best point of a history: its best value (NaN ignored) where it was first reached.
    pub fn best(&self, history: &[(f64, f64)]) -> Option<(f64, f64)> {
        history
            .iter()
            .copied()
            .filter(|p| !p.1.is_nan())
            .reduce(|a, b| if self.better(b.1, a.1).is_lt() { b } else { a })
    }

    /// `Less` when `a` is the better value (the metric's direction), `Equal` for equal values.
    fn better(&self, a: f64, b: f64) -> Ordering {
        if self.higher_is_better() {
            b.total_cmp(&a)
        } else {
            a.total_cmp(&b)
        }
    }

    /// Where a run stands by `history`: its best point and its latest value (`None`: no value
    /// that is not NaN).
    pub fn standing(&self, history: &[(f64, f64)]) -> Option<Standing> {
        let (best_kimg, best) = self.best(history)?;
        Some(Standing {
            best,
            best_kimg,
            latest: history.last().map_or(f64::NAN, |p| p.1),
        })
    }

    /// The best-run rule on two standings, the hash left out: `Less` when `a` ranks first — the
    /// better best value (the metric's direction), then fewer kimg to reach it, then the better
    /// latest value (NaN last).
    pub fn compare(&self, a: &Standing, b: &Standing) -> Ordering {
        self.better(a.best, b.best)
            .then(a.best_kimg.total_cmp(&b.best_kimg))
            .then(match (a.latest.is_nan(), b.latest.is_nan()) {
                (false, false) => self.better(a.latest, b.latest),
                (nan_a, nan_b) => nan_a.cmp(&nan_b),
            })
    }

    /// Runs `(hash, history)` ranked best first — the sweep's best-run rule, in one place: by the
    /// best value each run reached so far (the metric's direction; NaN ignored); equal values by
    /// fewer kimg to reach it, then by the better latest value (NaN last: runs that share their
    /// best value, e.g. the same start at kimg 0, are told apart by where they are now), then by
    /// hash (ascending), so the rank never depends on the order of the runs. Runs without a value
    /// are left out. Returns their indices.
    pub fn rank<'a>(
        &self,
        runs: impl IntoIterator<Item = (&'a str, &'a [(f64, f64)])>,
    ) -> Vec<usize> {
        let mut standing: Vec<(usize, &str, Standing)> = runs
            .into_iter()
            .enumerate()
            .filter_map(|(i, (hash, history))| Some((i, hash, self.standing(history)?)))
            .collect();
        standing.sort_by(|a, b| self.compare(&a.2, &b.2).then(a.1.cmp(b.1)));
        standing.into_iter().map(|(i, ..)| i).collect()
    }
}

/// What the best-run rule compares of a run ([`ReportMetric::compare`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    /// The best value reached (never NaN).
    pub best: f64,
    /// The kimg where it was first reached.
    pub best_kimg: f64,
    /// The latest value (NaN when the latest evaluation gave NaN).
    pub latest: f64,
}

/// `Timing/sec_per_kimg` of the last tick in `run_dir`'s `stats.jsonl` (`None` before a tick).
pub fn sec_per_kimg(run_dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(run_dir.join(STATS_FILE)).ok()?;
    text.lines().rev().find_map(|line| {
        serde_json::from_str::<serde_json::Value>(line).ok()?["Timing/sec_per_kimg"]["mean"]
            .as_f64()
    })
}

/// A `(kimg, value)` point as the report shows it: `50.0000 @ 4`, or `-`.
pub fn format_point(point: Option<(f64, f64)>) -> String {
    point.map_or_else(|| "-".to_string(), |(k, v)| format!("{v:.4} @ {k}"))
}

/// One run's row in the sweep report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// The run's short hash.
    pub hash: String,
    /// What varies in this run (`gamma2-batch32`), or the directory name.
    pub label: String,
    /// Its state (`done`, `partial 4 kimg`, …).
    pub state: String,
    /// kimg of its newest snapshot.
    pub kimg: Option<u64>,
    /// `(kimg, value)` points.
    pub history: Vec<(f64, f64)>,
    /// Its directory.
    pub dir: PathBuf,
    /// Seconds per kimg of its last tick.
    pub sec_per_kimg: Option<f64>,
}

/// The index of the best run of `runs` by [`ReportMetric::rank`] (`None`: no run has a value).
pub fn best_run(metric: &ReportMetric, runs: &[ReportRow]) -> Option<usize> {
    metric
        .rank(runs.iter().map(|r| (r.hash.as_str(), r.history.as_slice())))
        .first()
        .copied()
}

/// The table: one line per run with the best and latest values, the best run ([`best_run`])
/// marked `*`.
pub fn table(metric: &ReportMetric, runs: &[ReportRow]) -> String {
    let best_overall = best_run(metric, runs);
    let name = metric.name();
    let label_width = runs.iter().map(|r| r.label.len()).max().unwrap_or(0).max(6);
    let mut text = format!(
        "  {:<12}  {:<label_width$}  {:<18}  {:>8}  {:>22}  {:>22}\n",
        "run",
        "varies",
        "state",
        "kimg",
        format!("best {name}"),
        format!("latest {name}")
    );
    for (i, run) in runs.iter().enumerate() {
        let mark = if Some(i) == best_overall { '*' } else { ' ' };
        let kimg = run.kimg.map_or_else(|| "-".to_string(), |k| k.to_string());
        text.push_str(&format!(
            "{mark} {:<12}  {:<label_width$}  {:<18}  {:>8}  {:>22}  {:>22}\n",
            run.hash,
            run.label,
            run.state,
            kimg,
            format_point(metric.best(&run.history)),
            format_point(run.history.last().copied()),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{ReportMetric, ReportRow, best_run, table};

    fn row(hash: &str, history: Vec<(f64, f64)>) -> ReportRow {
        ReportRow {
            hash: hash.into(),
            label: format!("gamma{hash}"),
            state: "done".into(),
            kimg: history.last().map(|p| p.0 as u64),
            history,
            dir: PathBuf::from(hash),
            sec_per_kimg: None,
        }
    }

    #[test]
    fn the_best_run_is_marked() {
        let metric = ReportMetric::parse("fid50k_full");
        let run = row;
        let text = table(
            &metric,
            &[
                run("a", vec![(0.0, 300.0), (4.0, 40.0)]),
                run("b", vec![(0.0, 310.0), (4.0, 30.0), (8.0, 35.0)]),
                run("c", vec![]),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with("* b"), "{text}");
        assert!(lines[2].contains("30.0000 @ 4") && lines[2].contains("35.0000 @ 8"));
        assert!(lines[1].starts_with("  a") && lines[3].contains('-'));
        for (name, higher) in [
            ("pr50k3_full_recall", true),
            ("pr50k3_full", true),
            ("is50k", true),
            ("eqt50k_int", true),
            ("eqr50k", true),
            ("fid50k_full", false),
            ("kid50k_full", false),
            ("ppl2_wend", false),
        ] {
            assert_eq!(
                ReportMetric::parse(name).higher_is_better(),
                higher,
                "{name}"
            );
        }
    }

    #[test]
    fn the_best_run_is_the_best_value_so_far_then_fewer_kimg_then_the_hash() {
        let fid = ReportMetric::parse("fid50k_full");
        // The best value so far counts, not the latest; NaN is no value.
        let runs = [
            row("c", vec![(0.0, 300.0), (4.0, 20.0), (8.0, 90.0)]),
            row("a", vec![(0.0, 300.0), (4.0, 30.0), (8.0, f64::NAN)]),
            row("b", vec![(0.0, f64::NAN)]),
            row("d", vec![]),
        ];
        assert_eq!(best_run(&fid, &runs), Some(0));
        let histories = runs.iter().map(|r| (r.hash.as_str(), r.history.as_slice()));
        assert_eq!(
            fid.rank(histories),
            [0, 1],
            "runs without a value are not ranked"
        );
        // Equal values: fewer kimg to reach it wins, then the better latest value, then the
        // smaller hash, whatever the order of the runs.
        let tied = [
            row("b", vec![(0.0, 50.0)]),
            row("c", vec![(0.0, 60.0), (4.0, 50.0)]),
            row("a", vec![(0.0, 50.0), (4.0, 50.0)]),
            row("e", vec![(0.0, 50.0), (4.0, 70.0)]),
            row("d", vec![(0.0, 50.0), (4.0, 70.0), (8.0, f64::NAN)]),
        ];
        assert_eq!(best_run(&fid, &tied), Some(2));
        let mut reversed = tied.to_vec();
        reversed.reverse();
        assert_eq!(best_run(&fid, &reversed), Some(2));
        let histories = tied.iter().map(|r| (r.hash.as_str(), r.history.as_slice()));
        assert_eq!(fid.rank(histories), [2, 0, 3, 4, 1]);
        // Higher is better for recall; no run with a value, no best run.
        let recall = ReportMetric::parse("pr50k3_full_recall");
        let recalls = [
            row("a", vec![(0.0, 0.1), (4.0, 0.4)]),
            row("b", vec![(0.0, 0.1), (4.0, 0.5)]),
        ];
        assert_eq!(best_run(&recall, &recalls), Some(1));
        assert_eq!(best_run(&fid, &recalls), Some(0));
        assert_eq!(
            best_run(&fid, &[row("x", vec![]), row("y", vec![(0.0, f64::NAN)])]),
            None
        );
    }

    #[test]
    fn runs_tied_at_kimg_0_get_the_same_mark_in_every_order() {
        // Same seed, same start: every run's best is its kimg 0 value. The latest value decides,
        // then the hash.
        let fid = ReportMetric::parse("fid50k_full");
        let runs = [
            row("f00d", vec![(0.0, 412.5)]),
            row("0bad", vec![(0.0, 412.5)]),
            row("beef", vec![(0.0, 412.5)]),
        ];
        let started = [
            row("f00d", vec![(0.0, 412.5), (4.0, 420.0)]),
            row("0bad", vec![(0.0, 412.5), (4.0, 430.0)]),
            row("beef", vec![(0.0, 412.5), (4.0, 415.0)]),
        ];
        for (runs, best) in [(runs, "* 0bad"), (started, "* beef")] {
            for turn in 0..3 {
                let mut rotated = runs.to_vec();
                rotated.rotate_left(turn);
                let text = table(&fid, &rotated);
                let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
                assert_eq!(marked.len(), 1, "{text}");
                assert!(marked[0].starts_with(best), "{text}");
            }
        }
    }
}
