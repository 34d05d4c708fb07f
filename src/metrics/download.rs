//! Fetching an official detector once into the cache, checked before it is kept.
//!
//! When no detector file of a [`Network`] is found, kimg downloads its official URL (or the one in
//! its URL variable, `$KIMG_DETECTOR_URL` / `$KIMG_VGG16_URL`; `off` disables downloading) into a
//! temporary file in the cache directory with a progress bar, then checks it and only then renames
//! it to the official file name, so an interrupted or wrong download never becomes the detector.
//! Concurrent processes each write their own temporary file; the rename is atomic.
//!
//! **The check.** NVIDIA does not publish checksums of the files, so kimg checks what matters.
//! Inception-v3 must load and give, for fixed probe images, the features of the TF 2015-12-05
//! network as kimg computes them with PyPI's checksummed copy of it (`make setup-metrics`, sha256
//! `7ff4a85c…`) and the official preprocessing: any other network, a truncated file or an HTML
//! error page fails. VGG16 has no such copy to compare with, so it must load as the official
//! module (a `forward` with `return_features`) and give finite 4096-d features that tell the probe
//! images apart. The sha256 of the accepted file keys the dataset statistics cache as for any
//! detector.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tch::{Device, Kind, Tensor};

use super::MetricError;
use super::detector::{Detector, Network};

/// How many probe images the check feeds the detector.
const PROBE_IMAGES: i64 = 2;

/// Every [`PROBE_STRIDE`]-th feature of each probe image is compared.
const PROBE_STRIDE: i64 = 64;

/// Largest accepted difference from [`PROBE_FEATURES`], relative to their largest magnitude. The
/// two forms of the network agree far closer; other networks differ by order one.
const PROBE_TOLERANCE: f64 = 5e-3;

/// Features `0, 64, 128, …` of the two [`probe_images`], computed by kimg with
/// `inception-2015-12-05-noresize.pt` (sha256 `7ff4a85c…fa34`) and the official preprocessing.
const PROBE_FEATURES: [f32; 64] = [
    1.024674,
    0.08353999,
    0.06454054,
    0.39735112,
    0.8747995,
    0.0067186086,
    0.0,
    0.52467847,
    0.7081502,
    0.021174047,
    0.06666109,
    0.07855017,
    0.75947946,
    0.1108649,
    0.5694899,
    0.38609493,
    0.35333565,
    0.022320438,
    0.10392067,
    0.11402828,
    0.0,
    0.27000135,
    0.066741906,
    0.04387478,
    0.001584492,
    0.59951216,
    0.4745643,
    0.05681913,
    0.0038321735,
    0.2734304,
    0.6069229,
    0.33374268,
    0.7852265,
    0.19393687,
    0.16030477,
    0.34260634,
    0.8884259,
    0.030036267,
    0.00038139388,
    0.62171733,
    0.6568837,
    0.025722263,
    0.015144361,
    0.021982154,
    0.56208485,
    0.21389534,
    0.729934,
    0.23393676,
    0.20373154,
    0.04869844,
    0.0053830296,
    0.11849122,
    0.009509185,
    0.18188387,
    0.03281443,
    0.016379153,
    0.049672835,
    0.42621353,
    0.68588454,
    0.0172181,
    0.009830153,
    0.23481175,
    0.72336507,
    0.26195687,
];

/// Why a file is not the detector it should be.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// It does not load, or its forward pass fails.
    #[error(transparent)]
    Detector(#[from] MetricError),
    /// Inception-v3 gives another number of probe features.
    #[error("it computes {got} probe features instead of {want}")]
    ProbeCount {
        /// How many it gives.
        got: i64,
        /// How many it should give.
        want: i64,
    },
    /// Its probe features are not Inception-v3's.
    #[error(
        "its features differ from Inception-v3's (relative difference {difference:.2e} > \
         {tolerance:.0e})",
        tolerance = PROBE_TOLERANCE
    )]
    NotInception {
        /// Largest difference relative to the features' largest magnitude.
        difference: f64,
    },
    /// VGG16 gives features of another shape.
    #[error("it computes features of shape {got:?} instead of {want:?}")]
    FeatureShape {
        /// The shape it gives.
        got: Vec<i64>,
        /// `[probe images, 4096]`.
        want: [i64; 2],
    },
    /// VGG16's probe features are not finite, or equal for different images.
    #[error("its features of the probe images are not finite and distinct")]
    Degenerate,
}

/// Why a detector could not be downloaded and kept.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed.
    #[error(transparent)]
    Request(#[from] ureq::Error),
    /// Receiving the body failed.
    #[error(transparent)]
    Receive(std::io::Error),
    /// A file could not be created, written or moved.
    #[error("{doing} {path}: {source}")]
    Io {
        /// What was done (`creating`, `writing`, `moving it to`).
        doing: &'static str,
        /// To which file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The download is not the network.
    #[error("the downloaded file is wrong: {0}")]
    Wrong(VerifyError),
}

/// The error maker for `doing` something with `path`.
fn io_error(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError {
    move |source| DownloadError::Io {
        doing,
        path: path.to_path_buf(),
        source,
    }
}

/// The URL to download `network` from, or `None` when downloading is turned off.
pub fn download_url(network: Network) -> Option<String> {
    match std::env::var(network.url_variable()) {
        Ok(value) if value.eq_ignore_ascii_case("off") => None,
        Ok(value) if !value.is_empty() => Some(value),
        _ => Some(network.official_url().to_string()),
    }
}

/// Two deterministic uint8 RGB images `[2, 3, 64, 64]` (integer patterns, the same everywhere).
pub fn probe_images() -> Tensor {
    let pixels: Vec<u8> = (0..PROBE_IMAGES)
        .flat_map(|i| {
            (0..3i64).flat_map(move |c| {
                (0..64i64).flat_map(move |y| {
                    (0..64i64).map(move |x| {
                        let value = x * x + 3 * y * y + x * y + 40 * c + 97 * i;
                        u8::try_from(value % 256).expect("in range")
                    })
                })
            })
        })
        .collect();
    Tensor::from_slice(&pixels).reshape([PROBE_IMAGES, 3, 64, 64])
}

/// The probe features of a loaded detector (what [`PROBE_FEATURES`] holds for the right one).
pub fn probe_features(detector: &Detector) -> Result<Tensor, MetricError> {
    let features = detector.features(&probe_images().to_device(detector.device()))?;
    Ok(features
        .slice(1, 0, None, PROBE_STRIDE)
        .flatten(0, -1)
        .to_kind(Kind::Float))
}

/// Check that `path` holds `network`: it loads as the official module, and its probe features
/// are the expected ones (see the module doc).
pub fn verify(network: Network, path: &Path) -> Result<(), VerifyError> {
    let detector = Detector::load(path, network, Device::Cpu)?;
    match network {
        Network::Inception => verify_inception(&detector),
        Network::Vgg16 => verify_vgg16(&detector),
    }
}

/// Inception-v3's probe features must equal [`PROBE_FEATURES`].
fn verify_inception(detector: &Detector) -> Result<(), VerifyError> {
    let got = probe_features(detector)?;
    let want = Tensor::from_slice(&PROBE_FEATURES);
    if got.size() != want.size() {
        return Err(VerifyError::ProbeCount {
            got: got.size()[0],
            want: want.size()[0],
        });
    }
    let scale = want.abs().max().double_value(&[]);
    let error = (&got - &want).abs().max().double_value(&[]) / scale;
    if error.is_finite() && error <= PROBE_TOLERANCE {
        Ok(())
    } else {
        Err(VerifyError::NotInception { difference: error })
    }
}

/// VGG16's probe features must be finite, 4096-d, and differ between the probe images.
fn verify_vgg16(detector: &Detector) -> Result<(), VerifyError> {
    let features = detector.features(&probe_images())?;
    let want = [PROBE_IMAGES, Network::Vgg16.feature_dim()];
    if features.size() != want {
        return Err(VerifyError::FeatureShape {
            got: features.size(),
            want,
        });
    }
    let finite = features.isfinite().all().int64_value(&[]) == 1;
    let distinct = !features.get(0).equal(&features.get(1));
    if finite && distinct {
        Ok(())
    } else {
        Err(VerifyError::Degenerate)
    }
}

/// Download `network` from `url` into `cache`, check it with [`verify`], and keep it under its
/// official file name; the error says why not.
pub fn download(network: Network, url: &str, cache: &Path) -> Result<PathBuf, DownloadError> {
    std::fs::create_dir_all(cache).map_err(io_error("creating", cache))?;
    let name = network.official_file();
    let destination = cache.join(name);
    let partial = cache.join(format!("{name}.part-{}", std::process::id()));
    let result = fetch(url, &partial)
        .and_then(|()| verify(network, &partial).map_err(DownloadError::Wrong))
        .and_then(|()| {
            std::fs::rename(&partial, &destination).map_err(io_error("moving it to", &destination))
        });
    if let Err(reason) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(reason);
    }
    eprintln!(
        "downloaded the {} feature detector to {}",
        network.name(),
        destination.display()
    );
    Ok(destination)
}

/// Stream `url` into `path` with a progress bar.
fn fetch(url: &str, path: &Path) -> Result<(), DownloadError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut response = agent.get(url).call()?;
    let length = response.body().content_length();
    let mut reader = response.body_mut().as_reader();
    let mut file = std::fs::File::create(path).map_err(io_error("creating", path))?;
    let progress = crate::ui::progress_bar("bytes");
    progress.set_length(length.unwrap_or(0));
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer).map_err(DownloadError::Receive)?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n])
            .map_err(io_error("writing", path))?;
        progress.inc(u64::try_from(n).expect("fits"));
    }
    progress.finish_and_clear();
    file.sync_all().map_err(io_error("writing", path))
}
