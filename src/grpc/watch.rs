//! The Watch stream: the feed after a cursor, as the caller may see it,
//! then each change as it commits, with a checkpoint while idle.
//!
//! The stream is polled by the task hyper runs for each HTTP/2 stream, with
//! no task or channel of its own beside it. An idle handheld's Watch is then
//! just this state (issue 19: 10,000 idle handhelds each with a Watch). A
//! slow watcher is not polled until its connection can send; writers never
//! wait for it (they do not know it exists). A watcher that resets the
//! stream or leaves drops it: hyper checks for a reset before it polls.
use super::convert as cv;
use super::pb;
use super::sync::{EntityFilter, SyncApi, WatchSettings};
use super::wire::{self, WatchEvent};
use crate::domain::Caller;
use crate::service::SyncService;
use crate::service::sync::{FeedChange, PullPage};
use crate::storage::feed::Position;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::Status;

/// Changes per page read.
const PAGE: usize = 500;

pub(super) struct Follower {
    svc: SyncService,
    who: Caller,
    filter: EntityFilter,
    settings: WatchSettings,
    cursor: Option<Position>,
    /// Marked seen before each read, so a move in between wakes the next wait.
    moved: watch::Receiver<()>,
    stop: watch::Receiver<bool>,
    /// The page being sent, dropped once sent: an idle watcher holds none.
    sending: std::vec::IntoIter<Arc<FeedChange>>,
    checkpoint: Option<pb::Checkpoint>,
    /// The first page is a Pull: the database judges the client's cursor
    /// (expired, ahead of the feed); later pages come from the window.
    caught_up_once: bool,
    /// Read the next page only after the feed moved or a checkpoint is due.
    wait: bool,
    idle_since: Instant,
    ended: bool,
    _open: WatchGauge,
}

impl Follower {
    pub(super) fn new(
        svc: SyncService,
        who: Caller,
        filter: EntityFilter,
        cursor: Option<Position>,
        settings: WatchSettings,
        stop: watch::Receiver<bool>,
    ) -> Follower {
        let moved = svc.window().subscribe();
        Follower {
            svc,
            who,
            filter,
            settings,
            cursor,
            moved,
            stop,
            sending: Vec::new().into_iter(),
            checkpoint: None,
            caught_up_once: false,
            wait: false,
            idle_since: Instant::now(),
            ended: false,
            _open: WatchGauge::open(),
        }
    }

    /// The stream of replies; it ends after an error or at shutdown.
    pub(super) fn into_stream(
        self,
    ) -> impl tokio_stream::Stream<Item = Result<wire::WatchResponse, Status>> {
        futures_util::stream::unfold(self, |mut f| async move {
            let next = f.next().await;
            next.map(|reply| (reply, f))
        })
    }

    async fn next(&mut self) -> Option<Result<wire::WatchResponse, Status>> {
        loop {
            while let Some(c) = self.sending.next() {
                if self.sending.as_slice().is_empty() {
                    // The last one: free the page's buffer now, not after
                    // the reply has gone (which waits for the client).
                    self.sending = Vec::new().into_iter();
                }
                if self.filter.admits(&c) {
                    let change = SyncApi::change_bytes(&self.svc, &c, &self.who);
                    return Some(Ok(wire::WatchResponse {
                        event: Some(WatchEvent::Change(change)),
                    }));
                }
            }
            if let Some(cp) = self.checkpoint.take() {
                return Some(Ok(wire::WatchResponse {
                    event: Some(WatchEvent::Checkpoint(cp)),
                }));
            }
            if self.ended {
                return None;
            }
            if self.wait {
                tokio::select! {
                    moved = self.moved.changed() => if moved.is_err() { return None },
                    _ = tokio::time::sleep_until(self.idle_since + self.settings.checkpoint) => {}
                    _ = self.stop.wait_for(|s| *s) => return None,
                }
            }
            match self.read().await {
                Ok(page) => self.take(page),
                Err(e) => {
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
    }

    async fn read(&mut self) -> Result<PullPage, Status> {
        self.moved.borrow_and_update();
        // Boxed: a page's read is a large future, and inline it would size
        // the state an idle watcher keeps (issue 19).
        let page = if self.caught_up_once {
            Box::pin(self.svc.follow(&self.who, self.cursor, PAGE)).await
        } else {
            Box::pin(self.svc.pull(&self.who, self.cursor, PAGE as i32, "")).await
        };
        Ok(page?)
    }

    /// Queues a page's changes and, once caught up, the checkpoint if due.
    fn take(&mut self, page: PullPage) {
        self.cursor = Some(page.cursor);
        self.wait = !page.has_more;
        if !page.changes.is_empty() {
            self.idle_since = Instant::now();
        }
        if self.wait
            && (!self.caught_up_once || self.idle_since.elapsed() >= self.settings.checkpoint)
        {
            self.caught_up_once = true;
            self.idle_since = Instant::now();
            self.checkpoint = Some(pb::Checkpoint {
                cursor: self.svc.encode_cursor(page.cursor),
                time: Some(cv::ts(chrono::SubsecRound::trunc_subsecs(
                    chrono::Utc::now(),
                    6,
                ))),
            });
        }
        self.sending = page.changes.into_iter();
    }
}

/// Counts a Watch stream in the metrics while it is open.
struct WatchGauge;

impl WatchGauge {
    fn open() -> WatchGauge {
        metrics::gauge!(crate::metrics::WATCH_STREAMS).increment(1.0);
        WatchGauge
    }
}

impl Drop for WatchGauge {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::WATCH_STREAMS).decrement(1.0);
    }
}
