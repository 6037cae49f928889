//! The feed's head: the last change committed in the database, by any
//! instance. A read served from memory must first know it, or it could miss
//! a write another instance acknowledged a moment ago (read-your-writes
//! across instances).
//!
//! On SQLite it is read in place (`storage::feed_head`), a few
//! microseconds. On PostgreSQL it is a round trip; reads that arrive
//! together share one. A query answers every read that arrived before it
//! was sent, since whatever was acknowledged before such a read was
//! committed before the query. A read arriving while a query is out needs a
//! later one: it sends it when fewer than `ASKING` are out, else it waits
//! for one to come back and asks then.
use crate::error::AppResult;
use crate::storage::{Db, feed};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Head queries out at once, at most. One: a read may wait for the query
/// out to come back before its own goes, but each query then answers more
/// reads, and on two cores shared with PostgreSQL the CPU a query costs is
/// what limits reads (issue 19, GetTicket on PostgreSQL: 1 out at once
/// 25,840 and 26,336 reads/s; 2 out 19,892-21,337; 4 out 17,733-20,182;
/// 8 out 14,131).
const ASKING: usize = 1;

pub struct FeedHead {
    db: Db,
    /// Reads numbered in order of arrival.
    arrivals: AtomicU64,
    asking: Mutex<Asked>,
    /// The latest answer: (reads it answers: those numbered below, last_seq).
    known: watch::Sender<(u64, i64)>,
}

#[derive(Default)]
struct Asked {
    /// Queries out now.
    out: usize,
    /// The latest query sent answers the reads numbered below this.
    latest_answers_below: u64,
}

/// Counts a query in as long as it is out, however the asking read ends (a
/// dropped call or a failed query too); then wakes the waiting reads. When
/// no answer came, the reads that counted on it ask again.
struct Asking<'a> {
    head: &'a FeedHead,
    answered: bool,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        let mut asked = self.head.asked();
        asked.out -= 1;
        if !self.answered {
            asked.latest_answers_below = self.head.known.borrow().0;
        }
        drop(asked);
        self.head.known.send_modify(|_| {});
    }
}

impl FeedHead {
    pub fn new(db: Db) -> FeedHead {
        FeedHead {
            db,
            arrivals: AtomicU64::new(0),
            asking: Mutex::default(),
            known: watch::channel((0, 0)).0,
        }
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, Asked> {
        self.asking.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The feed's last committed sequence, as of some moment after this
    /// call began.
    pub async fn current(&self) -> AppResult<i64> {
        if let Some(seq) = self.db.last_seq_in_place() {
            return Ok(seq);
        }
        let me = self.arrivals.fetch_add(1, Ordering::SeqCst);
        let mut known = self.known.subscribe();
        loop {
            let (answers_below, last_seq) = *known.borrow_and_update();
            if answers_below > me {
                return Ok(last_seq);
            }
            let ask = {
                let mut asked = self.asked();
                let answered_by_one_out = asked.latest_answers_below > me;
                if answered_by_one_out || asked.out == ASKING {
                    None
                } else {
                    asked.out += 1;
                    asked.latest_answers_below = self.arrivals.load(Ordering::SeqCst);
                    Some(asked.latest_answers_below)
                }
            };
            let Some(answers_below) = ask else {
                // Woken by an answer, or by an asking read that gave up.
                let _ = known.changed().await;
                continue;
            };
            let mut asking = Asking {
                head: self,
                answered: false,
            };
            let last_seq = match self.db.last_seq_own_connection().await {
                Some(seq) => seq,
                None => feed::state(self.db.reader()).await?.0,
            };
            self.known.send_modify(|k| {
                if answers_below > k.0 {
                    *k = (answers_below, last_seq);
                }
            });
            asking.answered = true;
            return Ok(last_seq);
        }
    }
}
