//! The command line: clap definitions and dispatch. One file per subcommand; the logic they call
//! lives in the library modules.

mod dataset;
mod diff;
mod doctor;
mod explain;
mod fid;
mod generate;
mod metrics;
mod plan;
mod presets;
mod report;
mod run;
mod show;
mod status;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::device::DeviceChoice;
use crate::error::{EXIT_USAGE, Error};

/// Reproducible StyleGAN2/StyleGAN3 training runs from TOML manifests.
#[derive(Debug, Parser)]
#[command(name = "kimg", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every kimg subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make datasets in the official layout, and check them before training.
    Dataset(dataset::DatasetArgs),
    /// What differs between two runs' configurations and records (and whether they are the same
    /// run).
    Diff(diff::DiffArgs),
    /// Report libtorch, CUDA/cuDNN, devices and CPU threads.
    Doctor(doctor::DoctorArgs),
    /// The FID between two image folders or zips (printed).
    Fid(fid::FidArgs),
    /// Generate images from a snapshot (like the official gen_images.py).
    Generate(generate::GenerateArgs),
    /// Compute metrics of a run's snapshots (like the official calc_metrics.py).
    Metrics(metrics::MetricsArgs),
    /// Print a manifest's resolved configuration and where each value came from.
    Show(show::ShowArgs),
    /// List the runs a manifest expands to, their state and estimated cost.
    Plan(plan::PlanArgs),
    /// List the presets that reproduce the published configuration tables.
    Presets(presets::PresetsArgs),
    /// Tabulate and plot a metric over every run of a manifest, and write it as an HTML page.
    Report(report::ReportArgs),
    /// Carry out every run of a manifest that is not done: locally, or on Slurm.
    Run(run::RunArgs),
    /// Show the state of every run of a manifest or a runs directory.
    Status(status::StatusArgs),
    /// Say which values made a run's identity hash.
    Explain(explain::ExplainArgs),
    /// Train a network with the official train.py options (`--dry-run` resolves and exits).
    Train(Box<train::TrainArgs>),
}

/// Parse the process arguments, run the command, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help`, `--version` and usage errors, printed as `Cli::parse` would; returned rather
        // than exited, so that `main` ends the process as it ends every command.
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    if let Command::Train(args) = &cli.command {
        train::prefer_passive_openmp(args);
    }
    match run(cli) {
        Ok(code) => code,
        Err(crate::error::Error::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            let code = error.exit_code();
            eprintln!("{:?}", miette::Report::new(error));
            code
        }
    }
}

/// Run one parsed command line.
pub(crate) fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Dataset(args) => dataset::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Fid(args) => fid::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Metrics(args) => metrics::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Presets(args) => presets::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Train(args) => train::run(&args),
    }
}

/// The device of `--device`, or an environment error when CUDA is demanded but unavailable.
pub(crate) fn device(choice: DeviceChoice) -> Result<tch::Device, Error> {
    choice.resolve().ok_or_else(|| {
        Error::Environment(format!(
            "--device cuda: libtorch sees no CUDA GPU on {} (a node without GPUs, or \
             CUDA_VISIBLE_DEVICES empty; see `kimg doctor`)",
            crate::run::lock::hostname()
        ))
    })
}
