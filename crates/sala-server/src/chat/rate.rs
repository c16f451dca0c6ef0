//! Send rates: a token bucket (`burst` tokens, refilled at `per_sec`, one token per
//! message), and the buckets of the users connected to this node, one per user shared by
//! all of that user's connections, so opening more connections buys no more messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub fn new(per_sec: f64, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            per_sec,
            tokens: capacity,
            refilled_at: now,
        }
    }

    /// Takes a token if one is left.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One bucket per user with a live connection on this node. A bucket lives as long as a
/// session holds it; the map keeps only weak references, swept as it grows.
#[derive(Debug)]
pub struct UserRates {
    per_sec: f64,
    burst: u32,
    buckets: Mutex<HashMap<i64, Weak<Mutex<TokenBucket>>>>,
}

/// A user's bucket, shared by their sessions.
pub type SharedBucket = Arc<Mutex<TokenBucket>>;

impl UserRates {
    pub fn new(per_sec: f64, burst: u32) -> Self {
        Self {
            per_sec,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The user's bucket: the one their other connections use, or a full new one.
    pub fn bucket(&self, user_id: i64, now: Instant) -> SharedBucket {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get(&user_id).and_then(Weak::upgrade) {
            return bucket;
        }
        // Sweep before the map doubles: amortised O(1) per new bucket, and the map stays
        // within twice the users connected.
        if buckets.len() >= 64 && buckets.len().is_power_of_two() {
            buckets.retain(|_, bucket| bucket.strong_count() > 0);
        }
        let bucket = Arc::new(Mutex::new(TokenBucket::new(self.per_sec, self.burst, now)));
        buckets.insert(user_id, Arc::downgrade(&bucket));
        bucket
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Takes a token from a shared bucket.
pub fn try_take(bucket: &SharedBucket, now: Instant) -> bool {
    bucket
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .try_take(now)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{TokenBucket, UserRates, try_take};

    #[test]
    fn a_users_connections_share_one_bucket() {
        let now = Instant::now();
        let rates = UserRates::new(1.0, 2);
        let first = rates.bucket(7, now);
        let second = rates.bucket(7, now);
        assert!(try_take(&first, now));
        assert!(try_take(&second, now));
        assert!(
            !try_take(&first, now),
            "the burst is the user's, not each connection's"
        );
        assert!(
            try_take(&rates.bucket(8, now), now),
            "another user has their own"
        );
    }

    #[test]
    fn buckets_of_users_gone_are_swept() {
        let now = Instant::now();
        let rates = UserRates::new(1.0, 2);
        let kept = rates.bucket(0, now);
        for user in 1..1000 {
            drop(rates.bucket(user, now));
        }
        assert!(rates.tracked() <= 128, "tracked {}", rates.tracked());
        assert!(std::sync::Arc::ptr_eq(&kept, &rates.bucket(0, now)));
    }

    #[test]
    fn allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, start);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(600)));
        // Idle time refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }
}
