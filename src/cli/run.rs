//! `kimg run MANIFEST`: carry out every run of a manifest that is not done — here, across the
//! local devices, or on Slurm.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{EXIT_INTERRUPTED, Error};
use crate::halving::{Roster, RosterRun, Rule};
use crate::manifest::Override;
use crate::run::layout::RunState;
use crate::schedule::local::{Devices, LocalOptions, RunEnd, run_local};
use crate::schedule::reporter::ProgressReporter;
use crate::schedule::slurm::{SlurmOptions, signal_offset, submit, time_limit_seconds};
use crate::schedule::{PlannedRun, plan};
use crate::signals::stop_flag;
use crate::ui::{self, human_duration};

/// Where runs execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// Child processes on this machine.
    Local,
    /// A Slurm job array (returns after submission).
    Slurm,
}

/// Options of `kimg run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The experiment manifest.
    pub(crate) manifest: PathBuf,
    /// Override a value before expanding (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<Override>,
    /// Where run directories live.
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
    /// Devices to pack runs onto: CUDA ordinals `0,1,2,3`, or `cpu` (default: every GPU
    /// libtorch sees, else the CPU).
    #[arg(long, value_name = "LIST")]
    pub(crate) devices: Option<String>,
    /// At most this many runs at once (default: as many as the devices hold; 1 on the CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_parallel: Option<u32>,
    /// Further attempts for a run that crashed or ran out of memory.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) retries: u32,
    /// Also retry runs whose last attempt diverged or had a configuration error.
    #[arg(long)]
    pub(crate) retry_failed: bool,
    /// Refuse to start when the pending runs' estimate exceeds this many GPU-hours (V100 figures).
    #[arg(long, value_name = "H")]
    pub(crate) max_gpu_hours: Option<f64>,
    /// Print what would run and exit.
    #[arg(short = 'n', long)]
    pub(crate) dry_run: bool,
    /// Ignore `[schedule.halving]`: train every run to its `kimg`, resuming paused and stopped
    /// runs from their snapshots.
    #[arg(long)]
    pub(crate) no_halving: bool,
    /// Run here or submit to Slurm.
    #[arg(long, value_enum, default_value = "local")]
    pub(crate) on: Target,
    /// Slurm partition.
    #[arg(long)]
    pub(crate) partition: Option<String>,
    /// Slurm time limit per task (e.g. `2-00:00:00`).
    #[arg(long, value_parser = slurm_time)]
    pub(crate) time: Option<String>,
    /// An extra `#SBATCH` argument, verbatim (repeatable), e.g. `--sbatch-arg=--account=lab`.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) sbatch_args: Vec<String>,
    /// Slurm warns a task this long before its time limit, to snapshot and requeue itself
    /// (default: 120 s up to 256², 300 s at 512², 600 s above).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub(crate) signal_offset: Option<u32>,
    /// How many times a Slurm task may requeue itself at its time limit.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) max_requeues: u32,
}

fn parse_devices(text: Option<&str>) -> Result<Devices, Error> {
    match text {
        Some("cpu") => Ok(Devices::Cpu),
        Some(list) => list
            .split(',')
            .map(|id| {
                id.trim().parse::<u32>().map_err(|_| {
                    Error::Usage(format!(
                        "--devices: `{id}` is not a CUDA ordinal (use e.g. `0,1,2,3` or `cpu`)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Devices::Gpus),
        None => {
            let count = u32::try_from(tch::Cuda::device_count()).unwrap_or(0);
            Ok(if count == 0 {
                Devices::Cpu
            } else {
                Devices::Gpus((0..count).collect())
            })
        }
    }
}

/// GPU-hours of `runs` on V100 (the slower published figure), when every run has an estimate.
fn gpu_hours(runs: &[&PlannedRun]) -> Option<f64> {
    runs.iter()
        .map(|r| {
            r.estimate_sec()
                .map(|(v100, _)| v100 / 3600.0 * f64::from(r.run.spec.train.gpus))
        })
        .sum()
}

fn label(run: &PlannedRun) -> String {
    let varies = run.run.short_description();
    format!(
        "{}  {:<24}",
        run.identity.short(),
        if varies.is_empty() { "-" } else { &varies }
    )
}

/// Refuse before starting any worker when a pending run asks for a metric kimg cannot compute,
/// or — for local runs — when there is no feature detector (Slurm nodes may have their own).
fn check_metrics(runs: &[&PlannedRun], on: Target) -> Result<(), Error> {
    let specs = runs
        .iter()
        .flat_map(|r| &r.run.spec.train.metrics)
        .map(|name| crate::metrics::metric_spec(name))
        .collect::<Result<Vec<_>, _>>()?;
    if on == Target::Local {
        for network in crate::metrics::registry::networks(&specs) {
            crate::metrics::locate::locate(network, None)?;
        }
    }
    Ok(())
}

/// Refuse before starting any run when a pending run's data fails the checks `kimg train` makes
/// before writing anything (it opens, has the labels `cond` needs and a resolution the networks
/// take, its first batch decodes). Each dataset, by path and `cond`, is checked once.
fn check_data(runs: &[&PlannedRun]) -> Result<(), Error> {
    let mut checked = std::collections::BTreeSet::new();
    for run in runs {
        let data = &run.run.spec.data;
        if !checked.insert((data.path.clone(), data.cond)) {
            continue;
        }
        crate::train::trainer::Trainer::check_data(&run.run.spec).map_err(|error| {
            let path = data
                .path
                .as_ref()
                .map_or_else(|| "unset".into(), |p| format!("`{}`", p.display()));
            Error::Usage(format!(
                "run {} cannot start, nothing was started: `data.path` = {path}: {error}",
                label(run).trim_end()
            ))
        })?;
    }
    Ok(())
}

/// Whether successive halving ended `run` (paused or stopped early).
fn halted(run: &PlannedRun) -> bool {
    matches!(
        run.state,
        RunState::Paused { .. } | RunState::Stopped { .. }
    )
}

/// Write the experiment's halving roster when its manifest sets `[schedule.halving]` (the rule
/// and every run of the sweep), before any worker starts.
fn write_roster(runs: &[PlannedRun], runs_dir: &std::path::Path) -> Result<(), Error> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let Some(halving) = &first.run.spec.halving else {
        return Ok(());
    };
    let roster = Roster {
        metric: halving.metric.clone(),
        rule: Rule {
            rungs: halving.rungs.clone(),
            eta: halving.eta,
            min_runs: halving.min_runs,
        },
        runs: runs
            .iter()
            .map(|r| RosterRun {
                hash: r.identity.hash.clone(),
                dir: r
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    roster
        .write(&runs_dir.join(&first.run.spec.name))
        .map_err(|e| Error::Environment(e.to_string()))
}

/// Run `kimg run`.
pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, Error> {
    let runs = plan(&args.manifest, &args.set, &args.runs_dir)?;
    let devices = parse_devices(args.devices.as_deref())?;
    let is_pending =
        |run: &PlannedRun| run.pending(args.retry_failed) || (args.no_halving && halted(run));
    let pending: Vec<usize> = (0..runs.len()).filter(|&i| is_pending(&runs[i])).collect();
    let experiment = &runs[0].run.spec.name;
    for run in runs.iter().filter(|r| !is_pending(r)) {
        ui::println(&format!("{}  {}", label(run), run.state.describe()))?;
    }
    if pending.is_empty() {
        ui::println(&format!(
            "all {} runs of `{experiment}` are done or running; nothing to do",
            runs.len()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let pending_runs: Vec<&PlannedRun> = pending.iter().map(|&i| &runs[i]).collect();
    if let (Some(limit), Some(hours)) = (args.max_gpu_hours, gpu_hours(&pending_runs))
        && hours > limit
    {
        return Err(Error::Usage(format!(
            "the {} pending runs are estimated at {hours:.0} GPU-hours on V100 ({}), over \
                 --max-gpu-hours {limit}",
            pending.len(),
            human_duration(hours * 3600.0)
        )));
    }
    for run in &pending_runs {
        ui::println(&format!("{}  {} → run", label(run), run.state.describe()))?;
    }
    if args.dry_run {
        ui::println(&format!(
            "\ndry run: {} of {} runs would run",
            pending.len(),
            runs.len()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    check_metrics(&pending_runs, args.on)?;
    check_data(&pending_runs)?;
    if !args.no_halving {
        write_roster(&runs, &args.runs_dir)?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Environment(format!("cannot find the kimg executable: {e}")))?;
    if args.on == Target::Slurm {
        return submit_to_slurm(args, &pending_runs, exe, devices == Devices::Cpu);
    }
    run_here(args, experiment, &runs, &pending, exe, devices)
}

/// `--time` checked against Slurm's syntax (clap's value parser).
fn slurm_time(text: &str) -> Result<String, String> {
    time_limit_seconds(text).map(|_| text.to_string())
}

/// Refuse a time-limit warning that would come at the task's start: a `--signal-offset` (given, or
/// the default of the largest resolution) not shorter than `--time`.
fn check_signal_offset(runs: &[&PlannedRun], options: &SlurmOptions) -> Result<(), Error> {
    let Some(time) = &options.time else {
        return Ok(());
    };
    let Ok(Some(limit)) = time_limit_seconds(time) else {
        return Ok(());
    };
    let offset = signal_offset(runs, options);
    if u64::from(offset) >= limit {
        let origin = if options.signal_offset.is_some() {
            "`--signal-offset`"
        } else {
            "the default `--signal-offset` for this resolution"
        };
        return Err(Error::Usage(format!(
            "{origin} ({offset} s) is not shorter than `--time {time}` ({limit} s): every task \
             would be warned of its time limit as it starts; give a longer `--time` or a shorter \
             `--signal-offset`"
        )));
    }
    Ok(())
}

/// Submit the pending runs as Slurm job arrays and say where to follow them.
fn submit_to_slurm(
    args: &RunArgs,
    pending_runs: &[&PlannedRun],
    exe: PathBuf,
    cpu: bool,
) -> Result<ExitCode, Error> {
    let options = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        sbatch_args: args.sbatch_args.clone(),
        exe,
        manifest: args.manifest.clone(),
        cpu,
        signal_offset: args.signal_offset,
        max_requeues: args.max_requeues,
    };
    check_signal_offset(pending_runs, &options)?;
    let submissions =
        submit(pending_runs, &options).map_err(|e| Error::Environment(e.to_string()))?;
    for submission in submissions {
        ui::println(&format!(
            "submitted job array {} ({} tasks): {}",
            submission.job_id,
            submission.dirs.len(),
            submission.script.display()
        ))?;
    }
    ui::println(&format!(
        "follow with `kimg status {}`",
        args.manifest.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Train the runs at `pending` on this machine's devices, then print one line per run and turn
/// failures and interruptions into the exit code.
fn run_here(
    args: &RunArgs,
    experiment: &str,
    runs: &[PlannedRun],
    pending: &[usize],
    exe: PathBuf,
    devices: Devices,
) -> Result<ExitCode, Error> {
    let max_parallel = args.max_parallel.map_or_else(
        || match &devices {
            Devices::Cpu => 1,
            Devices::Gpus(ids) => ids.len().max(1),
        },
        |n| usize::try_from(n).unwrap_or(1),
    );
    let options = LocalOptions {
        devices,
        max_parallel,
        retries: args.retries,
        exe,
        manifest: args.manifest.clone(),
        halving: !args.no_halving,
    };
    let stop = stop_flag();
    let mut reporter = ProgressReporter::new(pending.len());
    let outcomes = run_local(runs, pending, &options, &stop, &mut reporter);
    let mut text = format!("\n{} runs of `{experiment}`:\n", runs.len());
    let (mut failed, mut interrupted) = (0, 0);
    for outcome in &outcomes {
        let run = &runs[outcome.index];
        match &outcome.end {
            RunEnd::Failed { .. } => failed += 1,
            RunEnd::Interrupted | RunEnd::NotStarted => interrupted += 1,
            RunEnd::Done | RunEnd::Elsewhere { .. } | RunEnd::Paused | RunEnd::StoppedEarly => {}
        }
        text.push_str(&format!(
            "{}  {}{}\n",
            label(run),
            outcome.end.text(),
            if outcome.attempts > 1 {
                format!(" ({} attempts)", outcome.attempts)
            } else {
                String::new()
            }
        ));
    }
    ui::print(&text)?;
    if failed > 0 {
        return Err(Error::RunFailed(format!(
            "{failed} of {} runs failed (details in each run's {})",
            outcomes.len(),
            crate::run_files::WORKER_LOG
        )));
    }
    if interrupted > 0 || stop.load(std::sync::atomic::Ordering::Relaxed) {
        ui::println("stopped; `kimg run` again resumes where the runs left off")?;
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}
