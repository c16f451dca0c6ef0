//! Login throttling: login attempts are counted per login name and per client address in
//! fixed windows; past the limit, logins for that key answer 429 with `Retry-After` until
//! the window ends, without checking the password (SPEC §2).
//!
//! An attempt is counted when it begins, before the password is hashed, and uncounted only
//! if it succeeds: so the limit holds for attempts in flight too. (Counting after the hash
//! let a wave of 200 concurrent guesses all be checked while each saw a count of zero.)
//! A success clears the name's counter but not the address's, so one valid account cannot
//! be used to reset an address that is guessing other users' passwords.
//!
//! The name is the one typed, case-folded: a username, or an email address. Counting an
//! email under the account it belongs to would tell anyone which account owns it.
//!
//! Counters live in memory, per node, under a std `Mutex`: each operation is a few map
//! lookups and never awaits. Memory is bounded because an address can add at most
//! `per_address` names per window before it is blocked, and expired entries are swept.

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
    Name(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    /// Attempts begun in this window that did not succeed (failed, or still in flight).
    attempts: u32,
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

/// Sweep expired windows once the map holds this many.
const SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Begins a login for `name` (case-folded by the caller) from `address`: counts it
    /// against both, unless either is at its limit.
    ///
    /// # Errors
    /// `Blocked` with the longest wait of the two keys; nothing is counted then.
    pub fn begin(&self, name: &str, address: IpAddr, now: Instant) -> Result<(), Blocked> {
        let mut windows = self.lock();
        if windows.len() > SWEEP_AT {
            let window = self.limits.window;
            windows.retain(|_, w| now < w.started + window);
        }
        let keys = [
            (Key::Name(name.to_owned()), self.limits.per_username),
            (Key::Address(address), self.limits.per_address),
        ];
        let mut longest = None;
        for (key, limit) in &keys {
            let Some(window) = windows.get(key) else {
                continue;
            };
            let ends = window.started + self.limits.window;
            if window.attempts >= *limit && now < ends {
                longest = longest.max(Some(ends - now));
            }
        }
        if let Some(retry_after) = longest {
            return Err(Blocked { retry_after });
        }
        for (key, _) in keys {
            let entry = windows.entry(key).or_insert(Window {
                started: now,
                attempts: 0,
            });
            if now >= entry.started + self.limits.window {
                *entry = Window {
                    started: now,
                    attempts: 0,
                };
            }
            entry.attempts += 1;
        }
        Ok(())
    }

    /// A begun login succeeded: the name's count is cleared, and the address gets its
    /// attempt back.
    pub fn succeeded(&self, name: &str, address: IpAddr) {
        let mut windows = self.lock();
        windows.remove(&Key::Name(name.to_owned()));
        if let Some(window) = windows.get_mut(&Key::Address(address)) {
            window.attempts = window.attempts.saturating_sub(1);
        }
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
    fn blocks_a_name_after_its_limit_until_the_window_ends() {
        let throttle = throttle();
        let start = Instant::now();
        for i in 0..3 {
            assert!(throttle.begin(ALICE, address(i), start).is_ok());
        }
        let blocked = throttle.begin(ALICE, address(9), start + Duration::from_secs(10));
        assert_eq!(
            blocked,
            Err(Blocked {
                retry_after: Duration::from_secs(50)
            })
        );
        assert!(throttle.begin("bob", address(9), start).is_ok());
        assert!(
            throttle
                .begin(ALICE, address(9), start + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn attempts_in_flight_count_so_a_wave_gets_only_the_limit_through() {
        let throttle = throttle();
        let now = Instant::now();
        let begun = (0..200)
            .filter(|i| throttle.begin(ALICE, address(i % 4), now).is_ok())
            .count();
        assert_eq!(
            begun, 3,
            "none of them has finished, and only 3 may be checked"
        );
    }

    #[test]
    fn blocks_an_address_guessing_many_names() {
        let throttle = throttle();
        let now = Instant::now();
        for i in 0..5 {
            assert!(throttle.begin(&format!("user{i}"), address(1), now).is_ok());
        }
        assert!(throttle.begin("someone-else", address(1), now).is_err());
        assert!(throttle.begin("someone-else", address(2), now).is_ok());
    }

    #[test]
    fn success_clears_the_name_but_not_the_addresses_failures() {
        let throttle = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            throttle.begin(ALICE, address(1), now).unwrap();
        }
        throttle.succeeded(ALICE, address(1));
        assert!(throttle.begin(ALICE, address(2), now).is_ok());
        for _ in 0..2 {
            throttle.begin("bob", address(1), now).unwrap();
        }
        // Address 1: three of alice's attempts, one given back by the success, two of bob's.
        assert!(throttle.begin("carol", address(1), now).is_ok());
        assert!(throttle.begin(ALICE, address(1), now).is_err());
    }
}
