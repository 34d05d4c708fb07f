//! The training process's side of a run, between the scheduler that starts it and the trainer
//! that computes: where it writes ([`run_dir`]), what watches it ([`monitor`]: lock, status,
//! progress, signals), how its end is recorded ([`session`]) and how a Slurm task continues past
//! its time limit ([`requeue`]).

pub mod monitor;
pub mod requeue;
pub mod run_dir;
pub mod session;
