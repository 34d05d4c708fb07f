//! A run's training at a glance: `curves.png` in the run directory, rewritten at every snapshot
//! from what the run already wrote (`stats.jsonl` and `metric-*.jsonl`). Panels against kimg: the
//! G and D losses, the R1 and path-length penalties, the augmentation probability, and one per
//! metric computed so far.

use std::path::{Path, PathBuf};

use crate::metrics::plot::{Curve, Panel, PlotError, write_figure};
use crate::metrics::report::ReportMetric;
use crate::run_files::{CURVES_FILE, STATS_FILE, metric_log};

/// `(panel title, y axis, stats.jsonl keys)` of the panels drawn from the training statistics.
const STATS_PANELS: [(&str, &str, &[&str]); 3] = [
    ("Losses", "loss", &["Loss/G/loss", "Loss/D/loss"]),
    (
        "Regularisation",
        "penalty",
        &["Loss/r1_penalty", "Loss/pl_penalty"],
    ),
    ("Augmentation", "p", &["Progress/augment"]),
];

/// The curve of each of `keys` in `stats.jsonl` text: `(Progress/kimg, mean)` per tick line that
/// reports it.
fn stats_curves(text: &str, keys: &[&str]) -> Vec<Curve> {
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    keys.iter()
        .map(|&key| Curve {
            label: key.to_string(),
            points: lines
                .iter()
                .filter_map(|line| {
                    let kimg = line["Progress/kimg"]["mean"].as_f64()?;
                    Some((kimg, line[key]["mean"].as_f64()?))
                })
                .collect(),
        })
        .collect()
}

/// One panel per `metric-<name>.jsonl` in `run_dir` (by name), with a curve per result
/// (`pr50k3_full_precision` and `…_recall` share their metric's panel).
fn metric_panels(run_dir: &Path) -> Vec<Panel> {
    let mut names: Vec<String> = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            Some(
                name.strip_prefix("metric-")?
                    .strip_suffix(".jsonl")?
                    .to_string(),
            )
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|metric| {
            let text =
                std::fs::read_to_string(run_dir.join(metric_log(&metric))).unwrap_or_default();
            let results: Vec<String> = text
                .lines()
                .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .and_then(|line| {
                    line["results"]
                        .as_object()
                        .map(|r| r.keys().cloned().collect())
                })
                .unwrap_or_default();
            let curves = results
                .into_iter()
                .map(|result| Curve {
                    points: ReportMetric {
                        metric: metric.clone(),
                        result: Some(result.clone()),
                    }
                    .history_in(&text),
                    label: result,
                })
                .collect();
            Panel {
                title: metric.clone(),
                y_name: metric,
                curves,
            }
        })
        .collect()
}

/// Draw `run_dir/curves.png` from the run's files; returns its path.
pub fn write_curves(run_dir: &Path) -> Result<PathBuf, PlotError> {
    let stats = std::fs::read_to_string(run_dir.join(STATS_FILE)).unwrap_or_default();
    let mut panels: Vec<Panel> = STATS_PANELS
        .iter()
        .map(|(title, y_name, keys)| Panel {
            title: (*title).to_string(),
            y_name: (*y_name).to_string(),
            curves: stats_curves(&stats, keys),
        })
        .collect();
    panels.extend(metric_panels(run_dir));
    let path = run_dir.join(CURVES_FILE);
    write_figure(&path, &panels)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::stats_curves;

    #[test]
    fn stats_lines_give_one_curve_per_key_against_kimg() {
        let text = "{\"Progress/kimg\": {\"mean\": 0.0}, \"Loss/G/loss\": {\"mean\": 0.7}}\n\
                    not json\n\
                    {\"Progress/kimg\": {\"mean\": 1.0}, \"Loss/G/loss\": {\"mean\": 0.5}, \
                    \"Loss/D/loss\": {\"mean\": 1.3}}\n";
        let curves = stats_curves(text, &["Loss/G/loss", "Loss/D/loss"]);
        assert_eq!(curves[0].points, [(0.0, 0.7), (1.0, 0.5)]);
        assert_eq!(curves[1].points, [(1.0, 1.3)]);
    }
}
