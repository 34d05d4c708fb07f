//! Turning a manifest into runs on disk and carrying them out: [`plan()`] finds every run's
//! identity, directory and state; [`local`] trains them on this machine's devices, telling
//! [`reporter`]'s display what happens; [`slurm`] submits them as a job array.

pub mod local;
pub mod plan;
pub mod reporter;
pub mod slurm;

pub use plan::{PlannedRun, orphans, plan};
