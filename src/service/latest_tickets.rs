//! The latest versions of tickets, held in memory so a GetTicket need not
//! reach the database driver (issue 19: its two thread hand-offs per query
//! were most of a read's cost).
//!
//! The feed tailer notes every ticket change it reads into the window, in
//! commit order, before it moves the window's end; a read that missed notes
//! what it read from the database. A ticket's version grows with every
//! write, so of two notes the higher version stands. That gives the rule a
//! read relies on (`FeedWindow::ticket`): once the window's end has passed
//! position P, every ticket held here is at least its version as of P.
//!
//! Bounded by a count of tickets, the oldest noted first out; a ticket not
//! held is read from the database. 0 holds none.
use crate::domain::Ticket;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub struct LatestTickets {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tickets: HashMap<Uuid, Arc<Ticket>>,
    /// Ids in the order first noted (each held id once).
    order: VecDeque<Uuid>,
}

impl LatestTickets {
    pub fn new(capacity: usize) -> LatestTickets {
        LatestTickets {
            capacity,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Ticket>> {
        self.lock().tickets.get(&id).cloned()
    }

    /// Hold `t` unless a later version of it is held already.
    pub fn note(&self, t: Arc<Ticket>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        let Inner { tickets, order } = &mut *inner;
        match tickets.get_mut(&t.id) {
            Some(held) if held.version >= t.version => {}
            Some(held) => *held = t,
            None => {
                order.push_back(t.id);
                tickets.insert(t.id, t);
                while tickets.len() > self.capacity {
                    let Some(oldest) = order.pop_front() else {
                        break;
                    };
                    tickets.remove(&oldest);
                }
            }
        }
    }

    /// Tickets held now, for the metrics.
    pub fn len(&self) -> usize {
        self.lock().tickets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Policy;

    fn ticket() -> Ticket {
        let policy = Policy::builtin("heating").unwrap();
        crate::domain::ticket::tests::new_ticket(&policy, "NETWORK_LEAK")
    }

    #[test]
    fn the_later_version_stands_whatever_the_order_of_notes() {
        let cache = LatestTickets::new(10);
        let mut t = ticket();
        t.version = 3;
        cache.note(Arc::new(t.clone()));
        let mut older = t.clone();
        older.version = 2;
        cache.note(Arc::new(older));
        assert_eq!(cache.get(t.id).unwrap().version, 3);
        t.version = 4;
        cache.note(Arc::new(t.clone()));
        assert_eq!(cache.get(t.id).unwrap().version, 4);
    }

    #[test]
    fn holds_at_most_its_capacity_oldest_out_first() {
        let cache = LatestTickets::new(2);
        let ids: Vec<Uuid> = (0..3)
            .map(|_| {
                let mut t = ticket();
                t.id = Uuid::new_v4();
                let id = t.id;
                cache.note(Arc::new(t));
                id
            })
            .collect();
        assert_eq!(cache.len(), 2);
        assert!(cache.get(ids[0]).is_none());
        assert!(cache.get(ids[1]).is_some() && cache.get(ids[2]).is_some());
        let none = LatestTickets::new(0);
        let mut t = ticket();
        t.id = Uuid::new_v4();
        none.note(Arc::new(t));
        assert!(none.is_empty());
    }
}
