//! Quotas in fixed windows: room creation per user (`--rooms-per-hour`), registrations per
//! client address (`--registrations-per-hour`). A key past the limit is refused with 429
//! and `Retry-After` until its window ends.
//!
//! Counters live in memory, per node, like the login throttle: a few map operations under
//! a std `Mutex`, never held across an await. Expired windows are swept as the map grows,
//! so memory follows the users active within one window.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    used: u32,
}

/// One quota: `limit` uses per `window`, per key (a user id, a client address).
#[derive(Debug)]
pub struct Quota<K = i64> {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

/// The quota is used up for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub retry_after: Duration,
}

impl<K: Hash + Eq> Quota<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Uses one unit of the key's quota, if one is left.
    ///
    /// # Errors
    /// `Exhausted` with the time until the key's window ends.
    pub fn take(&self, key: K, now: Instant) -> Result<(), Exhausted> {
        let mut windows = self.lock();
        if windows.len() >= 1024 && windows.len().is_power_of_two() {
            windows.retain(|_, window| now < window.started + self.window);
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            used: 0,
        });
        let ends = window.started + self.window;
        if now >= ends {
            *window = Window {
                started: now,
                used: 0,
            };
        } else if window.used >= self.limit {
            return Err(Exhausted {
                retry_after: ends - now,
            });
        }
        window.used += 1;
        Ok(())
    }

    /// Gives back a unit whose use failed (the room name was taken, say).
    pub fn give_back(&self, key: &K) {
        if let Some(window) = self.lock().get_mut(key) {
            window.used = window.used.saturating_sub(1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Window>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Exhausted, Quota};

    #[test]
    fn allows_the_limit_per_window_per_user() {
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        let quota: Quota = Quota::new(2, hour);
        assert!(quota.take(1, start).is_ok());
        assert!(quota.take(1, start).is_ok());
        let later = start + Duration::from_secs(600);
        assert_eq!(
            quota.take(1, later),
            Err(Exhausted {
                retry_after: Duration::from_secs(3000)
            })
        );
        assert!(quota.take(2, later).is_ok(), "another user has their own");
        quota.give_back(&1);
        assert!(
            quota.take(1, later).is_ok(),
            "a unit given back can be used"
        );
        assert!(quota.take(1, start + hour).is_ok(), "a new window starts");
    }
}
