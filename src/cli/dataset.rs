//! `kimg dataset create`: make a training set in the official layout; `kimg dataset check`: decode
//! every image of one and list every problem that would stop training.
//!
//! Exit codes of `check`: 0 when a run can train on the data, 1 when it cannot (every problem is
//! listed, like a failed run's reason), 2 when the path is no dataset at all (missing, neither a
//! folder nor a zip, no images), like a bad `--data` for `kimg train`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::data::check::{DatasetCheck, LabelKind, check_dataset, describe};
use crate::data::tool::{CreateOptions, Transform, create_dataset};
use crate::error::{EXIT_RUN_FAILED, Error};
use crate::ui;

/// Options of `kimg dataset`.
#[derive(Debug, clap::Args)]
pub(crate) struct DatasetArgs {
    #[command(subcommand)]
    pub(crate) command: DatasetCommand,
}

/// Subcommands of `kimg dataset`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DatasetCommand {
    /// Build a dataset zip from a folder, a zip or MNIST-style IDX files.
    Create {
        /// Folder of images, zip, or `*-images-idx3-ubyte.gz` (labels read from the sibling file).
        #[arg(long)]
        source: PathBuf,
        /// Output zip.
        #[arg(long)]
        dest: PathBuf,
        /// Output resolution (square).
        #[arg(long)]
        resolution: Option<u32>,
        /// Crop before resizing.
        #[arg(long, value_enum)]
        transform: Option<Transform>,
        /// Stop after this many images.
        #[arg(long)]
        max_images: Option<usize>,
        /// Skip unreadable images and list them instead of failing.
        #[arg(long)]
        skip_bad: bool,
    },
    /// Decode every image of a dataset and report every problem that would stop training (exit 1
    /// when there is one).
    Check {
        /// The dataset: a zip or a folder of images.
        path: PathBuf,
    },
}

/// Run `kimg dataset …`.
pub(crate) fn run(args: &DatasetArgs) -> Result<ExitCode, Error> {
    match &args.command {
        DatasetCommand::Create {
            source,
            dest,
            resolution,
            transform,
            max_images,
            skip_bad,
        } => create(
            source,
            dest,
            CreateOptions {
                resolution: *resolution,
                transform: *transform,
                max_images: *max_images,
                skip_bad: *skip_bad,
            },
        ),
        DatasetCommand::Check { path } => check(path),
    }
}

/// `kimg dataset create`.
fn create(source: &Path, dest: &Path, options: CreateOptions) -> Result<ExitCode, Error> {
    let progress = ui::progress_bar("images");
    let report = create_dataset(source, dest, &options, &progress)
        .map_err(|e| Error::Usage(e.to_string()))?;
    for skipped in &report.skipped {
        eprintln!("skipped {skipped}");
    }
    ui::println(&format!(
        "Wrote {} images ({}x{}, {} channel(s)) to {}",
        report.written,
        report.shape.0,
        report.shape.0,
        report.shape.1,
        dest.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `kimg dataset check`: every problem on stdout (`file: reason`), then the summary.
fn check(path: &Path) -> Result<ExitCode, Error> {
    let progress = ui::progress_bar("images");
    let report = check_dataset(path, &progress).map_err(|e| Error::Usage(e.to_string()))?;
    let mut text = String::new();
    for problem in &report.problems {
        text.push_str(&format!("bad  {}: {}\n", problem.file, problem.reason));
    }
    text.push_str(&summary(path, &report));
    ui::println(&text)?;
    if report.is_ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_RUN_FAILED))
    }
}

/// `data.zip: 70000 images, 1024×1024 RGB, labels: none` and the verdict.
fn summary(path: &Path, report: &DatasetCheck) -> String {
    let shape = report
        .shape
        .map_or_else(|| "no decodable image".into(), describe);
    let labels = match report.labels {
        LabelKind::None => "labels: none".to_string(),
        LabelKind::Classes(dim) => format!("labels: yes ({dim} classes)"),
        LabelKind::Vectors(dim) => format!("labels: yes (vectors of {dim})"),
    };
    let unused = match report.unused_labels {
        0 => String::new(),
        n => format!(" ({n} labels name no image and are ignored)"),
    };
    let verdict = match report.problems.len() {
        0 => "ok: training can use it".to_string(),
        n => format!("{n} problem(s): training would refuse it"),
    };
    format!(
        "{}: {} images, {shape}, {labels}{unused}\n{verdict}",
        path.display(),
        report.images
    )
}
