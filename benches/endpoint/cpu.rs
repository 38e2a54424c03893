//! CPU time from Linux's /proc: of a process, and of its threads by name.

use std::path::Path;

/// User + system CPU seconds a process has used so far.
pub fn process_seconds(pid: u32) -> f64 {
    stat_seconds(format!("/proc/{pid}/stat").as_ref())
}

/// [`process_seconds`] and its system (kernel) part, read at one moment.
pub fn process_and_kernel_seconds(pid: u32) -> (f64, f64) {
    let (user, system) = stat_ticks(format!("/proc/{pid}/stat").as_ref());
    ((user + system) / 100.0, system / 100.0)
}

/// User + system CPU seconds the threads of `pid` named `name` have used
/// so far (0 if it has none).
pub fn thread_seconds(pid: u32, name: &str) -> f64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    threads
        .filter_map(Result::ok)
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| stat_seconds(&t.path().join("stat")))
        .sum()
}

fn stat_seconds(path: &Path) -> f64 {
    let (user, system) = stat_ticks(path);
    (user + system) / 100.0
}

/// User and system clock ticks.
fn stat_ticks(path: &Path) -> (f64, f64) {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11), ticks(12))
}
