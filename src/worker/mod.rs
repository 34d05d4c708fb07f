//! The training process's side of a run, between the scheduler that starts it and the trainer
//! that computes: where it writes ([`run_dir`]), what watches it ([`monitor`]: lock, status,
//! progress, signals), how its end is recorded ([`session`]), how a Slurm task continues past its
//! time limit ([`requeue`]) and its rungs under successive halving ([`rungs`]).

pub mod monitor;
pub mod requeue;
pub mod run_dir;
pub mod rungs;
pub mod session;
