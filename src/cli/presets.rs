//! `kimg presets [show NAME] [--json]`: the presets reproducing the published configuration tables.

use std::process::ExitCode;

use crate::error::Error;
use crate::manifest::catalog::Catalog;
use crate::manifest::preset_summary::{PresetSummary, command_line, summarize};
use crate::ui;

/// Options of `kimg presets`.
#[derive(Debug, clap::Args)]
pub(crate) struct PresetsArgs {
    /// `show NAME` prints one preset with its provenance.
    #[command(subcommand)]
    pub(crate) command: Option<PresetsCommand>,
    /// Print JSON: an array of presets (or one object with `show`).
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// Subcommands of `kimg presets`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PresetsCommand {
    /// Print one preset: title, table row, options, published figures and `extends` chain.
    Show {
        /// Preset name, e.g. `recommended/stylegan3-t-512-gpus8`.
        name: String,
    },
}

/// List or show presets.
pub(crate) fn run(args: &PresetsArgs) -> Result<ExitCode, Error> {
    let catalog = Catalog::near(&std::env::current_dir().unwrap_or_default().join("x"));
    match &args.command {
        Some(PresetsCommand::Show { name }) => {
            let summary = summarize(name, &catalog)?;
            if args.json {
                ui::println(&serde_json::to_string_pretty(&summary).expect("JSON renders"))?;
            } else {
                ui::print(&one(&summary))?;
            }
        }
        None => {
            let summaries = catalog
                .names()
                .iter()
                .map(|name| summarize(name, &catalog))
                .collect::<Result<Vec<_>, _>>()?;
            if args.json {
                ui::println(&serde_json::to_string_pretty(&summaries).expect("JSON renders"))?;
            } else {
                ui::print(&table(&summaries))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

fn table(summaries: &[PresetSummary]) -> String {
    let width = summaries.iter().map(|s| s.name.len()).max().unwrap_or(4);
    let mut text = format!(
        "{:<width$}  {:>5}  {:>7}  {:>7}  {:>5}  OPTIONS\n",
        "NAME", "RES", "V100", "A100", "MEM"
    );
    for s in summaries {
        let expected = s.expected.clone().unwrap_or_default();
        text.push_str(&format!(
            "{:<width$}  {:>5}  {:>7}  {:>7}  {:>5}  {}\n",
            s.name,
            s.resolution
                .map_or_else(|| "-".to_string(), |r| r.to_string()),
            figure(expected.s_per_kimg_v100),
            figure(expected.s_per_kimg_a100),
            memory(expected.gpu_mem_gb),
            command_line(&s.options),
        ));
    }
    text.push_str(&format!(
        "\n{} presets; s/kimg on V100 and A100 and GPU memory (GB per GPU) as published.\n",
        summaries.len()
    ));
    text
}

fn memory(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |m| format!("{m:.1}"))
}

fn one(s: &PresetSummary) -> String {
    let mut text = format!("{}\n", s.name);
    if let Some(title) = &s.title {
        text.push_str(&format!("  title       {title}\n"));
    }
    if let Some(source) = &s.source {
        text.push_str(&format!(
            "  source      {} / {} / row {}\n",
            source.section.as_deref().unwrap_or("?"),
            source.table.as_deref().unwrap_or("?"),
            source.row.unwrap_or(0)
        ));
    }
    if let Some(resolution) = s.resolution {
        text.push_str(&format!("  resolution  {resolution}\n"));
    }
    let expected = s.expected.clone().unwrap_or_default();
    text.push_str(&format!(
        "  published   {} s/kimg (V100), {} s/kimg (A100), {} GB per GPU\n",
        figure(expected.s_per_kimg_v100),
        figure(expected.s_per_kimg_a100),
        memory(expected.gpu_mem_gb)
    ));
    text.push_str(&format!("  options     {}\n", command_line(&s.options)));
    text.push_str(&format!("  chain       {}\n", s.chain.join(" → ")));
    text
}
