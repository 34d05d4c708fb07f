//! `kimg status [MANIFEST | RUNS_DIR]`: the state of every run, with Slurm's view of submitted
//! ones (one `squeue` call for all of them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::Error;
use crate::run::decision::RunDecision;
use crate::run::layout::{RunState, run_state};
use crate::run::record::RunRecord;
use crate::run::status::RunStatus;
use crate::run_files::RECORD_FILE;
use crate::schedule::plan;
use crate::schedule::slurm::job_states;
use crate::ui;

/// Options of `kimg status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// A manifest (its runs), or a directory holding run directories.
    #[arg(default_value = "runs")]
    pub(crate) target: PathBuf,
    /// Where run directories live (with a manifest).
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
    /// Print JSON for machines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One line of the table.
#[derive(Debug, serde::Serialize)]
struct Row {
    experiment: String,
    hash: String,
    varies: String,
    dir: PathBuf,
    #[serde(flatten)]
    state: RunState,
    total_kimg: u64,
    status: Option<RunStatus>,
    slurm_state: Option<String>,
}

fn rows_of_manifest(args: &StatusArgs) -> Result<Vec<Row>, Error> {
    Ok(plan(&args.target, &[], &args.runs_dir)?
        .into_iter()
        .map(|planned| Row {
            experiment: planned.run.spec.name.clone(),
            hash: planned.identity.hash.clone(),
            varies: planned.run.short_description(),
            status: RunStatus::read(&planned.dir),
            total_kimg: planned.run.spec.train.kimg,
            dir: planned.dir,
            state: planned.state,
            slurm_state: None,
        })
        .collect())
}

fn rows_of_dir(root: &Path) -> Vec<Row> {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .max_depth(3)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == RECORD_FILE)
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|dir| {
            let record = RunRecord::read(&dir).ok()?;
            let status = RunStatus::read(&dir);
            let total_kimg = status.as_ref().map_or_else(
                || {
                    record
                        .resolved
                        .get("train")
                        .and_then(|t| t.get("kimg"))
                        .and_then(toml::Value::as_integer)
                        .and_then(|k| u64::try_from(k).ok())
                        .unwrap_or(u64::MAX)
                },
                |s| s.total_kimg,
            );
            Some(Row {
                experiment: record.run.experiment,
                hash: record.run.hash,
                varies: record.run.varies,
                state: run_state(&dir, total_kimg),
                dir,
                total_kimg,
                status,
                slurm_state: None,
            })
        })
        .collect()
}

/// The SLURM column: Slurm's state of the task and how often it requeued itself at its time
/// limit (`RUNNING, requeued ×2`), `-` when neither is known.
fn slurm_column(slurm_state: Option<&str>, status: Option<&RunStatus>) -> String {
    let requeues = status.map_or(0, |s| s.requeues.len());
    match (slurm_state, requeues) {
        (None, 0) => "-".into(),
        (Some(state), 0) => state.into(),
        (None, n) => format!("requeued ×{n}"),
        (Some(state), n) => format!("{state}, requeued ×{n}"),
    }
}

/// Run `kimg status`.
pub(crate) fn run(args: &StatusArgs) -> Result<ExitCode, Error> {
    let mut rows = if args.target.is_file() {
        rows_of_manifest(args)?
    } else if args.target.is_dir() {
        rows_of_dir(&args.target)
    } else {
        return Err(Error::Usage(format!(
            "`{}` is neither a manifest nor a runs directory",
            args.target.display()
        )));
    };
    let tasks: Vec<String> = rows
        .iter()
        .filter(|r| !matches!(r.state, RunState::Done))
        .filter_map(|r| r.status.as_ref()?.slurm_job.clone())
        .collect();
    let slurm = if tasks.is_empty() {
        None
    } else {
        job_states(&tasks.iter().map(String::as_str).collect::<Vec<_>>())
    };
    if let Some(states) = &slurm {
        for row in &mut rows {
            if let Some(task) = row.status.as_ref().and_then(|s| s.slurm_job.as_ref()) {
                row.slurm_state = Some(
                    states
                        .get(task)
                        .cloned()
                        .unwrap_or_else(|| "not queued".into()),
                );
            }
        }
    }
    if args.json {
        ui::println(&serde_json::to_string_pretty(&rows).expect("JSON renders"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        ui::println(&format!("no runs under {}", args.target.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:<16} {:<12}  {:<22}  {:<18}  {:>9}  {:<22}  {}\n",
        "EXPERIMENT", "HASH", "VARIES", "STATE", "S/KIMG", "WORKER", "SLURM"
    );
    for row in &rows {
        let status = row.status.as_ref();
        let speed = status
            .and_then(|s| s.sec_per_kimg)
            .map_or_else(|| "-".into(), |s| format!("{s:.2}"));
        let worker = match (&row.state, status) {
            (RunState::Running { .. }, Some(s)) => format!(
                "pid {} on {}",
                s.pid.unwrap_or(0),
                s.host.as_deref().unwrap_or("?")
            ),
            _ => "-".into(),
        };
        let state = match &row.state {
            RunState::Done => format!("done {} kimg", row.total_kimg),
            other => other.describe(),
        };
        text.push_str(&format!(
            "{:<16} {:<12}  {:<22}  {:<18}  {:>9}  {:<22}  {}\n",
            row.experiment,
            &row.hash[..12.min(row.hash.len())],
            if row.varies.is_empty() {
                "-"
            } else {
                &row.varies
            },
            state,
            speed,
            worker,
            slurm_column(row.slurm_state.as_deref(), status)
        ));
        let notes = status.into_iter().flat_map(|s| {
            let failure = s.failure.as_ref().map(|f| &f.message);
            failure.into_iter().chain(&s.note)
        });
        for note in notes {
            text.push_str(&format!("{:<16} {:<12}  {note}\n", "", ""));
        }
        if let Some(decision) = RunDecision::read(&row.dir) {
            text.push_str(&format!(
                "{:<16} {:<12}  halving: {} — {}\n",
                "",
                "",
                decision.describe(),
                decision.rule
            ));
        }
    }
    ui::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::slurm_column;
    use crate::run::status::{Requeue, RunStatus};

    #[test]
    fn the_slurm_column_counts_the_requeues() {
        let mut status = RunStatus::queued(10);
        assert_eq!(slurm_column(None, Some(&status)), "-");
        assert_eq!(slurm_column(Some("PENDING"), Some(&status)), "PENDING");
        for kimg in [1.5, 3.0] {
            status.requeues.push(Requeue {
                at: chrono::Local::now(),
                kimg,
                slurm_job: "7_0".into(),
            });
        }
        assert_eq!(
            slurm_column(Some("RUNNING"), Some(&status)),
            "RUNNING, requeued ×2"
        );
        assert_eq!(slurm_column(None, Some(&status)), "requeued ×2");
        assert_eq!(slurm_column(None, None), "-");
    }
}
