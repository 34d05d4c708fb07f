//! The top-level error type and the documented exit codes.

use std::process::ExitCode;

use crate::metrics::MetricError;

/// Everything went well.
pub const EXIT_OK: u8 = 0;
/// A run failed (training diverged, crashed, or a worker failed).
pub const EXIT_RUN_FAILED: u8 = 1;
/// A manifest, preset or command-line usage error; nothing was written.
pub const EXIT_USAGE: u8 = 2;
/// The environment cannot do what was asked (e.g. CUDA demanded but unavailable).
pub const EXIT_ENVIRONMENT: u8 = 3;
/// Interrupted by Ctrl-C; state was saved.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Any error a kimg command can end with.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// One or more problems in manifests, presets or overrides.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] crate::manifest::ManifestErrors),
    /// A command-line value that is invalid in a way clap cannot check.
    #[error("{0}")]
    Usage(String),
    /// A training run failed (diverged, crashed, data unreadable mid-run).
    #[error("{0}")]
    RunFailed(String),
    /// The machine lacks something the command needs.
    #[error("{0}")]
    Environment(String),
    /// A metric could not be computed (no detector, unknown metric, unreadable images).
    #[error(transparent)]
    Metric(#[from] crate::metrics::MetricError),
    /// stdout was closed by the reader (e.g. `| head`): not a failure.
    #[error("broken pipe")]
    BrokenPipe,
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Manifest(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Environment(_) => EXIT_ENVIRONMENT,
            Error::Metric(error) => match error {
                MetricError::DetectorMissing(_) | MetricError::DetectorFailed { .. } => {
                    EXIT_ENVIRONMENT
                }
                MetricError::UnknownMetric(_)
                | MetricError::Unsupported(_)
                | MetricError::Data(_) => EXIT_USAGE,
                MetricError::Io { .. } => EXIT_RUN_FAILED,
            },
            Error::Io { .. } | Error::RunFailed(_) => EXIT_RUN_FAILED,
            Error::BrokenPipe => EXIT_OK,
        })
    }

    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
