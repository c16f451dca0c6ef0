//! A room's log delivered in order on every node.
//!
//! Two nodes write one room in turns (PostgreSQL's per-room lock), so positions follow
//! commit order; but each node tells the others over Redis after its commit, and a third
//! node can hear node B's position 11 before node A's 10. Delivered as heard, a client
//! would see 11, could drop its connection before 10 arrives, and resume with `since: 11`:
//! 10 would never reach it. So each write names the position it follows (the room's latest
//! before it, read under the lock), and a node delivers a position only once it has
//! delivered the one before: 11 waits for 10.
//!
//! What was never heard (a node that died between its commit and its publish, a message
//! Redis dropped) would hold the room back for good; the cluster link asks how long the
//! oldest wait has lasted, reads the room back from the database past a bound
//! ([`STALL_LIMIT`]), and then lets everything waiting go, in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Skip};

/// How long a position may wait for the one before it before the link reads the room back
/// from the database. Hearing each other over Redis on one network takes well under a
/// millisecond; only a loss waits this long.
pub const STALL_LIMIT: Duration = Duration::from_secs(1);

/// Positions that may wait in one room at once, and the bytes their events may hold; past
/// either, they all go (in order), as after a stall.
const MOST_WAITING: usize = 4096;
const MOST_WAITING_BYTES: usize = 8 * 1024 * 1024;

/// One event, and whom it leaves out.
pub(super) type Delivery = (Arc<Event>, Skip);

/// Where a room's log stands on this node.
#[derive(Default)]
pub(super) struct LogOrder {
    /// Delivered here in order up to this position. `None` until the room's first member
    /// here has read where the log stands ([`LogOrder::start`]).
    through: Option<i64>,
    /// Events heard ahead of the position they follow, by that position.
    waiting: BTreeMap<i64, Delivery>,
    /// What the waiting events cost, in bytes ([`Event::cost`]).
    waiting_bytes: usize,
    /// Since when the log has not moved while something waits.
    stalled_since: Option<Instant>,
}

impl LogOrder {
    /// An event that follows position `follows`: what may be delivered now, in order (it,
    /// and whatever was waiting for it), or nothing while the one before it is missing.
    pub fn admit(&mut self, follows: i64, event: Arc<Event>, skip: Skip) -> Vec<Delivery> {
        match self.through {
            Some(through) if follows <= through => {
                let mut ready = vec![(event, skip)];
                self.note(ready[0].0.position());
                self.release(&mut ready);
                ready
            }
            _ => {
                self.waiting_bytes += event.cost();
                if let Some((replaced, _)) = self.waiting.insert(follows, (event, skip)) {
                    self.waiting_bytes -= replaced.cost();
                }
                self.stalled_since.get_or_insert_with(Instant::now);
                if self.waiting.len() > MOST_WAITING || self.waiting_bytes > MOST_WAITING_BYTES {
                    self.release_all()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// The room's first member here read that the log stood at `latest`: everything up to
    /// it was committed before that read (and is in the member's history, or older than it),
    /// so the log here goes on from there. Later members' reads change nothing.
    pub fn start(&mut self, latest: i64) -> Vec<Delivery> {
        if self.through.is_some() {
            return Vec::new();
        }
        self.through = Some(latest);
        let mut ready = Vec::new();
        self.release(&mut ready);
        ready
    }

    /// A position delivered without waiting its turn (read back from the database, in
    /// order): the log here is complete up to it.
    pub fn note(&mut self, position: Option<i64>) {
        if let Some(position) = position {
            self.through = Some(self.through.map_or(position, |t| t.max(position)));
        }
    }

    /// How long the log has waited for a missing position, if it is waiting.
    pub fn stalled_for(&self, now: Instant) -> Option<Duration> {
        self.stalled_since
            .map(|since| now.saturating_duration_since(since))
    }

    /// Everything waiting, in order, whatever is missing before it (after the room was read
    /// back from the database, which delivered what was missing, or past the bound).
    pub fn release_all(&mut self) -> Vec<Delivery> {
        let waiting = std::mem::take(&mut self.waiting);
        self.waiting_bytes = 0;
        self.stalled_since = None;
        let ready: Vec<Delivery> = waiting.into_values().collect();
        for (event, _) in &ready {
            self.note(event.position());
        }
        ready
    }

    /// Moves what waited for the positions now delivered into `ready`, in order.
    fn release(&mut self, ready: &mut Vec<Delivery>) {
        let before = self.waiting.len();
        while let Some(entry) = self.waiting.first_entry() {
            if self.through.is_none_or(|through| *entry.key() > through) {
                break;
            }
            let (event, skip) = entry.remove();
            self.waiting_bytes -= event.cost();
            self.note(event.position());
            ready.push((event, skip));
        }
        if self.waiting.is_empty() {
            self.stalled_since = None;
        } else if self.waiting.len() < before {
            // It moved: what still waits is timed from now.
            self.stalled_since = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sala_proto::frames::{MessageChange, ServerFrame};

    fn at(id: i64) -> Arc<Event> {
        let message = sala_proto::api::Message {
            id,
            seq: id,
            room: "r".into(),
            ..Default::default()
        };
        Event::new(ServerFrame::Message(message))
    }

    fn changed(id: i64, seq: i64) -> Arc<Event> {
        let message = sala_proto::api::Message {
            id,
            seq,
            room: "r".into(),
            ..Default::default()
        };
        Event::new(ServerFrame::MessageUpdated {
            room: "r".into(),
            change: MessageChange::Edited,
            by: None,
            message,
        })
    }

    fn positions(ready: &[Delivery]) -> Vec<i64> {
        ready.iter().filter_map(|(e, _)| e.position()).collect()
    }

    #[test]
    fn a_position_heard_early_waits_for_the_one_before() {
        let mut log = LogOrder::default();
        assert!(log.start(10).is_empty());
        assert!(
            log.admit(11, at(14), Skip::Nobody).is_empty(),
            "14 follows 11"
        );
        assert!(log.admit(14, changed(3, 20), Skip::Nobody).is_empty());
        assert!(log.stalled_for(Instant::now()).is_some());
        assert_eq!(
            positions(&log.admit(10, at(11), Skip::Nobody)),
            [11, 14, 20]
        );
        assert!(log.stalled_for(Instant::now()).is_none());
        assert_eq!(positions(&log.admit(20, at(21), Skip::Nobody)), [21]);
    }

    #[test]
    fn nothing_is_delivered_before_the_first_member_read_the_log() {
        let mut log = LogOrder::default();
        assert!(log.admit(7, at(9), Skip::Nobody).is_empty());
        assert!(log.admit(5, at(7), Skip::Nobody).is_empty());
        // The read saw 7: 7 is in the history (the member skips it), 9 comes next.
        assert_eq!(positions(&log.start(7)), [7, 9]);
        assert!(
            log.start(100).is_empty(),
            "a later member's read moves nothing"
        );
        assert!(log.admit(100, at(101), Skip::Nobody).is_empty());
    }

    #[test]
    fn a_position_never_heard_is_given_up_on_and_the_rest_goes_in_order() {
        let mut log = LogOrder::default();
        log.start(1);
        assert!(log.admit(3, at(5), Skip::Nobody).is_empty());
        assert!(log.admit(5, at(6), Skip::Nobody).is_empty());
        // The room read back from the database delivered 2 and 3 meanwhile.
        log.note(Some(3));
        assert_eq!(positions(&log.release_all()), [5, 6]);
        assert_eq!(positions(&log.admit(6, at(7), Skip::Nobody)), [7]);
    }

    #[test]
    fn too_many_bytes_waiting_all_go_in_order() {
        let big = |id: i64| {
            let message = sala_proto::api::Message {
                id,
                seq: id,
                room: "r".into(),
                text: "x".repeat(1024 * 1024),
                ..Default::default()
            };
            Event::new(ServerFrame::Message(message))
        };
        let mut log = LogOrder::default();
        log.start(0);
        // Seven events of a little over 1 MiB wait; the eighth passes 8 MiB.
        for n in 0..7 {
            assert!(log.admit(100 + n, big(101 + n), Skip::Nobody).is_empty());
        }
        assert_eq!(positions(&log.admit(107, big(108), Skip::Nobody)).len(), 8);
        assert_eq!(log.waiting_bytes, 0);
    }

    #[test]
    fn too_many_waiting_all_go_in_order() {
        let mut log = LogOrder::default();
        log.start(0);
        for n in 0..MOST_WAITING as i64 {
            assert!(log.admit(1000 + n, at(1001 + n), Skip::Nobody).is_empty());
        }
        let ready = log.admit(999, at(1000), Skip::Nobody);
        assert_eq!(
            ready.len(),
            MOST_WAITING + 1,
            "past the bound, everything goes"
        );
        let mut log = LogOrder::default();
        log.start(0);
        for n in 0..=MOST_WAITING as i64 {
            let ready = log.admit(10 + 2 * n, at(11 + 2 * n), Skip::Nobody);
            if n < MOST_WAITING as i64 {
                assert!(ready.is_empty());
            } else {
                let got = positions(&ready);
                assert_eq!(got.len(), MOST_WAITING + 1);
                assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
            }
        }
    }
}
