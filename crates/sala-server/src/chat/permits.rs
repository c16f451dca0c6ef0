//! Write permits: that a user was found free to write into a room (not muted there, not
//! blocked by anyone in its DM), remembered for a moment.
//!
//! Every send and `typing` asks it. Asking the store each time was one read per message,
//! and that read, handed to a reader thread and back, cost as much CPU as storing the
//! message (issue 20, profiled under the rooms benchmark). A permit is kept for at most
//! [`FRESH_FOR`], and a mute, ban, kick or block forgets the permits it concerns at once,
//! so it takes effect on the very next write, as before. Only a node on its own keeps
//! permits: in a cluster a mute may be made through another node, which this one would
//! hear of too late, so linked nodes ask the store at each write. A refusal is never kept:
//! it is asked again each time, so a mute that ends is over at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a permit is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Most permits held (about 40 bytes each: 2.6 MiB at most). When full, the stale ones
/// go, and if none is stale, all of them: the next writes ask the store again.
pub const MAX_PERMITS: usize = 65_536;

/// The permits of this node's writers.
#[derive(Default)]
pub struct WritePermits {
    inner: Mutex<Permits>,
}

#[derive(Default)]
struct Permits {
    /// (room id, user id) → when the store last said the user may write there.
    granted: HashMap<(i64, i64), Instant>,
    /// Counts the forgettings: a check that began before one must not keep what it read.
    epoch: u64,
}

/// Where a check began, to [`WritePermits::grant`] what it finds.
#[derive(Debug, Clone, Copy)]
pub struct CheckStarted {
    epoch: u64,
}

impl WritePermits {
    /// Whether `user_id` holds a fresh permit for `room_id`; if not, where the check that
    /// must now ask the store begins.
    pub fn check(&self, room_id: i64, user_id: i64, now: Instant) -> Result<(), CheckStarted> {
        let permits = self.lock();
        match permits.granted.get(&(room_id, user_id)) {
            Some(granted) if now.saturating_duration_since(*granted) < FRESH_FOR => Ok(()),
            _ => Err(CheckStarted {
                epoch: permits.epoch,
            }),
        }
    }

    /// The store said `user_id` may write into `room_id`, as read since `started`. Kept
    /// unless something was forgotten meanwhile (it may be what the store read missed).
    pub fn grant(&self, room_id: i64, user_id: i64, started: CheckStarted, now: Instant) {
        let mut permits = self.lock();
        if permits.epoch != started.epoch {
            return;
        }
        if permits.granted.len() >= MAX_PERMITS {
            permits
                .granted
                .retain(|_, granted| now.saturating_duration_since(*granted) < FRESH_FOR);
            if permits.granted.len() >= MAX_PERMITS {
                permits.granted.clear();
            }
        }
        permits.granted.insert((room_id, user_id), now);
    }

    /// A moderation of `user_id` in `room_id`: their permit there is gone.
    pub fn forget(&self, room_id: i64, user_id: i64) {
        let mut permits = self.lock();
        permits.epoch += 1;
        permits.granted.remove(&(room_id, user_id));
    }

    /// A block (it concerns every DM of two people): every permit is gone.
    pub fn forget_all(&self) {
        let mut permits = self.lock();
        permits.epoch += 1;
        permits.granted.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Permits> {
        // The map is whole after any panic (each change is one call), so a poisoned lock
        // is still good to use.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_is_trusted_for_a_second_and_no_longer() {
        let permits = WritePermits::default();
        let now = Instant::now();
        let started = permits.check(1, 7, now).unwrap_err();
        permits.grant(1, 7, started, now);
        assert!(permits.check(1, 7, now + FRESH_FOR / 2).is_ok());
        assert!(permits.check(1, 7, now + FRESH_FOR).is_err());
        assert!(permits.check(2, 7, now).is_err(), "another room");
        assert!(permits.check(1, 8, now).is_err(), "another user");
    }

    #[test]
    fn forgetting_ends_a_permit_at_once() {
        let permits = WritePermits::default();
        let now = Instant::now();
        for (room, user) in [(1, 7), (1, 8)] {
            let started = permits.check(room, user, now).unwrap_err();
            permits.grant(room, user, started, now);
        }
        permits.forget(1, 7);
        assert!(permits.check(1, 7, now).is_err());
        assert!(permits.check(1, 8, now).is_ok(), "only the one moderated");
        permits.forget_all();
        assert!(permits.check(1, 8, now).is_err());
    }

    #[test]
    fn a_check_that_raced_a_forgetting_keeps_nothing() {
        let permits = WritePermits::default();
        let now = Instant::now();
        let started = permits.check(1, 7, now).unwrap_err();
        // The mute commits and forgets while the store is being read for the check.
        permits.forget(1, 7);
        permits.grant(1, 7, started, now);
        assert!(permits.check(1, 7, now).is_err());
    }

    #[test]
    fn the_permits_held_are_bounded() {
        let now = Instant::now();
        let full = || {
            let permits = WritePermits::default();
            for user in 0..MAX_PERMITS as i64 {
                let started = permits.check(1, user, now).unwrap_err();
                permits.grant(1, user, started, now);
            }
            assert_eq!(permits.lock().granted.len(), MAX_PERMITS);
            permits
        };
        let later = now + FRESH_FOR;
        for (at, why) in [
            (later, "the stale ones went"),
            (now, "none was stale: all went"),
        ] {
            let permits = full();
            let started = permits.check(2, 1, at).unwrap_err();
            permits.grant(2, 1, started, at);
            assert_eq!(permits.lock().granted.len(), 1, "{why}");
        }
    }
}
