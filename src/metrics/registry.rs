//! Metric names → what to compute — port of the registry in `metrics/metric_main.py`.
//!
//! kimg computes every official metric: `fid50k_full`, `kid50k_full`, `pr50k3_full`, `ppl2_wend`,
//! `is50k`, the legacy `fid50k`, `kid50k`, `pr50k3` and StyleGAN3's `eqt50k_int`, `eqt50k_frac`,
//! `eqr50k`. For CPU runs and tests kimg also accepts
//! the same families (but PPL, whose name has no count) with another number of generated images,
//! spelled the official way:
//! `fid<N>[k][_full]`, `kid<N>[k][_full]`, `pr<N>[k]3[_full]`, `is<N>[k]`, `eqt<N>[k]_int`,
//! `eqt<N>[k]_frac`, `eqr<N>[k]` (`fid200_full`: FID
//! against all real images with 200 generated ones; `pr1k3_full`: 1000 generated, k = 3). The
//! name is recorded with each result, so a reduced metric is never mistaken for the official one.

use super::MetricError;
use super::detector::Network;
use super::equivariance::Equivariance;
use super::stats::Capture;

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Fréchet Inception Distance.
    Fid,
    /// Kernel Inception Distance.
    Kid,
    /// Precision and recall (k = 3).
    PrecisionRecall,
    /// Inception Score (needs the official detector's classifier head).
    InceptionScore,
    /// Perceptual path length in W at path endpoints (`ppl2_wend`).
    PerceptualPathLength,
    /// StyleGAN3 equivariance PSNR (no detector).
    Equivariance(Equivariance),
}

impl Family {
    /// Whether larger values are better: precision, recall, the Inception Score and the
    /// equivariance PSNRs grow with quality; FID, KID and PPL shrink.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Family::PrecisionRecall | Family::InceptionScore | Family::Equivariance(_)
        )
    }

    /// Whether this is one of StyleGAN3's equivariance metrics.
    pub fn is_equivariance(self) -> bool {
        matches!(self, Family::Equivariance(_))
    }
}

/// Metric names the official `train.py` accepts for `--metrics`.
pub const METRICS: [&str; 11] = [
    "fid50k_full",
    "kid50k_full",
    "pr50k3_full",
    "ppl2_wend",
    "eqt50k_int",
    "eqt50k_frac",
    "eqr50k",
    "fid50k",
    "kid50k",
    "pr50k3",
    "is50k",
];

/// A metric kimg can compute: what the registry entry of `metric_main.py` fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// The name, as given (and as written to `metric-<name>.jsonl`).
    pub name: String,
    /// What is computed.
    pub family: Family,
    /// Generated images.
    pub num_gen: usize,
    /// `_full`: every real image, no x-flips; otherwise at most `num_gen` reals with the training
    /// set's x-flips (the legacy metrics).
    pub full: bool,
}

impl MetricSpec {
    /// Parse a metric name; `None` when it names nothing kimg computes (see the module doc).
    pub fn parse(name: &str) -> Option<MetricSpec> {
        if name == "ppl2_wend" {
            return Some(MetricSpec {
                name: name.to_string(),
                family: Family::PerceptualPathLength,
                num_gen: 50_000,
                full: false,
            });
        }
        let (rest, full) = match name.strip_suffix("_full") {
            Some(rest) => (rest, true),
            None => (name, false),
        };
        let (family, count) = if let Some(count) = rest.strip_prefix("fid") {
            (Family::Fid, count)
        } else if let Some(count) = rest.strip_prefix("kid") {
            (Family::Kid, count)
        } else if let Some(count) = rest.strip_prefix("pr") {
            (Family::PrecisionRecall, count.strip_suffix('3')?)
        } else if let Some(count) = rest.strip_prefix("is").filter(|_| !full) {
            (Family::InceptionScore, count)
        } else if let Some(count) = rest.strip_prefix("eqr").filter(|_| !full) {
            (Family::Equivariance(Equivariance::Rotation), count)
        } else if let Some(rest) = rest.strip_prefix("eqt").filter(|_| !full) {
            if let Some(count) = rest.strip_suffix("_int") {
                (
                    Family::Equivariance(Equivariance::IntegerTranslation),
                    count,
                )
            } else {
                let count = rest.strip_suffix("_frac")?;
                (
                    Family::Equivariance(Equivariance::FractionalTranslation),
                    count,
                )
            }
        } else {
            return None;
        };
        let (digits, scale) = match count.strip_suffix('k') {
            Some(digits) => (digits, 1000),
            None => (count, 1),
        };
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return None;
        }
        let num_gen = digits.parse::<usize>().ok()?.checked_mul(scale)?;
        Some(MetricSpec {
            name: name.to_string(),
            family,
            num_gen,
            full,
        })
    }

    /// At most this many real images (`max_real` of the registry entry; `None` = all; the Inception
    /// Score uses none).
    pub fn max_real(&self) -> Option<usize> {
        match (self.family, self.full) {
            (Family::Fid, true)
            | (
                Family::InceptionScore | Family::PerceptualPathLength | Family::Equivariance(_),
                _,
            ) => None,
            (Family::Kid, true) => Some(1_000_000),
            (Family::PrecisionRecall, true) => Some(200_000),
            (_, false) => Some(self.num_gen),
        }
    }

    /// The network whose features the metric compares, as in the reference: Inception-v3 for
    /// FID, KID and IS, VGG16 for precision/recall and PPL, none for equivariance.
    pub fn network(&self) -> Option<Network> {
        match self.family {
            Family::Fid | Family::Kid | Family::InceptionScore => Some(Network::Inception),
            Family::PrecisionRecall | Family::PerceptualPathLength => Some(Network::Vgg16),
            Family::Equivariance(_) => None,
        }
    }

    /// What the feature statistics must keep.
    pub fn capture(&self) -> Capture {
        Capture {
            all: self.family != Family::Fid,
            mean_cov: self.family == Family::Fid,
        }
    }

    /// The names of the values this metric reports.
    pub fn result_names(&self) -> Vec<String> {
        match self.family {
            Family::Fid | Family::Kid | Family::PerceptualPathLength | Family::Equivariance(_) => {
                vec![self.name.clone()]
            }
            Family::PrecisionRecall => vec![
                format!("{}_precision", self.name),
                format!("{}_recall", self.name),
            ],
            Family::InceptionScore => {
                vec![format!("{}_mean", self.name), format!("{}_std", self.name)]
            }
        }
    }
}

/// The networks `specs` need, each once, in first-use order.
pub fn networks<'a>(specs: impl IntoIterator<Item = &'a MetricSpec>) -> Vec<Network> {
    let mut networks = Vec::new();
    for network in specs.into_iter().filter_map(MetricSpec::network) {
        if !networks.contains(&network) {
            networks.push(network);
        }
    }
    networks
}

/// The metric `name`, or an error naming the valid ones.
pub fn metric_spec(name: &str) -> Result<MetricSpec, MetricError> {
    MetricSpec::parse(name).ok_or_else(|| MetricError::UnknownMetric(name.to_string()))
}

/// Whether `name` is a valid `--metrics` entry: an official metric name or one of the reduced
/// spellings of the module doc.
pub fn is_known_metric(name: &str) -> bool {
    MetricSpec::parse(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::{Equivariance, Family, METRICS, MetricSpec, Network};

    #[test]
    fn official_and_reduced_names_parse() {
        let fid = MetricSpec::parse("fid50k_full").unwrap();
        assert_eq!(
            (fid.family, fid.num_gen, fid.full),
            (Family::Fid, 50_000, true)
        );
        assert_eq!(fid.max_real(), None);
        let pr = MetricSpec::parse("pr50k3").unwrap();
        assert_eq!(
            (pr.family, pr.num_gen, pr.full),
            (Family::PrecisionRecall, 50_000, false)
        );
        assert_eq!(pr.max_real(), Some(50_000));
        assert_eq!(pr.network(), Some(Network::Vgg16));
        assert_eq!(fid.network(), Some(Network::Inception));
        assert_eq!(MetricSpec::parse("kid200_full").unwrap().num_gen, 200);
        assert_eq!(
            MetricSpec::parse("is50k").unwrap().result_names(),
            ["is50k_mean", "is50k_std"]
        );
        assert_eq!(MetricSpec::parse("pr2003_full").unwrap().num_gen, 200);
        let eq = MetricSpec::parse("eqt50k_frac").unwrap();
        assert_eq!(
            (eq.family, eq.num_gen),
            (
                Family::Equivariance(Equivariance::FractionalTranslation),
                50_000
            )
        );
        assert_eq!(
            MetricSpec::parse("eqt8_int").unwrap().family,
            Family::Equivariance(Equivariance::IntegerTranslation)
        );
        assert_eq!(
            MetricSpec::parse("eqr50k").unwrap().result_names(),
            ["eqr50k"]
        );
        assert_eq!(
            MetricSpec::parse("pr1k3_full").unwrap().result_names(),
            ["pr1k3_full_precision", "pr1k3_full_recall"]
        );
        for official in METRICS {
            assert!(MetricSpec::parse(official).is_some(), "{official}");
        }
        let ppl = MetricSpec::parse("ppl2_wend").unwrap();
        assert_eq!(
            (ppl.family, ppl.num_gen, ppl.network()),
            (Family::PerceptualPathLength, 50_000, Some(Network::Vgg16))
        );
        for bad in [
            "ppl2k_wend",
            "ppl_wend",
            "fid",
            "fidk_full",
            "fid050k",
            "pr50k",
            "eqt50k",
            "eqr50k_full",
            "is50k_full",
            "fid5x",
        ] {
            assert!(MetricSpec::parse(bad).is_none(), "{bad}");
        }
    }
}
