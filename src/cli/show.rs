//! `kimg show MANIFEST`: the resolved configuration and where each value came from.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::Error;
use crate::manifest::{ExperimentSpec, Layers, Override, show};
use crate::ui;

/// Options of `kimg show`.
#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The experiment manifest (or any preset file).
    pub(crate) manifest: PathBuf,
    /// Override a value, e.g. `--set train.gamma=4` (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<Override>,
    /// Print JSON for machines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Load, resolve and print.
pub(crate) fn run(args: &ShowArgs) -> Result<ExitCode, Error> {
    let (spec, layers) = load_experiment(&args.manifest, &args.set)?;
    if args.json {
        let value = show::render_json(&spec, &layers);
        ui::println(&serde_json::to_string_pretty(&value).expect("JSON renders"))?;
    } else {
        ui::print(&show::render_text(&spec, &layers))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Load and resolve a manifest the way every manifest command does.
pub(crate) fn load_experiment(
    manifest: &std::path::Path,
    set: &[Override],
) -> Result<(ExperimentSpec, Layers), Error> {
    let layers = Layers::from_manifest(manifest, set)?;
    let stem = manifest.file_stem().map_or_else(
        || "experiment".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let spec = ExperimentSpec::resolve(&layers, None, &stem)?;
    Ok((spec, layers))
}
