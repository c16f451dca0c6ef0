//! Login throttling: failed attempts are counted per username and per client address in
//! fixed windows; past the limit, logins for that key answer 429 with `Retry-After` until
//! the window ends, without checking the password (SPEC §2).
//!
//! A success clears the username's counter but not the address's, so one valid account
//! cannot be used to reset an address that is guessing other users' passwords.
//!
//! Counters live in memory, per node, under a std `Mutex`: each operation is a few map
//! lookups and never awaits. Memory is bounded because an address can add at most
//! `per_address` usernames per window before it is blocked, and expired entries are swept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub per_username: u32,
    pub per_address: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Username(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The per-node throttle.
#[derive(Debug)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

/// The login may not proceed for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub retry_after: Duration,
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a login for `username` (case-folded by the caller) from `address` may proceed.
    ///
    /// # Errors
    /// `Blocked` with the longest wait of the two keys.
    pub fn check(&self, username: &str, address: IpAddr, now: Instant) -> Result<(), Blocked> {
        let windows = self.lock();
        let waits = [
            (Key::Username(username.to_owned()), self.limits.per_username),
            (Key::Address(address), self.limits.per_address),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let window = windows.get(&key)?;
            let ends = window.started + self.limits.window;
            (window.failures >= limit && now < ends).then(|| ends - now)
        });
        match waits.max() {
            Some(retry_after) => Err(Blocked { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed login against both keys.
    pub fn record_failure(&self, username: &str, address: IpAddr, now: Instant) {
        let mut windows = self.lock();
        if windows.len() > 10_000 {
            let window = self.limits.window;
            windows.retain(|_, w| now < w.started + window);
        }
        for key in [Key::Username(username.to_owned()), Key::Address(address)] {
            let entry = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now >= entry.started + self.limits.window {
                *entry = Window {
                    started: now,
                    failures: 0,
                };
            }
            entry.failures += 1;
        }
    }

    /// A successful login clears the username's failures.
    pub fn record_success(&self, username: &str) {
        self.lock().remove(&Key::Username(username.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        // A panic while holding this lock leaves only counters behind; they stay usable.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice";

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_username: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        })
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn blocks_a_username_after_its_limit_until_the_window_ends() {
        let throttle = throttle();
        let start = Instant::now();
        for i in 0..3 {
            assert!(throttle.check(ALICE, address(i), start).is_ok());
            throttle.record_failure(ALICE, address(i), start);
        }
        let blocked = throttle.check(ALICE, address(9), start + Duration::from_secs(10));
        assert_eq!(
            blocked,
            Err(Blocked {
                retry_after: Duration::from_secs(50)
            })
        );
        assert!(throttle.check("bob", address(9), start).is_ok());
        assert!(
            throttle
                .check(ALICE, address(9), start + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn blocks_an_address_guessing_many_usernames() {
        let throttle = throttle();
        let now = Instant::now();
        for i in 0..5 {
            throttle.record_failure(&format!("user{i}"), address(1), now);
        }
        assert!(throttle.check("someone-else", address(1), now).is_err());
        assert!(throttle.check("someone-else", address(2), now).is_ok());
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let throttle = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            throttle.record_failure(ALICE, address(1), now);
        }
        throttle.record_success(ALICE);
        assert!(throttle.check(ALICE, address(2), now).is_ok());
        for _ in 0..2 {
            throttle.record_failure("bob", address(1), now);
        }
        assert!(throttle.check(ALICE, address(1), now).is_err());
    }
}
