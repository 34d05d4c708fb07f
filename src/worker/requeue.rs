//! Continuing past a Slurm job's time limit: at the time-limit warning (SIGUSR1, which `kimg run
//! --on slurm` asks Slurm to send `--signal-offset` seconds before the limit) the worker writes
//! its snapshot and, when the run is not finished, requeues its own task with `scontrol requeue`.
//! The task keeps its id, array index and run directory, and its next start resumes from the
//! snapshot. The worker decides, not the sbatch script: it alone knows whether the run finished
//! and how far it got.
//!
//! It does not requeue when the user's bound (`--max-requeues`, counted per task) is reached, when
//! no image was trained since the task's last requeue (start-up plus snapshot take longer than the
//! time limit leaves, and requeueing again would loop forever), when a termination signal
//! (`scancel`) came too, or outside Slurm. Each requeue is recorded in `status.json`; each refusal
//! is written there as the run's note, and on stderr (the task's Slurm log).

use std::process::Command;

use crate::run::status::RunStatus;

/// What the worker does at the time-limit warning, once its snapshot is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Requeue this task (`<array job>_<task>`).
    Requeue(String),
    /// Stop without requeueing, for this reason.
    Stop(String),
}

/// The verdict for a run at `kimg` whose worker runs as Slurm task `job` (`None`: not in Slurm),
/// given its `status` (the requeues so far) and the bound `max_requeues`.
pub fn verdict(status: &RunStatus, job: Option<&str>, kimg: f64, max_requeues: u32) -> Verdict {
    let Some(job) = job else {
        return Verdict::Stop(
            "the time-limit warning (SIGUSR1) came outside a Slurm job; not requeued".into(),
        );
    };
    let earlier: Vec<_> = status
        .requeues
        .iter()
        .filter(|r| r.slurm_job == job)
        .collect();
    let count = earlier.len();
    if u32::try_from(count).map_or(true, |count| count >= max_requeues) {
        return Verdict::Stop(format!(
            "task {job} reached its time limit after {count} requeues (--max-requeues \
             {max_requeues}); not requeued: `kimg run --on slurm` again continues"
        ));
    }
    if let Some(last) = earlier.last().filter(|last| last.kimg >= kimg) {
        return Verdict::Stop(format!(
            "task {job} made no progress since its last requeue (at {:.3} kimg); not requeued: \
             the time limit leaves too little time for start-up and --signal-offset",
            last.kimg
        ));
    }
    Verdict::Requeue(job.to_string())
}

/// Why `scontrol requeue` failed.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    /// scontrol could not be run.
    #[error("running scontrol: {0}")]
    NoScontrol(std::io::Error),
    /// scontrol refused.
    #[error("scontrol requeue {job} failed: {stderr}")]
    Refused {
        /// The task.
        job: String,
        /// What scontrol said.
        stderr: String,
    },
}

/// Requeue Slurm task `job`. Slurm then ends this task (SIGTERM, SIGKILL after `KillWait`) and
/// starts it again once eligible.
pub fn requeue(job: &str) -> Result<(), RequeueError> {
    let output = Command::new("scontrol")
        .args(["requeue", job])
        .output()
        .map_err(RequeueError::NoScontrol)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RequeueError::Refused {
            job: job.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Verdict, verdict};
    use crate::run::status::{Requeue, RunStatus};

    fn requeued_at(kimgs: &[(f64, &str)]) -> RunStatus {
        let mut status = RunStatus::queued(10);
        status.requeues = kimgs
            .iter()
            .map(|&(kimg, job)| Requeue {
                at: chrono::Local::now(),
                kimg,
                slurm_job: job.into(),
            })
            .collect();
        status
    }

    #[test]
    fn a_task_requeues_while_it_progresses_and_under_its_bound() {
        let status = requeued_at(&[(1.2, "7_0"), (2.4, "7_0")]);
        assert_eq!(
            verdict(&status, Some("7_0"), 3.6, 3),
            Verdict::Requeue("7_0".into())
        );
        let Verdict::Stop(why) = verdict(&status, Some("7_0"), 3.6, 2) else {
            panic!("the bound was reached")
        };
        assert!(why.contains("after 2 requeues (--max-requeues 2)"), "{why}");
        let Verdict::Stop(why) = verdict(&status, Some("7_0"), 2.4, 3) else {
            panic!("no progress since the last requeue")
        };
        assert!(
            why.contains("no progress") && why.contains("2.400"),
            "{why}"
        );
        assert!(matches!(verdict(&status, None, 3.6, 3), Verdict::Stop(_)));
    }

    #[test]
    fn requeues_of_an_earlier_submission_do_not_count() {
        let status = requeued_at(&[(1.2, "7_0"), (2.4, "7_0")]);
        assert_eq!(
            verdict(&status, Some("9_3"), 2.4, 1),
            Verdict::Requeue("9_3".into())
        );
        assert!(matches!(
            verdict(&status, Some("9_3"), 2.4, 0),
            Verdict::Stop(_)
        ));
    }
}
