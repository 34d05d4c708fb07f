//! `kimg plan MANIFEST`: the runs a manifest expands to, their state and their estimated cost.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::Error;
use crate::halving::Rule;
use crate::manifest::Override;
use crate::schedule::{PlannedRun, orphans, plan};
use crate::ui;
use crate::ui::human_duration;

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

/// `with halving (rungs 1000, 3000, 9000, eta 3): about 4 d 8 h on A100 …`: the estimate scaled
/// by the share of kimg the sweep trains when every rung keeps its top `1/eta`.
fn halving_saving(runs: &[PlannedRun], total: (f64, f64, bool)) -> Option<String> {
    let halving = runs.first()?.run.spec.halving.as_ref()?;
    let rule = Rule {
        rungs: halving.rungs.clone(),
        eta: halving.eta,
        min_runs: halving.min_runs,
    };
    let kimg = runs.iter().map(|r| r.run.spec.train.kimg).max()?;
    let full = u64::try_from(runs.len()).ok()? * kimg;
    let halved = rule.expected_kimg(runs.len(), kimg);
    #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
    let share = halved as f64 / full.max(1) as f64;
    let rungs: Vec<String> = halving.rungs.iter().map(u64::to_string).collect();
    let survivors: Vec<String> = std::iter::once(runs.len())
        .chain(rule.survivors(runs.len()))
        .map(|n| n.to_string())
        .collect();
    let cost = if total.2 {
        format!(
            "about {} on V100 / {} on A100",
            human_duration(total.0 * share),
            human_duration(total.1 * share)
        )
    } else {
        format!("{halved} of {full} kimg")
    };
    Some(format!(
        "with halving by {} (rungs {}, eta {}): {cost}, {:.0}% of the full sweep \
         ({} runs past each rung)\n",
        halving.metric,
        rungs.join(", "),
        halving.eta,
        share * 100.0,
        survivors.join(" → ")
    ))
}

/// Run `kimg plan`.
pub(crate) fn run(args: &PlanArgs) -> Result<ExitCode, Error> {
    let runs = plan(&args.manifest, &args.set, &args.runs_dir)?;
    let orphans = orphans(&runs, &args.runs_dir);
    let mut total = (0.0, 0.0, false);
    let rows: Vec<serde_json::Value> = runs
        .iter()
        .map(|planned| {
            let cost = planned.estimate_sec();
            if let Some((v100, a100)) = cost {
                total = (total.0 + v100, total.1 + a100, true);
            }
            let run = &planned.run;
            serde_json::json!({
                "hash": planned.identity.hash,
                "dir": planned.dir,
                "varies": run.short_description(),
                "swept": run.swept,
                "state": planned.state,
                "gpus": run.spec.train.gpus,
                "kimg": run.spec.train.kimg,
                "estimate_sec": cost.map(|(v, a)| serde_json::json!({"v100": v, "a100": a})),
                "gpu_mem_gb": run.spec.preset.expected.as_ref().and_then(|e| e.gpu_mem_gb),
            })
        })
        .collect();
    let experiment = &runs[0].run.spec.name;
    if args.json {
        let value = serde_json::json!({"experiment": experiment, "runs": rows, "orphans": orphans, "total_estimate_sec": total.2.then(|| serde_json::json!({"v100": total.0, "a100": total.1}))});
        ui::println(&serde_json::to_string_pretty(&value).expect("JSON renders"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!("{} runs of `{experiment}`\n\n", runs.len());
    text.push_str(&format!(
        "{:<12}  {:<24}  {:<16}  {:>4}  {}\n",
        "HASH", "VARIES", "STATE", "GPUS", "ESTIMATE"
    ));
    for planned in &runs {
        let run = &planned.run;
        let cost = planned.estimate_sec().map_or_else(
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
            "{:<12}  {:<24}  {:<16}  {:>4}  {cost}\n",
            planned.identity.short(),
            varies,
            planned.state.describe(),
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
    if let Some(line) = halving_saving(&runs, total) {
        text.push_str(&line);
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
