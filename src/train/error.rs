//! How training fails: one error type for the loop, its iterations and its checkpoints.

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration asks for something this build cannot train yet.
    #[error("{0}")]
    Unsupported(String),
    /// The dataset failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A snapshot could not be written or read.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::file::SnapshotError),
    /// The `resume` networks could not be read.
    #[error("resume `{path}`: {source}")]
    Resume {
        /// The file given.
        path: String,
        /// The cause.
        source: crate::snapshot::networks::NetworksError,
    },
    /// Writing logs or images failed.
    #[error("{context}: {source}")]
    Io {
        /// What was written.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A snapshot does not fit this run.
    #[error("snapshot `{path}`: {reason}")]
    BadSnapshot {
        /// The file.
        path: String,
        /// What does not fit.
        reason: String,
    },
    /// libtorch raised an error (tch turns them into panics), e.g. CUDA out of memory.
    #[error("libtorch: {0}")]
    Torch(String),
    /// A metric could not be set up or computed.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricError),
    /// The losses stayed non-finite for a whole tick.
    #[error("training diverged at {kimg:.1} kimg: the losses of a whole tick were not finite")]
    Diverged {
        /// Where.
        kimg: f64,
    },
}

/// A [`TrainError::Io`] maker for `map_err`, naming what was being written.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TrainError {
    let context = context.into();
    move |source| TrainError::Io { context, source }
}
