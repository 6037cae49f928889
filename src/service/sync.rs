//! SyncService use cases: the change feed for Pull and Watch, and the
//! bookkeeping of offline Push (the mutations themselves run through the
//! same service code as their unary RPCs, with a PushMark on the request).
use crate::domain::access::TicketView;
use crate::domain::inspection::{Inspection, RoomReading};
use crate::domain::meter::{MeterExchange, MeterReading};
use crate::domain::{Caller, Role, Ticket};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::feed_window::FeedWindow;
use crate::service::idempotency::PushMark;
use crate::service::paging::Pager;
use crate::storage::feed::{self, Position, StoredChange, Visibility};
use crate::storage::{Db, db_err, push_log};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

const DEFAULT_LIMIT: u64 = 500;
const MAX_LIMIT: u64 = 5000;

/// An entity as it stands after a change.
#[derive(Debug, Clone)]
pub enum FeedEntity {
    Ticket(Box<Ticket>),
    Inspection(Box<Inspection>),
    RoomReading(Box<RoomReading>),
    MeterReading(Box<MeterReading>),
    MeterExchange(Box<MeterExchange>),
}

#[derive(Debug, Clone)]
pub struct FeedChange {
    pub position: Position,
    pub committed_at: DateTime<Utc>,
    pub entity: FeedEntity,
    /// Bytes of its stored form (JSON), more than its encoded form: what a
    /// page and the window count it as.
    pub size: usize,
    /// The change as the API encodes it, once per R-TKT-13 view, filled in
    /// by the first reader with that view (every later one copies it).
    pub rendered: [OnceLock<Bytes>; TicketView::COUNT],
}

pub struct PullPage {
    pub changes: Vec<Arc<FeedChange>>,
    pub cursor: Position,
    pub has_more: bool,
    pub last_mutation_id: i64,
}

#[derive(Clone)]
pub struct SyncService {
    db: Db,
    clock: Arc<dyn Clock>,
    window: Arc<FeedWindow>,
    pager: Pager,
}

/// Opaque cursor text for a feed position (signed like page tokens).
pub fn encode_cursor(pager: &Pager, p: Position) -> String {
    pager.encode("feed", &format!("{}/{}", p.seq, p.ordinal))
}

/// None for the empty cursor (start of the retained log).
pub fn decode_cursor(pager: &Pager, text: &str) -> AppResult<Option<Position>> {
    let bad = || AppError::invalid("cursor", reason::INVALID_FIELD, "cursor is not valid");
    let Some(key) = pager.decode("feed", text).map_err(|_| bad())? else {
        return Ok(None);
    };
    let (seq, ordinal) = key.split_once('/').ok_or_else(bad)?;
    Ok(Some(Position {
        seq: seq.parse().map_err(|_| bad())?,
        ordinal: ordinal.parse().map_err(|_| bad())?,
    }))
}

/// Pull and Watch scopes: dispatch, supervisors, back office and admin see
/// everything; crew their unit's tickets; inspectors their own records.
pub fn visibility(caller: &Caller) -> Visibility {
    Visibility {
        all: caller
            .acting_as(&[
                Role::Dispatcher,
                Role::Supervisor,
                Role::Backoffice,
                Role::Admin,
            ])
            .is_some(),
        crew_unit: caller.has(Role::Crew).then(|| caller.unit.clone()),
        owner: caller.has(Role::Inspector).then(|| caller.sub.clone()),
        sub: caller.sub.clone(),
    }
}

pub(super) fn decode(c: StoredChange) -> AppResult<FeedChange> {
    fn parse<T: serde::de::DeserializeOwned>(s: &str) -> AppResult<Box<T>> {
        serde_json::from_str(s)
            .map(Box::new)
            .map_err(AppError::internal)
    }
    let size = c.payload.len();
    let entity = match c.meta.entity_type.as_str() {
        feed::TICKET => FeedEntity::Ticket(parse(&c.payload)?),
        feed::INSPECTION => FeedEntity::Inspection(parse(&c.payload)?),
        feed::ROOM_READING => FeedEntity::RoomReading(parse(&c.payload)?),
        feed::METER_READING => FeedEntity::MeterReading(parse(&c.payload)?),
        feed::METER_EXCHANGE => FeedEntity::MeterExchange(parse(&c.payload)?),
        other => {
            return Err(AppError::internal(anyhow::anyhow!(
                "unknown feed entity {other:?}"
            )));
        }
    };
    Ok(FeedChange {
        position: c.position,
        committed_at: c.committed_at,
        entity,
        size,
        rendered: Default::default(),
    })
}

/// A page of at most `limit` changes out of `limit + 1` looked up. Without
/// more, the next cursor is `upto`: every change up to it has been looked at,
/// and any later commit gets a larger sequence number.
fn page_of(
    pager: &Pager,
    mut changes: Vec<Arc<FeedChange>>,
    limit: usize,
    upto: Position,
    last_mutation_id: i64,
) -> PullPage {
    // Also cut by bytes, so a page of large changes fits a message.
    let keep = pager.fitting(&changes, limit, |c| c.size);
    let has_more = changes.len() > keep;
    changes.truncate(keep);
    let cursor = match (has_more, changes.last()) {
        (true, Some(c)) => c.position,
        (_, last) => last.map(|c| c.position).unwrap_or_default().max(upto),
    };
    PullPage {
        changes,
        cursor,
        has_more,
        last_mutation_id,
    }
}

impl SyncService {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        window: Arc<FeedWindow>,
        pager: Pager,
    ) -> SyncService {
        SyncService {
            db,
            clock,
            window,
            pager,
        }
    }

    pub fn encode_cursor(&self, p: Position) -> String {
        encode_cursor(&self.pager, p)
    }

    pub fn decode_cursor(&self, text: &str) -> AppResult<Option<Position>> {
        decode_cursor(&self.pager, text)
    }

    pub fn window(&self) -> &Arc<FeedWindow> {
        &self.window
    }

    /// Watch's next page after `cursor`: from the window, without touching
    /// the database, when it holds the cursor; otherwise as Pull.
    pub async fn follow(
        &self,
        caller: &Caller,
        cursor: Option<Position>,
        limit: usize,
    ) -> AppResult<PullPage> {
        let from = cursor.unwrap_or_default();
        match self.window.read(from, &visibility(caller), limit, None) {
            Some(slice) => Ok(page_of(&self.pager, slice.changes, limit, slice.upto, 0)),
            None => self.pull(caller, cursor, limit as i32, "").await,
        }
    }

    /// Changes visible to `caller` after `cursor`, and the client's counter,
    /// read in one snapshot, within the database timeout (a Watch stream's
    /// reads have no client deadline to bound them).
    pub async fn pull(
        &self,
        caller: &Caller,
        cursor: Option<Position>,
        limit: i32,
        client_id: &str,
    ) -> AppResult<PullPage> {
        self.db
            .bounded(self.read_page(caller, cursor, limit, client_id))
            .await
    }

    async fn read_page(
        &self,
        caller: &Caller,
        cursor: Option<Position>,
        limit: i32,
        client_id: &str,
    ) -> AppResult<PullPage> {
        let limit = match limit {
            n if n < 0 => {
                return Err(AppError::invalid(
                    "limit",
                    reason::OUT_OF_RANGE,
                    "limit must not be negative",
                ));
            }
            0 => DEFAULT_LIMIT,
            n => (n as u64).min(MAX_LIMIT),
        };
        let vis = visibility(caller);
        let tx = self.db.read_snapshot().await?;
        let (last_seq, purged_seq) = feed::state(&tx).await?;
        let from = cursor.unwrap_or_default();
        if cursor.is_some() && from.seq < purged_seq {
            return Err(AppError::precondition(
                reason::CURSOR_EXPIRED,
                "feed",
                "the cursor is older than the retained change log: start again with an empty cursor",
            ));
        }
        if from.seq > last_seq {
            return Err(AppError::invalid(
                "cursor",
                reason::OUT_OF_RANGE,
                "the cursor is ahead of the change log",
            ));
        }
        // The window answers what it holds; the database the rest of this snapshot.
        let limit = limit as usize;
        let (mut changes, mut upto) = match self.window.read(from, &vis, limit, Some(purged_seq)) {
            Some(slice) => (slice.changes, slice.upto),
            None => (Vec::new(), from),
        };
        let end = Position::end_of(last_seq);
        if changes.len() <= limit && upto < end {
            let want = limit + 1 - changes.len();
            for row in feed::read_after(&tx, upto, Some(&vis), want as u64).await? {
                changes.push(Arc::new(decode(row)?));
            }
            upto = end;
        }
        let last_mutation_id = if client_id.is_empty() {
            0
        } else {
            match push_log::client(&tx, client_id).await? {
                Some((owner, _)) if owner != caller.sub => {
                    return Err(AppError::denied(
                        reason::CLIENT_NOT_OWNED,
                        "this client belongs to someone else",
                    ));
                }
                Some((_, last)) => last,
                None => 0,
            }
        };
        tx.commit().await.map_err(db_err)?;
        Ok(page_of(&self.pager, changes, limit, upto, last_mutation_id))
    }

    /// Register (or check) the pushing client; its current counter.
    pub async fn begin_push(&self, caller: &Caller, client_id: &str) -> AppResult<i64> {
        let (client, owner, now) = (client_id.to_string(), caller.sub.clone(), self.clock.now());
        self.db
            .write(move |tx| {
                Box::pin(async move { push_log::ensure_client(tx, &client, &owner, now).await })
            })
            .await?;
        match push_log::client(self.db.writer(), client_id).await? {
            Some((owner, _)) if owner != caller.sub => Err(AppError::denied(
                reason::CLIENT_NOT_OWNED,
                "this client belongs to someone else",
            )),
            Some((_, last)) => Ok(last),
            None => Err(AppError::internal(anyhow::anyhow!(
                "client {client_id} vanished"
            ))),
        }
    }

    pub async fn stored(
        &self,
        client_id: &str,
        mutation_id: i64,
    ) -> AppResult<Option<push_log::StoredMutation>> {
        push_log::find(self.db.writer(), client_id, mutation_id).await
    }

    /// Record a business refusal: the client's counter advances past it.
    pub async fn record_rejection(
        &self,
        mark: PushMark,
        fingerprint: String,
        rejection: serde_json::Value,
    ) -> AppResult<()> {
        let now = self.clock.now();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    push_log::record(tx, &mark, &fingerprint, push_log::REJECTED, &rejection, now)
                        .await
                })
            })
            .await
    }

    pub async fn last_mutation_id(&self, client_id: &str) -> AppResult<i64> {
        Ok(push_log::client(self.db.writer(), client_id)
            .await?
            .map(|c| c.1)
            .unwrap_or(0))
    }
}
