//! `kimg doctor`: is this machine ready to train, and to measure?

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::device::Report;
use crate::error::{EXIT_ENVIRONMENT, Error};
use crate::metrics::Network;
use crate::metrics::locate::locate_local;
use crate::ui;

/// Options of `kimg doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where a metrics network would be loaded from, as found now (nothing is downloaded or loaded).
#[derive(Debug, serde::Serialize)]
struct DetectorStatus {
    /// The network's name.
    network: &'static str,
    /// The file the metrics would load.
    file: Option<PathBuf>,
    /// Why the configured file cannot be used.
    error: Option<String>,
}

impl DetectorStatus {
    fn probe(network: Network) -> DetectorStatus {
        let (file, error) = match locate_local(network, None) {
            Ok(file) => (file, None),
            Err(e) => (None, Some(e.to_string())),
        };
        DetectorStatus {
            network: network.name(),
            file,
            error,
        }
    }
}

impl fmt::Display for DetectorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<13}", self.network)?;
        match (&self.file, &self.error) {
            (Some(file), _) => write!(f, "{}", file.display()),
            (None, Some(error)) => write!(f, "unusable: {error}"),
            (None, None) => write!(f, "not found (downloaded into the cache on first use)"),
        }
    }
}

/// The whole report: the compute set-up and the metrics networks.
#[derive(Debug, serde::Serialize)]
struct Doctor {
    #[serde(flatten)]
    compute: Report,
    detectors: Vec<DetectorStatus>,
}

/// Print the report; exit 0 when libtorch computes correctly on the CPU.
pub(crate) fn run(args: &DoctorArgs) -> Result<ExitCode, Error> {
    let doctor = Doctor {
        compute: Report::probe(),
        detectors: [Network::Inception, Network::Vgg16]
            .into_iter()
            .map(DetectorStatus::probe)
            .collect(),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&doctor).expect("report serialises");
        ui::println(&text)?;
    } else {
        ui::println(&doctor.compute.to_string())?;
        for detector in &doctor.detectors {
            ui::println(&detector.to_string())?;
        }
    }
    if doctor.compute.is_usable() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: libtorch loaded but a CPU computation gave a wrong result");
        Ok(ExitCode::from(EXIT_ENVIRONMENT))
    }
}
