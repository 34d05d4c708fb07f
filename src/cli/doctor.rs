//! `kimg doctor`: is this machine ready to train?

use std::process::ExitCode;

use crate::device::Report;
use crate::error::{EXIT_ENVIRONMENT, Error};
use crate::ui;

/// Options of `kimg doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Print the report; exit 0 when libtorch computes correctly on the CPU.
pub(crate) fn run(args: &DoctorArgs) -> Result<ExitCode, Error> {
    let report = Report::probe();
    if args.json {
        let text = serde_json::to_string_pretty(&report).expect("report serialises");
        ui::println(&text)?;
    } else {
        ui::println(&report.to_string())?;
    }
    if report.is_usable() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: libtorch loaded but a CPU computation gave a wrong result");
        Ok(ExitCode::from(EXIT_ENVIRONMENT))
    }
}
