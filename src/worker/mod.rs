//! The training process's side of a run, between the scheduler that starts it and the trainer
//! that computes: where it writes ([`run_dir`]), what watches it ([`monitor`]: lock, status,
//! progress, signals) and how its end is recorded ([`session`]).

pub mod monitor;
pub mod run_dir;
pub mod session;
