//! Successive halving of a sweep (ASHA): [`rule`] decides from arrivals at rungs which runs
//! continue, pause or stop; [`store`] keeps the roster, the decision log and each run's decision
//! file in the experiment directory, and decides under its lock.

pub mod rule;
pub mod store;

pub use rule::{Decision, Event, Ladder, Rule, Verdict, standing_at};
pub use store::{
    Arrival, HalvingError, Roster, RosterRun, arrive, read_log, record_failure, replay,
};
