//! SyncService use cases: the change feed for Pull and Watch, and offline
//! Push: a handheld's queue of commands, applied in order, each exactly once
//! (the commands run through `Commands::execute` like their unary RPCs, with
//! a PushMark in their request meta so that the queue entry is recorded in
//! the command's own transaction).
use crate::domain::{Caller, Method, Role, access};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::command::{Answer, Command, Commands, Outcome};
pub use crate::service::feed_change::{FeedChange, FeedEntity};
use crate::service::feed_window::FeedWindow;
use crate::service::idempotency::PushMark;
use crate::service::idempotency::RequestMeta;
use crate::service::paging::Pager;
use crate::storage::feed::{self, Position, Visibility};
use crate::storage::{Db, db_err, push_log};
use std::sync::Arc;

const DEFAULT_LIMIT: u64 = 500;
const MAX_LIMIT: u64 = 5000;

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
/// everything; crew their unit's tickets; inspectors their own records;
/// crews and inspectors the tickets they recorded.
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
        // R-TKT-1: crews and inspectors also follow the calls they recorded.
        owner: (caller.has(Role::Inspector) || caller.has(Role::Crew)).then(|| caller.sub.clone()),
        sub: caller.sub.clone(),
        all_items: access::sees_all_items(caller),
    }
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
        match self
            .window
            .read(from, &visibility(caller), limit, None, None)
        {
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
        // The window answers what it holds up to this snapshot's end; the
        // database the rest of the snapshot. R-TKT-13: only a window that
        // has read the whole snapshot knows every recusal in it, and a
        // recusal hides the ticket's earlier changes too; a window still
        // behind (its tailer not yet woken by a commit) would show them, so
        // then the snapshot answers alone.
        let limit = limit as usize;
        let end = Position::end_of(last_seq);
        let slice = if self.window.end() >= end {
            self.window
                .read(from, &vis, limit, Some(purged_seq), Some(end))
        } else {
            None
        };
        let (mut changes, mut upto) = match slice {
            Some(slice) => (slice.changes, slice.upto),
            None => (Vec::new(), from),
        };
        if changes.len() <= limit && upto < end {
            // Which changes the page holds, then those not held decoded
            // (issue 19: a resync of the same hours by many handhelds reads
            // positions, not payloads). The same snapshot and filter, so
            // the rows read are exactly the positions not held.
            let want = limit + 1 - changes.len();
            let positions = feed::positions_after(&tx, upto, &vis, want as u64).await?;
            let held = self.window.held(&positions);
            let missing = &positions[held.len()..];
            changes.extend(held);
            if let Some(first) = missing.first() {
                let after = first.just_before();
                for row in feed::read_after(&tx, after, Some(&vis), missing.len() as u64).await? {
                    changes.push(self.window.decoded(row)?);
                }
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
    async fn begin_push(&self, caller: &Caller, client_id: &str) -> AppResult<i64> {
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

    /// Record a refusal: the client's counter advances past it.
    async fn record_rejection(
        &self,
        mark: PushMark,
        fingerprint: &str,
        rejection: &Rejection,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let (fingerprint, rejection) = (fingerprint.to_string(), rejection.clone());
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

/// One entry of a handheld's queue as Push received it.
pub struct Queued {
    /// The client's counter for it: 1, 2, ... without gaps.
    pub mutation_id: i64,
    /// Digest of its method and body: a resend must carry the same.
    pub fingerprint: String,
    /// The decoded command, or why it could not be decoded (bad input is a
    /// refusal like any other: recorded, and the queue moves on).
    pub command: AppResult<(RequestMeta, Command)>,
}

impl Queued {
    fn answer(&self) -> Option<Answer> {
        self.command.as_ref().ok().map(|(_, c)| c.answer())
    }
}

/// A refusal as Push reports and stores it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    /// The `google.rpc.Code` its unary RPC would have answered with.
    pub code: i32,
    pub reason: String,
    pub message: String,
}

impl Rejection {
    fn of(e: &AppError) -> Rejection {
        Rejection {
            code: e.rpc_code(),
            reason: e.reason().to_string(),
            message: e.to_string(),
        }
    }
}

/// What became of one queued mutation.
pub enum Pushed {
    /// Applied now; its answer.
    Applied(Outcome),
    /// Applied before (its stored answer, unless that is past retention).
    Duplicate(Option<Outcome>),
    /// Refused, now or before: the client drops it and shows why.
    Rejected(Rejection),
}

pub struct PushReport {
    pub results: Vec<(i64, Pushed)>,
    /// The client's counter after this push.
    pub last_mutation_id: i64,
}

impl SyncService {
    /// Apply a handheld's queued mutations in order, each exactly once.
    /// The batch must continue the client's counter without a gap, and a
    /// known id must carry the body it had; otherwise nothing is applied. A
    /// refusal is recorded and the queue moves on; a transient failure stops
    /// the batch (what was applied stays applied; the client resends the
    /// rest).
    pub async fn push(
        &self,
        commands: &Commands,
        caller: &Caller,
        client_id: &str,
        batch: Vec<Queued>,
    ) -> AppResult<PushReport> {
        access::authorize(caller, Method::Push)?;
        let last = self.begin_push(caller, client_id).await?;
        let next = last.saturating_add(1);
        let first = batch.first().map(|q| q.mutation_id).unwrap_or(1);
        for (i, q) in batch.iter().enumerate() {
            if q.mutation_id < 1
                || Some(q.mutation_id) != first.checked_add(i as i64)
                || first > next
            {
                return Err(AppError::precondition(
                    reason::MUTATION_GAP,
                    format!("clients/{client_id}"),
                    format!("mutation ids must continue from {next} without gaps"),
                )
                .with_info("expected_mutation_id", next));
            }
        }
        // A known id with another body is refused before anything is applied.
        for q in batch.iter().filter(|q| q.mutation_id <= last) {
            self.replayed(client_id, q.mutation_id, &q.fingerprint, q.answer())
                .await?;
        }
        let mut results = Vec::with_capacity(batch.len());
        // The counter as this push has moved it. A concurrent push of the same
        // client that got further is caught by the conditional counter advance
        // (PUSH_RACE, then the stored outcome), so no re-read per mutation.
        let mut last = last;
        for q in batch {
            let answer = q.answer();
            let Queued {
                mutation_id: id,
                fingerprint,
                command,
            } = q;
            let replayed = || self.replayed(client_id, id, &fingerprint, answer);
            if id <= last {
                results.push((id, replayed().await?));
                continue;
            }
            last = id;
            let mark = PushMark {
                client_id: client_id.to_string(),
                mutation_id: id,
            };
            let applied = match command {
                Ok((meta, command)) => {
                    commands
                        .execute(caller, meta.with_push(Some(mark.clone())), command)
                        .await
                }
                Err(e) => Err(e),
            };
            match applied {
                Ok(outcome) => results.push((id, Pushed::Applied(outcome))),
                Err(e) if e.reason() == reason::PUSH_RACE => results.push((id, replayed().await?)),
                Err(e) if e.is_refusal() => {
                    let rejection = Rejection::of(&e);
                    match self.record_rejection(mark, &fingerprint, &rejection).await {
                        Ok(()) => results.push((id, Pushed::Rejected(rejection))),
                        Err(e) if e.reason() == reason::PUSH_RACE => {
                            results.push((id, replayed().await?))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        client_id,
                        mutation_id = id,
                        reason = e.reason(),
                        "push stopped on a transient failure"
                    );
                    break;
                }
            }
        }
        Ok(PushReport {
            results,
            last_mutation_id: self.last_mutation_id(client_id).await?,
        })
    }

    /// The stored outcome of an already-recorded mutation.
    async fn replayed(
        &self,
        client_id: &str,
        id: i64,
        fingerprint: &str,
        answer: Option<Answer>,
    ) -> AppResult<Pushed> {
        let Some(stored) = push_log::find(self.db.writer(), client_id, id).await? else {
            // Applied long ago: its stored outcome is past retention.
            return Ok(Pushed::Duplicate(None));
        };
        if stored.fingerprint != fingerprint {
            return Err(AppError::AlreadyExists {
                reason: reason::MUTATION_ID_REUSED,
                message: format!("mutation {id} was pushed before with a different body"),
                info: Vec::new(),
            });
        }
        if stored.outcome == push_log::REJECTED {
            let r: Rejection =
                serde_json::from_str(&stored.response).map_err(AppError::internal)?;
            return Ok(Pushed::Rejected(r));
        }
        // Same body, same decoding: an applied mutation decoded before.
        let answer = answer.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "mutation {id} was applied but does not decode now"
            ))
        })?;
        Ok(Pushed::Duplicate(Some(Outcome::parse(
            answer,
            &stored.response,
        )?)))
    }
}
