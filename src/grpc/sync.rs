//! SyncService handlers. Push decodes each queued request exactly as its
//! unary RPC does (`grpc::mutation`) and hands the batch to
//! `SyncService::push`, which runs them through the same `Commands`.
use super::auth::caller;
use super::convert as cv;
use super::inspections::{inspection_pb, reading_pb as room_reading_pb};
use super::mutation;
use super::pb::{self, mutation::Request as M};
use super::readings::{exchange_pb, reading_pb as meter_reading_pb};
use super::watch::Follower;
use super::wire::{self, server::sync_service_server::SyncService as Api};
use crate::domain::Caller;
use crate::domain::access::{FeedSight, TicketView};
use crate::error::{AppError, reason};
use crate::service::SyncService;
use crate::service::command::Commands;
use crate::service::sync::{FeedChange, FeedEntity, Pushed, Queued};
use crate::storage::feed::Cause;
use bytes::Bytes;
use prost::Message;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The kind of every tombstone.
pub const OUT_OF_SCOPE: &str = "OUT_OF_SCOPE";

/// How Watch follows the feed.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// While idle, send a checkpoint this often.
    pub checkpoint: Duration,
}

pub struct SyncApi {
    sync: SyncService,
    commands: Commands,
    watch: WatchSettings,
    stop: watch::Receiver<bool>,
}

impl SyncApi {
    pub fn new(
        sync: SyncService,
        commands: Commands,
        watch: WatchSettings,
        stop: watch::Receiver<bool>,
    ) -> SyncApi {
        SyncApi {
            sync,
            commands,
            watch,
            stop,
        }
    }
}

/// Decode one queued request on its own (bad input is its refusal, not the batch's).
fn queued(mutation_id: i64, m: &M) -> Queued {
    match m {
        M::Claim(r) => mutation::queued(mutation_id, r),
        M::ReturnTicket(r) => mutation::queued(mutation_id, r),
        M::Appointment(r) => mutation::queued(mutation_id, r),
        M::Arrival(r) => mutation::queued(mutation_id, r),
        M::Completion(r) => mutation::queued(mutation_id, r),
        M::ExtensionRequest(r) => mutation::queued(mutation_id, r),
        M::InspectionStart(r) => mutation::queued(mutation_id, r),
        M::RoomReading(r) => mutation::queued(mutation_id, r),
        M::InspectionFinish(r) => mutation::queued(mutation_id, r),
        M::VoidReading(r) => mutation::queued(mutation_id, r),
        M::AbandonInspection(r) => mutation::queued(mutation_id, r),
        M::MeterReading(r) => mutation::queued(mutation_id, r),
        M::MeterExchange(r) => mutation::queued(mutation_id, r),
        M::ReportOutage(r) => mutation::queued(mutation_id, r),
        M::PlanOutage(r) => mutation::queued(mutation_id, r),
        M::ApproveOutage(r) => mutation::queued(mutation_id, r),
        M::StartOutage(r) => mutation::queued(mutation_id, r),
        M::ReviseRestoration(r) => mutation::queued(mutation_id, r),
        M::OutageNotice(r) => mutation::queued(mutation_id, r),
        M::RestoreSupply(r) => mutation::queued(mutation_id, r),
        M::CreateTicket(r) => mutation::queued(mutation_id, r),
        M::Contact(r) => mutation::queued(mutation_id, r),
        M::Suspend(r) => mutation::queued(mutation_id, r),
        M::Resume(r) => mutation::queued(mutation_id, r),
        M::Recuse(r) => mutation::queued(mutation_id, r),
        M::FlagMajor(r) => mutation::queued(mutation_id, r),
        M::ApproveLongMatter(r) => mutation::queued(mutation_id, r),
    }
}

fn result_pb(mutation_id: i64, pushed: Pushed, who: &Caller) -> pb::MutationResult {
    use pb::MutationOutcome as O;
    let base = |outcome: O| pb::MutationResult {
        mutation_id,
        outcome: outcome as i32,
        ..Default::default()
    };
    match pushed {
        Pushed::Applied(o) => pb::MutationResult {
            result: Some(mutation::result_pb(o, who)),
            ..base(O::Applied)
        },
        Pushed::Duplicate(o) => pb::MutationResult {
            result: o.map(|o| mutation::result_pb(o, who)),
            ..base(O::Duplicate)
        },
        Pushed::Rejected(r) => pb::MutationResult {
            code: r.code,
            reason: r.reason,
            message: r.message,
            ..base(O::Rejected)
        },
    }
}

/// The entity types a reader asked for (Pull and Watch `entity_types`);
/// none named: all.
#[derive(Debug, Clone, Default)]
pub(super) struct EntityFilter(Vec<pb::ChangeEntityType>);

impl EntityFilter {
    pub(super) fn parse(values: &[i32]) -> Result<EntityFilter, AppError> {
        let mut types = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match pb::ChangeEntityType::try_from(*v) {
                Ok(pb::ChangeEntityType::Unspecified) | Err(_) => {
                    return Err(AppError::invalid(
                        format!("entity_types[{i}]"),
                        reason::INVALID_FIELD,
                        "unknown entity type",
                    ));
                }
                Ok(t) => types.push(t),
            }
        }
        Ok(EntityFilter(types))
    }

    pub(super) fn admits(&self, c: &FeedChange) -> bool {
        use pb::ChangeEntityType as T;
        let t = match &c.entity {
            FeedEntity::Ticket(_) => T::Ticket,
            FeedEntity::Inspection(_) => T::Inspection,
            FeedEntity::RoomReading(_) => T::RoomReading,
            FeedEntity::MeterReading(_) => T::MeterReading,
            FeedEntity::MeterExchange(_) => T::MeterExchange,
            FeedEntity::Outage(_) => T::Outage,
            FeedEntity::AssessmentItem(_) => T::AssessmentItem,
        };
        self.0.is_empty() || self.0.contains(&t)
    }
}

impl SyncApi {
    /// The change as `who` may see it, encoded once per sight.
    pub(super) fn change_bytes(svc: &SyncService, c: &FeedChange, who: &Caller) -> Bytes {
        let sight = match &c.entity {
            FeedEntity::Ticket(t) => FeedSight::of(who, t),
            _ => FeedSight::Ticket(TicketView::Full),
        };
        c.rendered[sight.slot()]
            .get_or_init(|| Self::change_pb(svc, c, sight).encode_to_vec().into())
            .clone()
    }

    fn change_pb(svc: &SyncService, c: &FeedChange, sight: FeedSight) -> pb::Change {
        use pb::change::Entity as E;
        let entity = match (&c.entity, sight) {
            (FeedEntity::Ticket(t), FeedSight::Tombstone) => E::Tombstone(pb::Tombstone {
                entity_type: pb::ChangeEntityType::Ticket as i32,
                entity_id: t.id.to_string(),
                entity_version: t.version,
            }),
            (FeedEntity::Ticket(t), FeedSight::Ticket(view)) => E::Ticket(cv::ticket_as(t, view)),
            (FeedEntity::Inspection(i), _) => E::Inspection(inspection_pb(i)),
            (FeedEntity::RoomReading(r), _) => E::RoomReading(room_reading_pb(r)),
            (FeedEntity::MeterReading(r), _) => E::MeterReading(meter_reading_pb(r)),
            (FeedEntity::MeterExchange(x), _) => E::MeterExchange(exchange_pb(x)),
            (FeedEntity::Outage(o), _) => E::Outage(super::outages::outage_pb(o)),
            (FeedEntity::AssessmentItem(i), _) => E::AssessmentItem(super::assessment::item_pb(i)),
        };
        let cause = match sight {
            // A tombstone says that the entity is gone, not why nor who made
            // it go (R-TKT-13: a recused member is not told of the recusal).
            FeedSight::Tombstone => Cause {
                kind: OUT_OF_SCOPE.into(),
                ..Cause::default()
            },
            FeedSight::Ticket(_) => c.cause.clone().unwrap_or_default(),
        };
        pb::Change {
            cursor: svc.encode_cursor(c.position),
            commit_time: Some(cv::ts(c.committed_at)),
            entity: Some(entity),
            kind: cause.kind,
            actor: cause.actor,
            actor_role: cause.actor_role,
            audit_event_id: cause.event,
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
        for (i, mu) in m.mutations.iter().enumerate() {
            let r = mu
                .request
                .as_ref()
                .ok_or_else(|| AppError::missing(format!("mutations[{i}].request")))?;
            batch.push(queued(mu.mutation_id, r));
        }
        let report = self
            .sync
            .push(&self.commands, &who, &client_id, batch)
            .await?;
        let results: Vec<_> = report
            .results
            .into_iter()
            .map(|(id, pushed)| result_pb(id, pushed, &who))
            .collect();
        metrics::counter!(crate::metrics::PUSH_BATCHES).increment(1);
        for r in &results {
            let outcome =
                pb::MutationOutcome::try_from(r.outcome).map_or("UNKNOWN", |o| o.as_str_name());
            metrics::counter!(crate::metrics::PUSH_MUTATIONS, "outcome" => outcome).increment(1);
        }
        Ok(Response::new(pb::PushResponse {
            results,
            last_mutation_id: report.last_mutation_id,
        }))
    }

    async fn pull(
        &self,
        req: Request<pb::PullRequest>,
    ) -> Result<Response<wire::PullResponse>, Status> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let filter = EntityFilter::parse(&m.entity_types)?;
        let cursor = self.sync.decode_cursor(&m.cursor)?;
        let page = self
            .sync
            .pull(&who, cursor, m.limit, m.client_id.trim())
            .await?;
        Ok(Response::new(wire::PullResponse {
            changes: page
                .changes
                .iter()
                .filter(|c| filter.admits(c))
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
        let filter = EntityFilter::parse(&req.get_ref().entity_types)?;
        let cursor = self.sync.decode_cursor(&req.get_ref().cursor)?;
        let follower = Follower::new(
            self.sync.clone(),
            who,
            filter,
            cursor,
            self.watch,
            self.stop.clone(),
        );
        Ok(Response::new(Box::pin(follower.into_stream())))
    }
}
