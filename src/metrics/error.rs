//! [`MetricError`]: why a metric could not be computed, the one error of the metrics module.

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
