//! Runs: the identity that names a run directory, and the directory layout.

pub mod identity;
pub mod layout;
