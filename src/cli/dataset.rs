//! `kimg dataset create`: make a training set in the official layout.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::tool::{CreateOptions, Transform, create_dataset};
use crate::error::Error;
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
}

/// Run `kimg dataset …`.
pub(crate) fn run(args: &DatasetArgs) -> Result<ExitCode, Error> {
    let DatasetCommand::Create {
        source,
        dest,
        resolution,
        transform,
        max_images,
        skip_bad,
    } = &args.command;
    let options = CreateOptions {
        resolution: *resolution,
        transform: *transform,
        max_images: *max_images,
        skip_bad: *skip_bad,
    };
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
