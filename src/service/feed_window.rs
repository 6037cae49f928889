//! The recent change feed, held in memory by each instance.
//!
//! One task per instance (the tailer) follows the database's change log:
//! woken by this instance's commits and polling for other instances', it
//! reads each new change once, decodes it once, and tells every Watch stream
//! that the feed moved. Watch streams then filter what they may see in
//! memory, so a commit costs one query, not one per watcher; Pulls whose
//! cursor falls inside the window are answered from it too.
//!
//! The window is a cache, never the authority: it holds committed change-log
//! rows, which never change, and it only moves forward from database
//! snapshots. A Pull still reads the feed state in its own snapshot and takes
//! from the database whatever the window does not (yet) hold, so its answer
//! is the one the database would give, on any instance.
//!
//! The tailer also keeps the latest version of each ticket it reads
//! (`LatestTickets`), which answers GetTicket once the window has caught up
//! with the feed's head (`ticket`).
use super::feed_change::{FeedChange, FeedEntity, decode};
use super::feed_head::FeedHead;
use super::latest_tickets::LatestTickets;
use crate::domain::Ticket;
use crate::error::AppResult;
use crate::storage::feed::{self, ChangeMeta, Position, StoredChange, Visibility};
use crate::storage::{Db, db_err, tickets};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Changes read from the database per query while catching up.
const BATCH: u64 = 1000;

struct Entry {
    meta: ChangeMeta,
    change: Arc<FeedChange>,
}

impl Entry {
    fn decoded(row: StoredChange) -> AppResult<Entry> {
        Ok(Entry {
            meta: row.meta.clone(),
            change: Arc::new(decode(row)?),
        })
    }
}

struct Window {
    /// Every change after `start` up to and including `end` is held.
    start: Position,
    end: Position,
    /// The feed's compaction mark as of the last read (see `read`).
    purged_seq: i64,
    entries: VecDeque<Entry>,
    /// What the entries count as (`FeedChange::size`).
    bytes: usize,
    /// R-TKT-13: the latest hidden set of every ticket the window has seen
    /// one for. A recusal hides the ticket's earlier changes too; hidden
    /// sets only grow, so an entry never hides too much, even after the
    /// changes it came from left the window.
    hidden: HashMap<uuid::Uuid, String>,
}

impl Window {
    /// Note the hidden sets the `entries` carry (in commit order).
    fn note_hidden<'a>(&mut self, entries: impl Iterator<Item = &'a Entry>) {
        for e in entries {
            if let (FeedEntity::Ticket(t), Some(h)) = (&e.change.entity, &e.meta.hidden_from) {
                self.hidden.insert(t.id, h.clone());
            }
        }
    }

    /// Is this entry's ticket kept from the reader by its latest hidden set?
    fn hidden_later(&self, e: &Entry, vis: &Visibility) -> bool {
        match &e.change.entity {
            FeedEntity::Ticket(t) => self.hidden.get(&t.id).is_some_and(|h| vis.hidden_by(h)),
            _ => false,
        }
    }
    /// Drop the oldest entries beyond `capacity` changes or `max_bytes`.
    fn trim(&mut self, capacity: usize, max_bytes: usize) {
        let mut popped = false;
        while self.entries.len() > capacity || self.bytes > max_bytes {
            let Some(gone) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= gone.change.size;
            self.start = gone.change.position;
            popped = true;
        }
        if popped && self.entries.is_empty() {
            self.start = self.end;
        }
    }
}

/// What the window holds after a cursor, for one viewer.
pub struct Slice {
    /// Visible changes in commit order (at most the limit asked for, plus one
    /// when there are more).
    pub changes: Vec<Arc<FeedChange>>,
    /// Everything up to here has been looked at.
    pub upto: Position,
}

/// Changes a Pull read from the database, beyond the window, kept decoded.
/// A committed change-log row never changes, so its position names one
/// decoded change for good; the next reader of the same range (a cold snap:
/// every handheld resyncing the same hours) skips the parsing and finds each
/// change's encodings already made. Bounded by bytes (`FeedChange::size`),
/// the oldest kept first out.
#[derive(Default)]
struct Decoded {
    changes: HashMap<Position, Arc<FeedChange>>,
    order: VecDeque<Position>,
    bytes: usize,
}

pub struct FeedWindow {
    db: Db,
    capacity: usize,
    max_bytes: usize,
    window: RwLock<Window>,
    decoded: Mutex<Decoded>,
    /// Ticks when `end` moves (watchers read the window, not the value).
    moved: watch::Sender<()>,
    /// Noted by the tailer before `end` moves past their change.
    latest: LatestTickets,
    head: FeedHead,
}

/// Where a ticket read came from, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSource {
    Memory,
    Database,
}

impl TicketSource {
    pub fn label(self) -> &'static str {
        match self {
            TicketSource::Memory => "memory",
            TicketSource::Database => "database",
        }
    }
}

impl FeedWindow {
    /// A window holding the latest `capacity` changes, at most `max_bytes`
    /// of them (0: none; every read then goes to the database), and the
    /// latest versions of up to `tickets` tickets.
    pub async fn load(
        db: Db,
        capacity: usize,
        max_bytes: usize,
        tickets: usize,
    ) -> AppResult<Arc<FeedWindow>> {
        let tx = db.read_snapshot().await?;
        let (last_seq, purged_seq) = feed::state(&tx).await?;
        let rows = feed::read_latest(&tx, capacity as u64).await?;
        tx.commit().await.map_err(db_err)?;
        let start = match rows.first() {
            // Fewer than asked for: the window holds the whole retained log.
            _ if rows.len() < capacity => Position::default(),
            Some(first) => first.position.just_before(),
            None => Position::end_of(last_seq),
        };
        let entries = rows
            .into_iter()
            .map(Entry::decoded)
            .collect::<AppResult<VecDeque<_>>>()?;
        let end = Position::end_of(last_seq);
        let bytes = entries.iter().map(|e| e.change.size).sum();
        let mut window = Window {
            start,
            end,
            purged_seq,
            entries: VecDeque::new(),
            bytes,
            hidden: HashMap::new(),
        };
        window.note_hidden(entries.iter());
        window.entries = entries;
        window.trim(capacity, max_bytes);
        Ok(Arc::new(FeedWindow {
            capacity,
            max_bytes,
            window: RwLock::new(window),
            decoded: Mutex::default(),
            moved: watch::channel(()).0,
            latest: LatestTickets::new(tickets),
            head: FeedHead::new(db.clone()),
            db,
        }))
    }

    /// Ticket `id` as a read beginning now must see it: never older than a
    /// write acknowledged before, on any instance. From memory when the
    /// window has read the feed up to its head (every ticket held is then
    /// at least as new as the head), else from the database.
    pub async fn ticket(&self, id: uuid::Uuid) -> AppResult<Option<(Arc<Ticket>, TicketSource)>> {
        let head = Position::end_of(self.head.current().await?);
        {
            let w = self.window.read().unwrap_or_else(|e| e.into_inner());
            if w.end >= head
                && let Some(t) = self.latest.get(id)
            {
                return Ok(Some((t, TicketSource::Memory)));
            }
        }
        let Some(t) = tickets::get(self.db.reader(), id).await? else {
            return Ok(None);
        };
        let t = Arc::new(t);
        // Read after the head was known, so at least as new as the head. It
        // may be held only if that covers all the tailer has noted: a
        // version it noted and dropped since could be newer than the head.
        // The read lock keeps the tailer from moving on meanwhile.
        let w = self.window.read().unwrap_or_else(|e| e.into_inner());
        if head >= w.end {
            self.latest.note(t.clone());
        }
        drop(w);
        Ok(Some((t, TicketSource::Database)))
    }

    /// Tickets held in memory now, for the metrics.
    pub fn tickets_held(&self) -> usize {
        self.latest.len()
    }

    /// A change read from the database, decoded once for every reader (see
    /// `Decoded`); kept within the window's byte budget.
    pub fn decoded(&self, row: StoredChange) -> AppResult<Arc<FeedChange>> {
        let position = row.position;
        let lock = || self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = lock().changes.get(&position) {
            return Ok(c.clone());
        }
        let change = Arc::new(decode(row)?);
        if change.size > self.max_bytes {
            return Ok(change);
        }
        let mut d = lock();
        if d.changes.insert(position, change.clone()).is_none() {
            d.order.push_back(position);
            d.bytes += change.size;
        }
        while d.bytes > self.max_bytes {
            let Some(old) = d.order.pop_front() else {
                break;
            };
            if let Some(gone) = d.changes.remove(&old) {
                d.bytes -= gone.size;
            }
        }
        Ok(change)
    }

    /// The changes at `positions` held decoded (see `Decoded`), in order, up
    /// to the first that is not: a Pull reads the rest from the database.
    pub fn held(&self, positions: &[Position]) -> Vec<Arc<FeedChange>> {
        let d = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        positions
            .iter()
            .map_while(|p| d.changes.get(p).cloned())
            .collect()
    }

    /// Everything up to here has been read into the window.
    pub fn end(&self) -> Position {
        self.window.read().unwrap_or_else(|e| e.into_inner()).end
    }

    /// (changes, bytes) held now, for the metrics.
    pub fn size(&self) -> (usize, usize) {
        let w = self.window.read().unwrap_or_else(|e| e.into_inner());
        (w.entries.len(), w.bytes)
    }

    /// Resolves whenever the window has moved on.
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.moved.subscribe()
    }

    /// Visible changes after `from`, up to `limit + 1` of them, or None when
    /// the window does not hold the changes right after `from` (older than
    /// its start, or at or before the feed's compaction mark, where the
    /// database decides what is left and whether the cursor expired).
    /// `until`: a Pull's snapshot end; the window may already hold changes
    /// committed after that snapshot, which the page must not show (its
    /// client counter is read in the snapshot).
    pub fn read(
        &self,
        from: Position,
        vis: &Visibility,
        limit: usize,
        purged_seq: Option<i64>,
        until: Option<Position>,
    ) -> Option<Slice> {
        let w = self.window.read().expect("feed window lock");
        let purged = purged_seq.unwrap_or(w.purged_seq);
        let clear_of_compaction = purged == 0 || from >= Position::end_of(purged);
        if from < w.start || !clear_of_compaction {
            return None;
        }
        let first = w.entries.partition_point(|e| e.change.position <= from);
        let mut changes = Vec::new();
        let until = until.unwrap_or(w.end);
        for e in w.entries.range(first..) {
            if e.change.position > until {
                break;
            }
            if vis.admits(&e.meta) && (vis.told_gone(&e.meta) || !w.hidden_later(e, vis)) {
                changes.push(e.change.clone());
                if changes.len() > limit {
                    let upto = e.change.position;
                    return Some(Slice { changes, upto });
                }
            }
        }
        Some(Slice {
            changes,
            upto: w.end.min(until).max(from),
        })
    }

    /// Read what the database has after the window's end, once. True when
    /// there is more to read at once.
    pub async fn refresh(&self) -> AppResult<bool> {
        let after = self.window.read().expect("feed window lock").end;
        let tx = self.db.read_snapshot().await?;
        let (last_seq, purged_seq) = feed::state(&tx).await?;
        let rows = feed::read_after(&tx, after, None, BATCH).await?;
        tx.commit().await.map_err(db_err)?;
        let full = rows.len() as u64 == BATCH;
        let fresh = rows
            .into_iter()
            .map(Entry::decoded)
            .collect::<AppResult<Vec<_>>>()?;
        let end = match fresh.last() {
            Some(last) if full => last.change.position,
            last => last
                .map(|l| l.change.position)
                .unwrap_or(after)
                .max(Position::end_of(last_seq)),
        };
        let mut w = self.window.write().expect("feed window lock");
        if w.end != after {
            // Another refresh got here first; its result stands.
            return Ok(false);
        }
        // Before `end` moves: a read that sees the new end finds them.
        for e in &fresh {
            if let FeedEntity::Ticket(t) = &e.change.entity {
                self.latest.note(t.clone());
            }
        }
        let moved = w.end != end;
        w.purged_seq = purged_seq;
        w.bytes += fresh.iter().map(|e| e.change.size).sum::<usize>();
        w.note_hidden(fresh.iter());
        w.entries.extend(fresh);
        w.end = end;
        w.trim(self.capacity, self.max_bytes);
        if w.entries.is_empty() {
            w.start = end;
        }
        drop(w);
        if moved {
            self.moved.send_replace(());
        }
        Ok(full)
    }

    /// The tailer: follow the change log until `stop`. Local commits wake it
    /// at once; other instances' commits are found every `poll`.
    pub async fn follow(
        self: Arc<Self>,
        local_commits: Arc<Notify>,
        poll: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            // Armed before reading, so a commit during the read is not missed.
            let committed = local_commits.notified();
            match self.db.bounded(self.refresh()).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reading the change feed failed"),
            }
            tokio::select! {
                _ = committed => {}
                _ = tokio::time::sleep(poll) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
