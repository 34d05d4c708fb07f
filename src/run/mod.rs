//! Runs: the identity that names a run directory, the directory layout, and the files a run
//! directory holds besides the training output — the record, the status, the lock and the
//! halving decision.

pub mod decision;
pub mod identity;
pub mod layout;
pub mod lock;
pub mod record;
pub mod status;
