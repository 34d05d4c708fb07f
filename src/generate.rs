//! Images from a snapshot, as the official `gen_images.py` makes them: latents from
//! `RandomState(seed).randn(1, z_dim)`, optional class, truncation and (StyleGAN3) input
//! translation/rotation, `seedNNNN.png`. Official network pickles load directly.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::nets::generator::Arch;
use crate::nets::generator::{Generator, stylegan3_arch};
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::state::load_state;
use crate::numpy_rng::RandomState;
use crate::snapshot::file::SnapshotFile;
use crate::snapshot::metadata::NetworkMetadata;
use crate::snapshot::official::read_network_pickle;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The snapshot could not be read.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::file::SnapshotError),
    /// The snapshot or the request does not fit.
    #[error("{0}")]
    Invalid(String),
    /// Writing an image failed.
    #[error("{path}: {source}")]
    Io {
        /// The image.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why a `--seeds` value is not a list of seeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedsError {
    /// A part is not a 32-bit seed.
    #[error("`{part}` in `{text}` is not a seed: {source}")]
    NotASeed {
        /// The offending part.
        part: String,
        /// The whole value.
        text: String,
        /// Why it does not parse.
        source: std::num::ParseIntError,
    },
    /// A range whose start is past its end.
    #[error("`{0}` is an empty range")]
    EmptyRange(String),
    /// Nothing but commas and spaces.
    #[error("no seeds given")]
    NoSeeds,
}

/// Parse `0-7,12` (inclusive ranges, commas) into seeds.
pub fn parse_seeds(text: &str) -> Result<Vec<u32>, SeedsError> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|source| SeedsError::NotASeed {
                    part: s.to_string(),
                    text: text.to_string(),
                    source,
                })
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(SeedsError::EmptyRange(part.to_string()));
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(number(part)?),
        }
    }
    if seeds.is_empty() {
        return Err(SeedsError::NoSeeds);
    }
    Ok(seeds)
}

/// The `G_ema` of a kimg snapshot (`.safetensors`) or of an official network pickle (`.pkl`).
pub fn load_generator(path: &Path, device: Device) -> Result<Generator, GenerateError> {
    let invalid = |what: String| GenerateError::Invalid(format!("{}: {what}", path.display()));
    let (arch, kwargs, tensors, prefix) = if path.extension().is_some_and(|e| e == "pkl") {
        let pickle =
            read_network_pickle(path).map_err(|e| GenerateError::Invalid(e.to_string()))?;
        let module = pickle
            .modules
            .into_iter()
            .find(|m| m.key == "G_ema")
            .ok_or_else(|| invalid("the pickle holds no `G_ema`".into()))?;
        // The pickle's source code is not read: the tensors tell the family apart.
        let arch = if module
            .tensors
            .iter()
            .any(|(name, _)| name == "synthesis.input.freqs")
        {
            stylegan3_arch(&module.init_kwargs)
        } else {
            Arch::Stylegan2
        };
        (arch, module.init_kwargs, module.tensors, "")
    } else {
        let (snapshot, metadata) = SnapshotFile::read_with_metadata::<NetworkMetadata>(path)?;
        let (arch, kwargs) = (metadata.arch, metadata.g_kwargs);
        (arch, kwargs, snapshot.tensors, "G_ema.")
    };
    let generator = Generator::from_kwargs(arch, &kwargs, device)
        .map_err(|e| invalid(format!("G_kwargs: {e}")))?;
    load_state(generator.var_store(), &tensors, prefix, true)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(generator)
}

/// gen_images' user transform: rotation by `degrees` and translation `(tx, ty)`, as the 3×3
/// matrix `[[cos a, sin a, tx], [−sin a, cos a, ty], [0, 0, 1]]`; the generator receives its
/// inverse.
pub fn input_transform(translate: (f64, f64), degrees: f64) -> Tensor {
    let a = degrees / 360.0 * std::f64::consts::PI * 2.0;
    let (s, c) = a.sin_cos();
    let m =
        Tensor::from_slice(&[c, s, translate.0, -s, c, translate.1, 0.0, 0.0, 1.0]).reshape([3, 3]);
    m.inverse().to_kind(Kind::Float)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Seeds, one image each.
    pub seeds: Vec<u32>,
    /// Class index for conditional generators.
    pub class: Option<i64>,
    /// Truncation ψ.
    pub truncation_psi: f64,
    /// Noise mode.
    pub noise_mode: NoiseMode,
    /// Translation `(x, y)` and rotation in degrees of a StyleGAN3 generator's input.
    pub transform: Option<((f64, f64), f64)>,
}

/// `(img·127.5 + 128).clamp(0, 255)` truncated to uint8, `[N, H, W, C]` — gen_images' rule.
pub fn to_uint8(img: &Tensor) -> Tensor {
    (img.permute([0, 2, 3, 1]) * 127.5 + 128.0)
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}

/// One image per seed into `outdir/seedNNNN.png`; returns the paths.
pub fn generate(
    generator: &Generator,
    options: &GenerateOptions,
    outdir: &Path,
) -> Result<Vec<PathBuf>, GenerateError> {
    let device = generator.var_store().device();
    let c_dim = generator.c_dim();
    let label = match (c_dim, options.class) {
        (0, _) => Tensor::zeros([1, 0], (Kind::Float, device)),
        (_, None) => {
            return Err(GenerateError::Invalid(
                "this generator is conditional: pass --class".into(),
            ));
        }
        (_, Some(class)) if class < 0 || class >= c_dim => {
            return Err(GenerateError::Invalid(format!(
                "--class {class} is outside 0..{c_dim}"
            )));
        }
        (_, Some(class)) => Tensor::zeros([1, c_dim], (Kind::Float, device)).index_fill(
            1,
            &Tensor::from_slice(&[class]).to_device(device),
            1.0,
        ),
    };
    let stylegan3 = generator.as_stylegan3();
    match (stylegan3, options.transform) {
        (Some(g), transform) => {
            let (translate, degrees) = transform.unwrap_or(((0.0, 0.0), 0.0));
            g.set_input_transform(&input_transform(translate, degrees));
        }
        (None, Some(_)) => {
            return Err(GenerateError::Invalid(
                "--translate and --rotate need a StyleGAN3 generator".into(),
            ));
        }
        (None, None) => {}
    }
    std::fs::create_dir_all(outdir).map_err(|source| GenerateError::Io {
        path: outdir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for &seed in &options.seeds {
        let z = RandomState::new(seed).randn(usize::try_from(generator.z_dim()).expect("positive"));
        let z = Tensor::from_slice(&z)
            .reshape([1, -1])
            .to_kind(Kind::Float)
            .to_device(device);
        let pixels = tch::no_grad(|| {
            let ws = generator.mapping(&z, &label, options.truncation_psi, false);
            to_uint8(&generator.synthesis(&ws, options.noise_mode, false, false))
                .to_device(Device::Cpu)
        });
        let [_, h, w, c] = pixels.size()[..] else {
            unreachable!("NHWC")
        };
        let data = Vec::<u8>::try_from(pixels.flatten(0, -1)).expect("uint8 tensor");
        let path = outdir.join(format!("seed{seed:04}.png"));
        let color = if c == 1 {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        let (w, h) = (
            u32::try_from(w).expect("fits"),
            u32::try_from(h).expect("fits"),
        );
        image::save_buffer(&path, &data, w, h, color).map_err(|e| GenerateError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::parse_seeds;

    #[test]
    fn seeds_parse_like_gen_images() {
        assert_eq!(parse_seeds("0-3,12").unwrap(), [0, 1, 2, 3, 12]);
        assert_eq!(parse_seeds("5").unwrap(), [5]);
        assert!(parse_seeds("3-1").is_err());
        assert!(parse_seeds("x").is_err());
    }
}
