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
//! `metric-<name>.jsonl` lines; [`runner`] evaluates a run's snapshots; [`report`], [`plot`] and
//! [`html`] summarise a sweep.

pub mod cache;
pub mod detector;
pub mod download;
pub mod equivariance;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod fid;
pub mod html;
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
pub use error::MetricError;
pub use evaluate::{Evaluator, MetricResult, RealData};
pub use registry::{METRICS, MetricSpec, is_known_metric, metric_spec};
pub use runner::{MetricRunner, SnapshotMetric};
pub use stats::{Capture, FeatureStats};
