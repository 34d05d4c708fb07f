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

/// What successive halving is expected to cost: the kimg a sweep trains when every rung keeps its
/// top `1/eta`, against the full sweep's.
#[derive(Debug, serde::Serialize)]
struct HalvingEstimate {
    /// The deciding metric.
    metric: String,
    /// The rungs in kimg.
    rungs: Vec<u64>,
    /// The kept fraction's denominator.
    eta: u32,
    /// The runs at the start, then past each rung.
    survivors: Vec<usize>,
    /// The kimg trained with halving.
    kimg: u64,
    /// The kimg of the full sweep.
    full_kimg: u64,
    /// `kimg / full_kimg`.
    share: f64,
    /// The published-figure estimate scaled by `share` (`None`: no published figures).
    estimate_sec: Option<serde_json::Value>,
}

impl HalvingEstimate {
    /// The estimate of `runs` under their `[schedule.halving]`, with the full sweep's `total`
    /// published-figure estimate `(v100, a100, known)`; `None` without halving.
    fn of(runs: &[PlannedRun], total: (f64, f64, bool)) -> Option<HalvingEstimate> {
        let halving = runs.first()?.run.spec.halving.as_ref()?;
        let rule = Rule {
            rungs: halving.rungs.clone(),
            eta: halving.eta,
            min_runs: halving.min_runs,
        };
        let kimg = runs.iter().map(|r| r.run.spec.train.kimg).max()?;
        let full_kimg = u64::try_from(runs.len()).ok()? * kimg;
        let halved = rule.expected_kimg(runs.len(), kimg);
        #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
        let share = halved as f64 / full_kimg.max(1) as f64;
        Some(HalvingEstimate {
            metric: halving.metric.clone(),
            rungs: halving.rungs.clone(),
            eta: halving.eta,
            survivors: std::iter::once(runs.len())
                .chain(rule.survivors(runs.len()))
                .collect(),
            kimg: halved,
            full_kimg,
            share,
            estimate_sec: total
                .2
                .then(|| serde_json::json!({"v100": total.0 * share, "a100": total.1 * share})),
        })
    }

    /// `with halving by fid50k_full (rungs 1000, 3000, 9000, eta 3): about 4 d 8 h on A100 …`.
    fn line(&self, total: (f64, f64, bool)) -> String {
        let join = |values: Vec<String>, separator: &str| values.join(separator);
        let cost = if total.2 {
            format!(
                "about {} on V100 / {} on A100",
                human_duration(total.0 * self.share),
                human_duration(total.1 * self.share)
            )
        } else {
            format!("{} of {} kimg", self.kimg, self.full_kimg)
        };
        format!(
            "with halving by {} (rungs {}, eta {}): {cost}, {:.0}% of the full sweep \
             ({} runs past each rung)\n",
            self.metric,
            join(self.rungs.iter().map(u64::to_string).collect(), ", "),
            self.eta,
            self.share * 100.0,
            join(self.survivors.iter().map(usize::to_string).collect(), " → ")
        )
    }
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
    let halving = HalvingEstimate::of(&runs, total);
    if args.json {
        let value = serde_json::json!({"experiment": experiment, "runs": rows, "orphans": orphans, "total_estimate_sec": total.2.then(|| serde_json::json!({"v100": total.0, "a100": total.1})), "halving": halving});
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
    if let Some(halving) = &halving {
        text.push_str(&halving.line(total));
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
