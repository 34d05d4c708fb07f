//! Process CPU time, for benchmarks on a shared machine: unlike wall-clock time it does not count
//! the time other processes hold the cores.

/// User + system CPU seconds of this process so far, every thread included (`/proc/self/stat`,
/// in clock ticks of 1/100 s, the Linux x86-64 value of `sysconf(_SC_CLK_TCK)`); `NaN` where
/// there is no `/proc`.
pub(crate) fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The command name (field 2) may hold spaces: count the fields after its closing parenthesis,
    // where utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    match ticks.as_slice() {
        [user, system] => (user + system) / 100.0,
        _ => f64::NAN,
    }
}
