//! Warnings worth repeating, but not on every occurrence: said the first
//! time, then at most once an interval, however often the cause recurs.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::key::Millis;

pub struct Reminder {
    interval: Millis,
    /// When it was last said (ms); `i64::MIN` for never.
    said: AtomicI64,
}

impl Reminder {
    pub const fn new(interval: Millis) -> Self {
        Reminder {
            interval,
            said: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether to say it at `now` (ms): the first time, and then once
    /// `interval` has passed since it was last said. Of callers racing at
    /// the same moment, one is told yes.
    pub fn due(&self, now: Millis) -> bool {
        let said = self.said.load(Ordering::Relaxed);
        if said != i64::MIN && now.saturating_sub(said) < self.interval {
            return false;
        }
        self.said
            .compare_exchange(said, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_at_once_then_once_an_interval() {
        let reminder = Reminder::new(1_000);
        assert!(reminder.due(5_000));
        assert!(!reminder.due(5_000));
        assert!(!reminder.due(5_999));
        assert!(reminder.due(6_000));
        assert!(!reminder.due(6_500));
        // A clock that steps back says nothing until the interval has
        // passed from the last saying.
        assert!(!reminder.due(0));
        assert!(reminder.due(7_000));
    }

    #[test]
    fn of_racing_callers_one_says_it() {
        let reminder = std::sync::Arc::new(Reminder::new(60_000));
        let said: usize = (0..8)
            .map(|_| {
                let reminder = reminder.clone();
                std::thread::spawn(move || usize::from(reminder.due(1_000)))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(said, 1);
    }
}
