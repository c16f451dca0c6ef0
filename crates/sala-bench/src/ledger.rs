//! The per-message account of a long run, which `member`'s counters cannot give: for every
//! bench message, whether its publisher got the ack and how many members of its room
//! received it. A loss is then named (an acked message still missing at a member of its
//! room) rather than guessed from totals that a duplicate elsewhere could balance, and each
//! member's own record of what it received ([`Received`]) tells a second copy apart.
//! Used by `soak`.
//!
//! It costs a lock per send, ack and delivery (one lock per publisher, so members of
//! different rooms rarely meet), which is nothing at a soak's steady rates; the throughput
//! scenarios run without it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::report;

/// What happened to one message.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// When its publisher got the ack (the message is stored, so it is owed to the room).
    acked_at: Option<Instant>,
    /// Members of its room that received it, each counted once.
    delivered: u32,
}

/// Who publishes where, and what became of every message.
pub struct Ledger {
    /// The room of each publisher (an index into `room_names`), by publisher index.
    room_of_publisher: Vec<usize>,
    /// Room names by index: a delivery is checked against its receiver's room.
    room_names: Vec<String>,
    /// Members of each room, by index: the deliveries an acked message of the room is owed.
    members: Vec<u32>,
    /// By publisher index, then by `seq` (entry 0 unused: a publisher's first message is
    /// seq 1). One lock per publisher, held only to update or read its entries; an entry
    /// exists once its message is about to be sent, so a delivery of a message the run
    /// never sent cannot make the table grow.
    messages: Vec<Mutex<Vec<Entry>>>,
    /// Second (or later) copies of a message at one member.
    duplicates: AtomicU64,
    /// Deliveries of a message from another room than the receiver's, or never sent.
    misrouted: AtomicU64,
    /// Delivery latencies since the last [`Ledger::take_window`]; held only to record one
    /// or to swap it.
    window: Mutex<Histogram<u64>>,
}

/// The account of the messages acked up to some moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub acked: u64,
    /// Deliveries those messages are owed: one to every member of their room.
    pub owed: u64,
    /// Of those, received.
    pub delivered: u64,
    /// Of those, missing.
    pub lost: u64,
    /// Messages missing at one member or more.
    pub messages_lost: u64,
}

impl Ledger {
    /// `room_of_publisher[p]` is the index in `room_names` (and `members`) of publisher
    /// `p`'s room.
    ///
    /// # Panics
    /// When `room_names` and `members` differ in length, or a publisher's room is not in
    /// them: the caller built them together.
    pub fn new(room_names: Vec<String>, members: Vec<u32>, room_of_publisher: Vec<usize>) -> Self {
        assert_eq!(
            room_names.len(),
            members.len(),
            "BUG: one member count per room"
        );
        assert!(
            room_of_publisher.iter().all(|&room| room < members.len()),
            "BUG: every publisher's room is a room of the run"
        );
        Self {
            messages: room_of_publisher
                .iter()
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            room_of_publisher,
            room_names,
            members,
            duplicates: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
            window: Mutex::new(report::histogram()),
        }
    }

    fn entries(&self, publisher: usize) -> Option<std::sync::MutexGuard<'_, Vec<Entry>>> {
        let entries = self.messages.get(publisher)?;
        Some(
            entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Publisher `publisher` is about to send message `seq`.
    pub fn sent(&self, publisher: usize, seq: u64) {
        let (Some(mut entries), Ok(seq)) = (self.entries(publisher), usize::try_from(seq)) else {
            return;
        };
        if entries.len() <= seq {
            entries.resize(seq + 1, Entry::default());
        }
    }

    /// Publisher `publisher` got the ack of message `seq`.
    pub fn acked(&self, publisher: usize, seq: u64) {
        let Some(mut entries) = self.entries(publisher) else {
            return;
        };
        if let Some(entry) = usize::try_from(seq)
            .ok()
            .and_then(|seq| entries.get_mut(seq))
        {
            entry.acked_at.get_or_insert_with(Instant::now);
        }
    }

    /// A member of `room`, whose deliveries so far are `received`, got message `seq` of
    /// `publisher`, `micros` after it was sent.
    pub fn delivered(
        &self,
        received: &mut Received,
        room: &str,
        publisher: usize,
        seq: u64,
        micros: u64,
    ) {
        let _ = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(micros.max(1));
        let from_this_room = self
            .room_of_publisher
            .get(publisher)
            .is_some_and(|&index| self.room_names[index] == room);
        let Some(mut entries) = self.entries(publisher).filter(|_| from_this_room) else {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let index = usize::try_from(seq).ok().filter(|&index| index > 0);
        let Some((index, entry)) = index.and_then(|index| Some((index, entries.get_mut(index)?)))
        else {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if received.mark(publisher, index) {
            entry.delivered += 1;
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    pub fn misrouted(&self) -> u64 {
        self.misrouted.load(Ordering::Relaxed)
    }

    /// The delivery latencies since the last call, and a fresh window.
    pub fn take_window(&self) -> Histogram<u64> {
        std::mem::replace(
            &mut *self
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            report::histogram(),
        )
    }

    /// The account of every message acked at or before `acked_by`.
    pub fn account(&self, acked_by: Instant) -> Account {
        let mut account = Account::default();
        for (publisher, entries) in self.messages.iter().enumerate() {
            let owed = u64::from(self.members[self.room_of_publisher[publisher]]);
            let entries = entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for entry in entries.iter() {
                if entry.acked_at.is_none_or(|at| at > acked_by) {
                    continue;
                }
                let delivered = u64::from(entry.delivered).min(owed);
                account.acked += 1;
                account.owed += owed;
                account.delivered += delivered;
                account.lost += owed - delivered;
                account.messages_lost += u64::from(delivered < owed);
            }
        }
        account
    }
}

/// What one member has received: a bitmap of seqs per publisher.
#[derive(Debug, Default)]
pub struct Received(HashMap<usize, Vec<u64>>);

impl Received {
    /// Marks message `seq` of `publisher` received; `false` when it was already.
    fn mark(&mut self, publisher: usize, seq: usize) -> bool {
        let bits = self.0.entry(publisher).or_default();
        let (word, bit) = (seq / 64, 1u64 << (seq % 64));
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & bit == 0;
        bits[word] |= bit;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rooms: `a` with 3 members (publisher 0), `b` with 2 (publisher 1).
    fn ledger() -> Ledger {
        Ledger::new(vec!["a".into(), "b".into()], vec![3, 2], vec![0, 1])
    }

    #[test]
    fn an_acked_message_missing_at_a_member_is_lost() {
        let ledger = ledger();
        let mut members: Vec<Received> = (0..3).map(|_| Received::default()).collect();
        for seq in 1..=2 {
            ledger.sent(0, seq);
            ledger.acked(0, seq);
        }
        for member in &mut members {
            ledger.delivered(member, "a", 0, 1, 5);
        }
        ledger.delivered(&mut members[0], "a", 0, 2, 5);

        let account = ledger.account(Instant::now());
        assert_eq!(
            account,
            Account {
                acked: 2,
                owed: 6,
                delivered: 4,
                lost: 2,
                messages_lost: 1
            }
        );
        assert_eq!(ledger.duplicates(), 0);
        assert_eq!(ledger.take_window().len(), 4);
        assert_eq!(ledger.take_window().len(), 0);
    }

    #[test]
    fn a_message_not_yet_acked_is_owed_nothing() {
        let ledger = ledger();
        ledger.sent(1, 1);
        let before = Instant::now();
        ledger.acked(1, 1);
        assert_eq!(ledger.account(before).acked, 0);
        assert_eq!(ledger.account(Instant::now()).lost, 2);
    }

    #[test]
    fn a_second_copy_is_a_duplicate_and_fills_no_gap() {
        let ledger = ledger();
        let (mut first, mut second) = (Received::default(), Received::default());
        ledger.sent(1, 1);
        ledger.acked(1, 1);
        ledger.delivered(&mut first, "b", 1, 1, 5);
        ledger.delivered(&mut first, "b", 1, 1, 5);
        assert_eq!(ledger.duplicates(), 1);
        assert_eq!(ledger.account(Instant::now()).lost, 1);
        ledger.delivered(&mut second, "b", 1, 1, 5);
        assert_eq!(ledger.account(Instant::now()).lost, 0);
    }

    #[test]
    fn a_message_from_another_room_or_never_sent_is_misrouted() {
        let ledger = ledger();
        let mut member = Received::default();
        ledger.sent(0, 1);
        ledger.delivered(&mut member, "b", 0, 1, 5);
        ledger.delivered(&mut member, "a", 0, 7, 5);
        ledger.delivered(&mut member, "a", 9, 1, 5);
        assert_eq!(ledger.misrouted(), 3);
        assert_eq!(ledger.duplicates(), 0);
    }
}
