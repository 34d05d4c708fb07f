//! `kimg report MANIFEST`: every run of a manifest with a metric's best and latest value (the best
//! run marked), the metric against kimg as `runs/<experiment>/report-<metric>.{png,svg}`, and all
//! of it with the runs' newest fakes and configuration differences as one self-contained page,
//! `report-<metric>.html`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::Error;
use crate::manifest::diff::differing;
use crate::metrics::html::{HtmlReport, write_html};
use crate::metrics::plot::{Curve, Panel, write_plots};
use crate::metrics::report::{ReportMetric, ReportRow, sec_per_kimg, table};
use crate::run::decision::RunDecision;
use crate::run::record::resolved_config;
use crate::schedule::plan;
use crate::snapshot::name::latest_snapshot_kimg;
use crate::ui;

/// Options of `kimg report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The manifest whose runs to report.
    pub(crate) manifest: PathBuf,
    /// The metric (`fid50k_full`, or a value such as `pr50k3_full_recall`).
    #[arg(long, default_value = "fid50k_full")]
    pub(crate) metric: String,
    /// Where run directories live.
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
}

/// Run `kimg report`.
pub(crate) fn run(args: &ReportArgs) -> Result<ExitCode, Error> {
    let planned = plan(&args.manifest, &[], &args.runs_dir)?;
    let metric = ReportMetric::parse(&args.metric);
    let runs: Vec<ReportRow> = planned
        .iter()
        .map(|p| {
            let varies = p.run.short_description();
            ReportRow {
                hash: p.identity.short().to_string(),
                label: if varies.is_empty() {
                    p.identity.short().to_string()
                } else {
                    varies
                },
                state: match RunDecision::read(&p.dir) {
                    Some(d) => format!(
                        "{} · rung {} #{}/{}",
                        p.state.describe(),
                        d.rung + 1,
                        d.rank,
                        d.of
                    ),
                    None => p.state.describe(),
                },
                kimg: latest_snapshot_kimg(&p.dir),
                history: metric.history(&p.dir),
                dir: p.dir.clone(),
                sec_per_kimg: sec_per_kimg(&p.dir),
            }
        })
        .collect();
    ui::print(&table(&metric, &runs))?;
    let decisions: Vec<String> = planned
        .iter()
        .filter_map(|p| {
            let d = RunDecision::read(&p.dir)?;
            Some(format!(
                "  {}  {} — {}\n",
                p.identity.short(),
                d.describe(),
                d.rule
            ))
        })
        .collect();
    if !decisions.is_empty() {
        ui::print(&format!(
            "\nSuccessive halving (latest decision per run):\n{}",
            decisions.concat()
        ))?;
    }
    let Some(first) = planned.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let experiment = &first.run.spec.name;
    let dir = args.runs_dir.join(experiment);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let stem = dir.join(format!("report-{}", args.metric));
    let panel = Panel {
        title: format!("{experiment}: {} vs kimg", args.metric),
        y_name: args.metric.clone(),
        curves: runs
            .iter()
            .map(|run| Curve {
                label: run.label.clone(),
                points: run.history.clone(),
            })
            .collect(),
    };
    let [png, svg] = write_plots(&stem, &panel).map_err(|e| Error::RunFailed(e.to_string()))?;
    ui::println(&format!("\nWrote {} and {}", png.display(), svg.display()))?;
    let resolved: Vec<toml::Value> = planned.iter().map(|p| resolved_config(&p.run)).collect();
    let html = stem.with_extension("html");
    let report = HtmlReport {
        experiment,
        metric: &metric,
        runs: &runs,
        chart: &panel,
        config_diff: &differing(&resolved),
        tile: first.run.spec.data.resolution,
    };
    write_html(&html, &report).map_err(|e| Error::RunFailed(e.to_string()))?;
    ui::println(&format!("Wrote {} (open it in a browser)", html.display()))?;
    Ok(ExitCode::SUCCESS)
}
