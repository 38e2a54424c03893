//! Saying that a test skipped, where the suite's log shows it.

use std::io::Write;

/// Prints `SKIPPED: <reason>` straight to the process's stderr. `eprintln!`
/// in a test is captured, and a passing test's capture is never shown, so
/// the reason would not reach the log of a run that skipped.
pub fn skipped(reason: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}
