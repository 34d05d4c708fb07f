//! `kimg plan MANIFEST`: the runs a manifest expands to, their state and their estimated cost.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::data::{Dataset, DatasetOptions};
use crate::error::Error;
use crate::manifest::Override;
use crate::run::identity::run_identity;
use crate::run::layout::{run_dir, run_state};
use crate::sweep::{RunSpec, expand};
use crate::ui;

/// Options of `kimg plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The experiment manifest.
    pub(crate) manifest: PathBuf,
    /// Override a value before expanding (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<Override>,
    /// Where run directories live.
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
    /// Print JSON for machines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `5 d 14 h`, `3 h 20 min`, `12 min`.
pub(crate) fn human_duration(seconds: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "durations are positive and small"
    )]
    let minutes = (seconds / 60.0).floor().max(0.0) as u64;
    let (days, hours, mins) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else {
        format!("{mins} min")
    }
}

/// Estimated seconds on V100 and A100: published s/kimg × kimg, × 1.05 with metrics.
fn estimate(run: &RunSpec) -> Option<(f64, f64)> {
    let expected = run.spec.preset.expected.as_ref()?;
    #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
    let kimg = run.spec.train.kimg as f64;
    let factor = if run.spec.train.metrics.is_empty() {
        1.0
    } else {
        1.05
    };
    Some((
        expected.s_per_kimg_v100? * kimg * factor,
        expected.s_per_kimg_a100? * kimg * factor,
    ))
}

fn fingerprint(path: Option<&Path>) -> Option<String> {
    Dataset::open(path?, &DatasetOptions::default())
        .ok()?
        .fingerprint()
        .ok()
}

/// Run `kimg plan`.
pub(crate) fn run(args: &PlanArgs) -> Result<ExitCode, Error> {
    let runs = expand(&args.manifest, &args.set)?;
    let mut rows = Vec::new();
    let mut total = (0.0, 0.0, false);
    let mut dirs = Vec::new();
    for run in &runs {
        let identity = run_identity(
            &run.spec,
            fingerprint(run.spec.data.path.as_deref()).as_deref(),
        );
        let dir = run_dir(&args.runs_dir, run, &identity);
        let state = run_state(&dir, run.spec.train.kimg);
        let cost = estimate(run);
        if let Some((v100, a100)) = cost {
            total = (total.0 + v100, total.1 + a100, true);
        }
        dirs.push(dir.clone());
        rows.push(serde_json::json!({
            "hash": identity.hash,
            "dir": dir,
            "varies": run.short_description(),
            "swept": run.swept,
            "state": state,
            "gpus": run.spec.train.gpus,
            "kimg": run.spec.train.kimg,
            "estimate_sec": cost.map(|(v, a)| serde_json::json!({"v100": v, "a100": a})),
            "gpu_mem_gb": run.spec.preset.expected.as_ref().and_then(|e| e.gpu_mem_gb),
        }));
    }
    let experiment_dir = args.runs_dir.join(&runs[0].spec.name);
    let orphans: Vec<PathBuf> = std::fs::read_dir(&experiment_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !dirs.contains(p))
                .collect()
        })
        .unwrap_or_default();
    if args.json {
        let value = serde_json::json!({"experiment": runs[0].spec.name, "runs": rows, "orphans": orphans, "total_estimate_sec": total.2.then(|| serde_json::json!({"v100": total.0, "a100": total.1}))});
        ui::println(&serde_json::to_string_pretty(&value).expect("JSON renders"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!("{} runs of `{}`\n\n", runs.len(), runs[0].spec.name);
    text.push_str(&format!(
        "{:<12}  {:<24}  {:<14}  {:>4}  {}\n",
        "HASH", "VARIES", "STATE", "GPUS", "ESTIMATE"
    ));
    for (row, run) in rows.iter().zip(&runs) {
        let state = match serde_json::from_value::<serde_json::Value>(row["state"].clone())
            .unwrap_or_default()
        {
            v if v["state"] == "partial" => format!("partial {} kimg", v["kimg"]),
            v => v["state"].as_str().unwrap_or("?").to_string(),
        };
        let cost = estimate(run).map_or_else(
            || "-".to_string(),
            |(v, a)| {
                format!(
                    "{} on V100 / {} on A100",
                    human_duration(v),
                    human_duration(a)
                )
            },
        );
        let varies = if run.swept.is_empty() {
            "-".to_string()
        } else {
            run.short_description()
        };
        text.push_str(&format!(
            "{:<12}  {:<24}  {:<14}  {:>4}  {cost}\n",
            &row["hash"].as_str().unwrap_or("")[..12],
            varies,
            state,
            run.spec.train.gpus
        ));
        for swept in &run.swept {
            text.push_str(&format!("{:<12}  {}\n", "", swept.how));
        }
    }
    if total.2 {
        text.push_str(&format!(
            "\ntotal: {} on V100 / {} on A100 (runs one after another, each on its GPUs",
            human_duration(total.0),
            human_duration(total.1)
        ));
        text.push_str(", published s/kimg × kimg, ×1.05 with metrics)\n");
    }
    for orphan in &orphans {
        text.push_str(&format!(
            "orphaned (not produced by the manifest, kept): {}\n",
            orphan.display()
        ));
    }
    ui::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_the_tables() {
        // The tables' example: 18.47 s/kimg × 25000 kimg × 1.05 ≈ 5 days and 14 hours.
        assert_eq!(human_duration(18.47 * 25000.0 * 1.05), "5 d 14 h");
        assert_eq!(human_duration(18.47 * 25000.0), "5 d 8 h");
        assert_eq!(human_duration(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(human_duration(59.0), "0 min");
    }
}
