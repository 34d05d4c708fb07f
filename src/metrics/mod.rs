//! Quality metrics — port of the official `metrics/` package: FID, KID,
//! precision/recall, perceptual path length and the Inception Score of a generator against its
//! training set, on the official TorchScript detectors (Inception-v3; VGG16 for precision/recall
//! and PPL).
//!
//! [`equivariance`] measures StyleGAN3's EQ-T/EQ-R without a detector. [`registry`] maps names to
//! [`MetricSpec`]s; [`detector`] finds and feeds the networks ([`signature`] passes their keyword
//! arguments, [`download`] fetches them); [`features`] turns datasets and generators into
//! [`FeatureStats`], which [`cache`] keeps on disk for datasets; [`fid`], [`kid`], [`pr`], [`ppl`]
//! and [`inception_score`] are the math; [`evaluate`] ties them together and writes
//! `metric-<name>.jsonl` lines; [`runner`] evaluates a run's snapshots; [`report`] and [`plot`]
//! summarise a sweep.

pub mod cache;
pub mod detector;
pub mod download;
pub mod equivariance;
pub mod evaluate;
pub mod features;
pub mod fid;
pub mod inception_score;
pub mod kid;
pub mod locate;
pub mod plot;
pub mod ppl;
pub mod pr;
pub mod registry;
pub mod report;
pub mod runner;
pub mod signature;
pub mod stats;

pub use detector::{Detector, DetectorFiles, Network};
pub use evaluate::{Evaluator, MetricResult, RealData};
pub use registry::{METRICS, MetricSpec, is_known_metric, metric_spec};
pub use runner::{MetricRunner, SnapshotMetric};
pub use stats::{Capture, FeatureStats};

/// Why a metric could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// No detector file: the message says which file to fetch and where to put it.
    #[error("{0}")]
    DetectorMissing(String),
    /// The detector file could not be loaded, or its forward pass failed.
    #[error("detector `{path}`: {reason}")]
    DetectorFailed {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A name that is no metric.
    #[error(
        "`{0}` is not a metric; kimg computes fid50k_full, kid50k_full, pr50k3_full, ppl2_wend, \
         eqt50k_int, eqt50k_frac, eqr50k, fid50k, kid50k, pr50k3, is50k and reduced variants \
         such as fid1k_full"
    )]
    UnknownMetric(String),
    /// A metric or an input kimg cannot handle.
    #[error("{0}")]
    Unsupported(String),
    /// The real images could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was done, with the path.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}
