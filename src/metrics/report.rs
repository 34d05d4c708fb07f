//! The sweep report: every run of a manifest with its state and a metric's history, read from
//! the runs' `metric-<name>.jsonl` files, as a table and as curves for [`super::plot`].

use std::collections::BTreeMap;
use std::path::Path;

use super::registry::MetricSpec;
use crate::run_files::metric_log;
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

    /// The best point of a history.
    pub fn best(&self, history: &[(f64, f64)]) -> Option<(f64, f64)> {
        history.iter().copied().reduce(|a, b| {
            let better = if self.higher_is_better() {
                b.1 > a.1
            } else {
                b.1 < a.1
            };
            if better { b } else { a }
        })
    }
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
}

/// The table: one line per run with the best and latest values, the best run marked `*`.
pub fn table(metric: &ReportMetric, runs: &[ReportRow]) -> String {
    let best_overall = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| metric.best(&r.history).map(|b| (i, b.1)))
        .reduce(|a, b| {
            let better = if metric.higher_is_better() {
                b.1 > a.1
            } else {
                b.1 < a.1
            };
            if better { b } else { a }
        })
        .map(|(i, _)| i);
    let name = metric.result.as_deref().unwrap_or(&metric.metric);
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
    let point =
        |p: Option<(f64, f64)>| p.map_or_else(|| "-".to_string(), |(k, v)| format!("{v:.4} @ {k}"));
    for (i, run) in runs.iter().enumerate() {
        let mark = if Some(i) == best_overall { '*' } else { ' ' };
        let kimg = run.kimg.map_or_else(|| "-".to_string(), |k| k.to_string());
        text.push_str(&format!(
            "{mark} {:<12}  {:<label_width$}  {:<18}  {:>8}  {:>22}  {:>22}\n",
            run.hash,
            run.label,
            run.state,
            kimg,
            point(metric.best(&run.history)),
            point(run.history.last().copied()),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{ReportMetric, ReportRow, table};

    #[test]
    fn the_best_run_is_marked() {
        let metric = ReportMetric::parse("fid50k_full");
        let run = |hash: &str, history: Vec<(f64, f64)>| ReportRow {
            hash: hash.into(),
            label: format!("gamma{hash}"),
            state: "done".into(),
            kimg: history.last().map(|p| p.0 as u64),
            history,
        };
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
}
