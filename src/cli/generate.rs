//! `kimg generate`: images from a snapshot, like the official `gen_images.py`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::Error;
use crate::generate::{GenerateOptions, generate, load_generator, parse_seeds};
use crate::nets::network::NoiseMode;
use crate::ui;

/// `--noise-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum NoiseArg {
    /// The stored noise buffers.
    Const,
    /// Fresh noise.
    Random,
    /// No noise.
    None,
}

/// Options of `kimg generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// A kimg snapshot (`network-snapshot-*.safetensors`) or an official network pickle (`.pkl`).
    #[arg(long)]
    pub(crate) network: PathBuf,
    /// Seeds, e.g. `0-7,12`.
    #[arg(long)]
    pub(crate) seeds: String,
    /// Class label (conditional generators).
    #[arg(long = "class")]
    pub(crate) class: Option<i64>,
    /// Truncation ψ.
    #[arg(long = "trunc", default_value_t = 1.0)]
    pub(crate) trunc: f64,
    /// Noise mode.
    #[arg(long, value_enum, default_value = "const")]
    pub(crate) noise_mode: NoiseArg,
    /// Translate `x,y` (StyleGAN3 only).
    #[arg(long)]
    pub(crate) translate: Option<String>,
    /// Rotate by degrees (StyleGAN3 only).
    #[arg(long)]
    pub(crate) rotate: Option<f64>,
    /// Where to write `seedNNNN.png`.
    #[arg(long)]
    pub(crate) outdir: PathBuf,
}

/// Run `kimg generate`.
pub(crate) fn run(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let seeds = parse_seeds(&args.seeds).map_err(|e| Error::Usage(format!("--seeds: {e}")))?;
    let translate = args
        .translate
        .as_deref()
        .map(parse_translate)
        .transpose()
        .map_err(|e| Error::Usage(format!("--translate: {e}")))?;
    let transform = (translate.is_some() || args.rotate.is_some())
        .then(|| (translate.unwrap_or((0.0, 0.0)), args.rotate.unwrap_or(0.0)));
    let generator = load_generator(&args.network, tch::Device::cuda_if_available())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let noise_mode = match args.noise_mode {
        NoiseArg::Const => NoiseMode::Const,
        NoiseArg::Random => NoiseMode::Random,
        NoiseArg::None => NoiseMode::None,
    };
    let options = GenerateOptions {
        seeds,
        class: args.class,
        truncation_psi: args.trunc,
        noise_mode,
        transform,
    };
    let written =
        generate(&generator, &options, &args.outdir).map_err(|e| Error::Usage(e.to_string()))?;
    ui::println(&format!(
        "Wrote {} images to {}",
        written.len(),
        args.outdir.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `x,y` as two numbers.
fn parse_translate(text: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    match parts[..] {
        [x, y] => match (x.parse(), y.parse()) {
            (Ok(x), Ok(y)) => Ok((x, y)),
            _ => Err(format!("`{text}` is not two numbers `x,y`")),
        },
        _ => Err(format!("`{text}` is not two numbers `x,y`")),
    }
}
