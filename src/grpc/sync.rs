//! SyncService handlers. Push hands each queued mutation to the very same
//! handler its unary RPC uses, with a PushMark on the request so that the
//! queue entry is recorded in the mutation's own transaction.
use super::auth::caller;
use super::convert as cv;
use super::inspections::{InspectionApi, inspection_pb, reading_pb as room_reading_pb};
use super::pb::{
    self, inspection_service_server::InspectionService as _, mutation::Request as M,
    mutation_result::Result as R, reading_service_server::ReadingService as _,
    ticket_service_server::TicketService as _,
};
use super::readings::{ReadingApi, exchange_pb, reading_pb as meter_reading_pb};
use super::tickets::TicketApi;
use super::wire::{self, WatchEvent, server::sync_service_server::SyncService as Api};
use crate::domain::Caller;
use crate::domain::access::TicketView;
use crate::error::{AppError, reason};
use crate::service::SyncService;
use crate::service::idempotency::PushMark;
use crate::service::sync::{FeedChange, FeedEntity};
use crate::storage::push_log;
use bytes::Bytes;
use prost::Message;
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

/// How Watch follows the feed.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// While idle, send a checkpoint this often.
    pub checkpoint: Duration,
}

pub struct SyncApi {
    sync: SyncService,
    tickets: Arc<TicketApi>,
    inspections: Arc<InspectionApi>,
    readings: Arc<ReadingApi>,
    watch: WatchSettings,
    stop: watch::Receiver<bool>,
}

impl SyncApi {
    pub fn new(
        sync: SyncService,
        tickets: Arc<TicketApi>,
        inspections: Arc<InspectionApi>,
        readings: Arc<ReadingApi>,
        watch: WatchSettings,
        stop: watch::Receiver<bool>,
    ) -> SyncApi {
        SyncApi {
            sync,
            tickets,
            inspections,
            readings,
            watch,
            stop,
        }
    }
}

/// The unary method a queued request belongs to (its fingerprint includes it).
fn method(m: &M) -> &'static str {
    match m {
        M::Claim(_) => "ClaimTicket",
        M::ReturnTicket(_) => "ReturnTicket",
        M::Appointment(_) => "ScheduleAppointment",
        M::Arrival(_) => "RecordArrival",
        M::Completion(_) => "CompleteRepair",
        M::ExtensionRequest(_) => "RequestExtension",
        M::InspectionStart(_) => "StartInspection",
        M::RoomReading(_) => "RecordRoomReading",
        M::InspectionFinish(_) => "FinishInspection",
        M::MeterReading(_) => "RecordMeterReading",
        M::MeterExchange(_) => "RecordMeterExchange",
    }
}

fn fingerprint(m: &M) -> String {
    match m {
        M::Claim(r) => cv::fingerprint(method(m), r),
        M::ReturnTicket(r) => cv::fingerprint(method(m), r),
        M::Appointment(r) => cv::fingerprint(method(m), r),
        M::Arrival(r) => cv::fingerprint(method(m), r),
        M::Completion(r) => cv::fingerprint(method(m), r),
        M::ExtensionRequest(r) => cv::fingerprint(method(m), r),
        M::InspectionStart(r) => cv::fingerprint(method(m), r),
        M::RoomReading(r) => cv::fingerprint(method(m), r),
        M::InspectionFinish(r) => cv::fingerprint(method(m), r),
        M::MeterReading(r) => cv::fingerprint(method(m), r),
        M::MeterExchange(r) => cv::fingerprint(method(m), r),
    }
}

fn parse<T: DeserializeOwned>(s: &str) -> Result<T, Status> {
    serde_json::from_str(s).map_err(|e| AppError::internal(e).into())
}

/// The stored result of an applied mutation, as its unary RPC would answer.
fn stored_result(m: &M, json: &str, who: &Caller) -> Result<R, Status> {
    Ok(match m {
        M::Claim(_)
        | M::ReturnTicket(_)
        | M::Appointment(_)
        | M::Arrival(_)
        | M::Completion(_)
        | M::ExtensionRequest(_) => R::Ticket(cv::ticket(&parse(json)?, who)),
        M::InspectionStart(_) | M::InspectionFinish(_) => {
            R::Inspection(inspection_pb(&parse(json)?))
        }
        M::RoomReading(_) => R::RoomReading(room_reading_pb(&parse(json)?)),
        M::MeterReading(_) => R::MeterReading(meter_reading_pb(&parse(json)?)),
        M::MeterExchange(_) => R::MeterExchange(exchange_pb(&parse(json)?)),
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Rejection {
    code: i32,
    reason: String,
    message: String,
}

fn reason_of(s: &Status) -> String {
    s.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// A refusal by a business rule (recorded; the queue moves on), as opposed to
/// a transient failure (the batch stops; the client resends).
fn is_rejection(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::OutOfRange
    )
}

fn result_of(mutation_id: i64, outcome: pb::MutationOutcome) -> pb::MutationResult {
    pb::MutationResult {
        mutation_id,
        outcome: outcome as i32,
        ..Default::default()
    }
}

impl SyncApi {
    /// Run one queued request through its unary handler.
    async fn apply(&self, who: &Caller, mark: PushMark, m: M) -> Result<R, Status> {
        fn req<T>(msg: T, who: &Caller, mark: PushMark) -> Request<T> {
            let mut r = Request::new(msg);
            r.extensions_mut().insert(who.clone());
            r.extensions_mut().insert(mark);
            r
        }
        let (t, i, rd) = (&*self.tickets, &*self.inspections, &*self.readings);
        Ok(match m {
            M::Claim(x) => R::Ticket(t.claim_ticket(req(x, who, mark)).await?.into_inner()),
            M::ReturnTicket(x) => R::Ticket(t.return_ticket(req(x, who, mark)).await?.into_inner()),
            M::Appointment(x) => R::Ticket(
                t.schedule_appointment(req(x, who, mark))
                    .await?
                    .into_inner(),
            ),
            M::Arrival(x) => R::Ticket(t.record_arrival(req(x, who, mark)).await?.into_inner()),
            M::Completion(x) => R::Ticket(t.complete_repair(req(x, who, mark)).await?.into_inner()),
            M::ExtensionRequest(x) => {
                R::Ticket(t.request_extension(req(x, who, mark)).await?.into_inner())
            }
            M::InspectionStart(x) => {
                R::Inspection(i.start_inspection(req(x, who, mark)).await?.into_inner())
            }
            M::RoomReading(x) => {
                R::RoomReading(i.record_room_reading(req(x, who, mark)).await?.into_inner())
            }
            M::InspectionFinish(x) => {
                R::Inspection(i.finish_inspection(req(x, who, mark)).await?.into_inner())
            }
            M::MeterReading(x) => R::MeterReading(
                rd.record_meter_reading(req(x, who, mark))
                    .await?
                    .into_inner(),
            ),
            M::MeterExchange(x) => R::MeterExchange(
                rd.record_meter_exchange(req(x, who, mark))
                    .await?
                    .into_inner(),
            ),
        })
    }

    /// The stored outcome of an already-recorded mutation.
    async fn replayed(
        &self,
        client_id: &str,
        id: i64,
        m: &M,
        who: &Caller,
    ) -> Result<pb::MutationResult, Status> {
        let Some(stored) = self.sync.stored(client_id, id).await? else {
            // Applied long ago: its stored outcome is past retention.
            return Ok(result_of(id, pb::MutationOutcome::Duplicate));
        };
        if stored.fingerprint != fingerprint(m) {
            return Err(AppError::AlreadyExists {
                reason: reason::MUTATION_ID_REUSED,
                message: format!("mutation {id} was pushed before with a different body"),
            }
            .into());
        }
        if stored.outcome == push_log::REJECTED {
            let r: Rejection = parse(&stored.response)?;
            return Ok(pb::MutationResult {
                code: r.code,
                reason: r.reason,
                message: r.message,
                ..result_of(id, pb::MutationOutcome::Rejected)
            });
        }
        Ok(pb::MutationResult {
            result: Some(stored_result(m, &stored.response, who)?),
            ..result_of(id, pb::MutationOutcome::Duplicate)
        })
    }

    /// The change as `who` may see it, encoded once per view.
    fn change_bytes(svc: &SyncService, c: &FeedChange, who: &Caller) -> Bytes {
        let view = match &c.entity {
            FeedEntity::Ticket(t) => TicketView::of(who, t),
            _ => TicketView::Full,
        };
        c.rendered[view as usize]
            .get_or_init(|| Self::change_pb(svc, c, view).encode_to_vec().into())
            .clone()
    }

    fn change_pb(svc: &SyncService, c: &FeedChange, view: TicketView) -> pb::Change {
        use pb::change::Entity as E;
        let entity = match &c.entity {
            FeedEntity::Ticket(t) => E::Ticket(cv::ticket_as(t, view)),
            FeedEntity::Inspection(i) => E::Inspection(inspection_pb(i)),
            FeedEntity::RoomReading(r) => E::RoomReading(room_reading_pb(r)),
            FeedEntity::MeterReading(r) => E::MeterReading(meter_reading_pb(r)),
            FeedEntity::MeterExchange(x) => E::MeterExchange(exchange_pb(x)),
        };
        pb::Change {
            cursor: svc.encode_cursor(c.position),
            commit_time: Some(cv::ts(c.committed_at)),
            entity: Some(entity),
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<wire::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Api for SyncApi {
    async fn push(
        &self,
        req: Request<pb::PushRequest>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let client_id = m.client_id.trim().to_string();
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(AppError::invalid(
                "client_id",
                reason::MISSING_FIELD,
                "client_id is required (at most 128 characters)",
            )
            .into());
        }
        let mut batch = Vec::with_capacity(m.mutations.len());
        for (i, mu) in m.mutations.into_iter().enumerate() {
            let req = mu.request.ok_or_else(|| {
                Status::from(AppError::missing(format!("mutations[{i}].request")))
            })?;
            batch.push((mu.mutation_id, req));
        }
        crate::domain::access::require_role(
            &who,
            &[crate::domain::Role::Crew, crate::domain::Role::Inspector],
            "Push",
        )?;
        let last = self.sync.begin_push(&who, &client_id).await?;
        // The batch must continue the queue without a gap; nothing is applied otherwise.
        for (i, (id, _)) in batch.iter().enumerate() {
            let expected_first = batch.first().map(|b| b.0).unwrap_or(1);
            if *id < 1
                || Some(*id) != expected_first.checked_add(i as i64)
                || expected_first > last.saturating_add(1)
            {
                let next = last.saturating_add(1);
                return Err(AppError::precondition(
                    reason::MUTATION_GAP,
                    format!("clients/{client_id}"),
                    format!("mutation ids must continue from {next} without gaps"),
                )
                .with_info("expected_mutation_id", next)
                .into());
            }
        }
        // A known id with another body is refused before anything is applied.
        for (id, r) in batch.iter().filter(|(id, _)| *id <= last) {
            self.replayed(&client_id, *id, r, &who).await?;
        }
        let mut results = Vec::with_capacity(batch.len());
        // The counter as this push has moved it. A concurrent push of the same
        // client that got further is caught by the conditional counter advance
        // (PUSH_RACE, then the stored outcome), so no re-read per mutation.
        let mut last = last;
        for (id, r) in batch {
            if id <= last {
                results.push(self.replayed(&client_id, id, &r, &who).await?);
                continue;
            }
            let mark = PushMark {
                client_id: client_id.clone(),
                mutation_id: id,
            };
            let fp = fingerprint(&r);
            last = id;
            match self.apply(&who, mark.clone(), r.clone()).await {
                Ok(result) => results.push(pb::MutationResult {
                    result: Some(result),
                    ..result_of(id, pb::MutationOutcome::Applied)
                }),
                Err(s) if reason_of(&s) == reason::PUSH_RACE => {
                    results.push(self.replayed(&client_id, id, &r, &who).await?)
                }
                Err(s) if is_rejection(&s) => {
                    let rejection = Rejection {
                        code: s.code() as i32,
                        reason: reason_of(&s),
                        message: s.message().to_string(),
                    };
                    let json = serde_json::to_value(&rejection).map_err(AppError::internal)?;
                    match self.sync.record_rejection(mark, fp, json).await {
                        Ok(()) => results.push(pb::MutationResult {
                            code: rejection.code,
                            reason: rejection.reason,
                            message: rejection.message,
                            ..result_of(id, pb::MutationOutcome::Rejected)
                        }),
                        Err(e) if e.reason() == reason::PUSH_RACE => {
                            results.push(self.replayed(&client_id, id, &r, &who).await?)
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                // Transient: stop here; what was applied stays applied and the
                // client resends the rest.
                Err(s) => {
                    tracing::warn!(client_id, mutation_id = id, code = ?s.code(), "push stopped on a transient failure");
                    break;
                }
            }
        }
        Ok(Response::new(pb::PushResponse {
            results,
            last_mutation_id: self.sync.last_mutation_id(&client_id).await?,
        }))
    }

    async fn pull(
        &self,
        req: Request<pb::PullRequest>,
    ) -> Result<Response<wire::PullResponse>, Status> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let cursor = self.sync.decode_cursor(&m.cursor)?;
        let page = self
            .sync
            .pull(&who, cursor, m.limit, m.client_id.trim())
            .await?;
        Ok(Response::new(wire::PullResponse {
            changes: page
                .changes
                .iter()
                .map(|c| Self::change_bytes(&self.sync, c, &who))
                .collect(),
            cursor: self.sync.encode_cursor(page.cursor),
            has_more: page.has_more,
            last_mutation_id: page.last_mutation_id,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<pb::WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let who = caller(&req)?;
        let mut cursor = self.sync.decode_cursor(&req.get_ref().cursor)?;
        let (tx, rx) = mpsc::channel(256);
        let (svc, settings, mut stop) = (self.sync.clone(), self.watch, self.stop.clone());
        let mut moved = svc.window().subscribe();
        tokio::spawn(async move {
            let mut idle_since = tokio::time::Instant::now();
            let mut caught_up_once = false;
            loop {
                // Mark the window's state seen before reading, so a move in between wakes us.
                moved.borrow_and_update();
                // The first page is a Pull: the database judges the client's cursor
                // (expired, ahead of the feed); later pages come from the window.
                let page = if caught_up_once {
                    svc.follow(&who, cursor, 500).await
                } else {
                    svc.pull(&who, cursor, 500, "").await
                };
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let had_changes = !page.changes.is_empty();
                for c in &page.changes {
                    let msg = wire::WatchResponse {
                        event: Some(WatchEvent::Change(Self::change_bytes(&svc, c, &who))),
                    };
                    // A slow watcher waits here; writers never do (they do not know it exists).
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                }
                cursor = Some(page.cursor);
                if page.has_more {
                    continue;
                }
                if had_changes {
                    idle_since = tokio::time::Instant::now();
                }
                if !caught_up_once || idle_since.elapsed() >= settings.checkpoint {
                    caught_up_once = true;
                    idle_since = tokio::time::Instant::now();
                    let cp = wire::WatchResponse {
                        event: Some(WatchEvent::Checkpoint(pb::Checkpoint {
                            cursor: svc.encode_cursor(page.cursor),
                            time: Some(cv::ts(chrono::SubsecRound::trunc_subsecs(
                                chrono::Utc::now(),
                                6,
                            ))),
                        })),
                    };
                    if tx.send(Ok(cp)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    moved = moved.changed() => if moved.is_err() { return },
                    _ = tokio::time::sleep_until(idle_since + settings.checkpoint) => {}
                    _ = tx.closed() => return,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
