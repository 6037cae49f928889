//! Baselines (b) SQLite and (c) PostgreSQL: the SQL statements the ClaimTicket
//! and RecordRoomReading paths issue, through the same storage functions in
//! the same order, each request in one `Db::write` transaction (SQLite:
//! BEGIN IMMEDIATE on the single writer, WAL, synchronous=FULL as `serve`
//! configures it; PostgreSQL: the same 16-connection pool), driven by the
//! same load generator with the same concurrency, but without gRPC, tokens
//! or protobuf.
use crate::runner::{Op, OpFuture};
use crate::scenarios::{Pool, reading_request};
use crate::seed::{self, CREW, INSPECTOR, UNIT};
use chrono::Utc;
use fieldops::domain::protocol::{RoomMeasurement, RoomType};
use fieldops::domain::ticket::Ctx;
use fieldops::domain::{Policy, Role};
use fieldops::error::AppError;
use fieldops::grpc::{convert, pb};
use fieldops::service::RequestMeta;
use fieldops::service::tickets::event_of;
use fieldops::storage::audit::{self, AuditEntry};
use fieldops::storage::feed::{self, ChangeDraft};
use fieldops::storage::{Db, idempotency, inspections, tickets};
use std::sync::Arc;
use uuid::Uuid;

fn internal(what: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("{what}"))
}

fn meta(method: &str, msg: &impl prost::Message) -> RequestMeta {
    RequestMeta {
        request_id: Uuid::new_v4(),
        fingerprint: convert::fingerprint(method, msg),
        expected_version: 0,
        device_id: Some("handheld-1".into()),
        push: None,
    }
}

/// What TicketService::claim does inside its transaction (service::idempotency::write
/// around service::tickets::mutate): claim the request id, read the ticket,
/// decide, conditional UPDATE, audit event, stored response, feed entry.
pub fn claim_op(db: Db, policy: Arc<Policy>, pool: Arc<Pool>) -> Op {
    let caller = Arc::new(seed::caller(CREW, Role::Crew, UNIT));
    Arc::new(move |_w| -> OpFuture {
        let (db, policy, caller, pool) = (db.clone(), policy.clone(), caller.clone(), pool.clone());
        Box::pin(async move {
            let id = pool.take()?;
            let meta = meta(
                "ClaimTicket",
                &pb::ClaimTicketRequest {
                    request_id: Uuid::new_v4().to_string(),
                    ticket_id: id.clone(),
                    device_id: "handheld-1".into(),
                    ..Default::default()
                },
            );
            let id = Uuid::parse_str(&id).map_err(|e| e.to_string())?;
            let changed = db
                .write(move |tx| {
                    Box::pin(async move {
                        let now = Utc::now();
                        let rid = meta.request_id.to_string();
                        if !idempotency::claim(
                            tx,
                            &rid,
                            &caller.sub,
                            "ClaimTicket",
                            &meta.fingerprint,
                            now,
                        )
                        .await?
                        {
                            return Err(internal("request id taken"));
                        }
                        let current = tickets::get(tx, id)
                            .await?
                            .ok_or_else(|| internal("no ticket"))?;
                        let ctx = Ctx {
                            policy: &policy,
                            caller: &caller,
                            now,
                        };
                        let change = current.claim(&ctx, None)?;
                        if !tickets::update_if_version(tx, &current, &change.ticket).await? {
                            return Err(internal("lost a race"));
                        }
                        let cause =
                            tickets::insert_event(tx, &event_of(&change, &caller, &meta, now))
                                .await?;
                        let response =
                            serde_json::to_string(&change.ticket).map_err(AppError::internal)?;
                        idempotency::store_response(tx, &rid, &response).await?;
                        let draft = ChangeDraft::ticket(&change.ticket, Some(&current), &cause);
                        feed::append(tx, vec![draft], now).await?;
                        Ok(())
                    })
                })
                .await;
            changed.map_err(|e| format!("claim transaction: {e}"))?;
            db.notify_change();
            Ok(())
        })
    })
}

/// What InspectionService::record_reading does inside its transaction.
pub fn reading_op(db: Db, policy: Arc<Policy>, visits: Arc<Pool>) -> Op {
    let caller = Arc::new(seed::caller(INSPECTOR, Role::Inspector, UNIT));
    Arc::new(move |w| -> OpFuture {
        let (db, policy, caller, visits) =
            (db.clone(), policy.clone(), caller.clone(), visits.clone());
        Box::pin(async move {
            let visit_id = visits.cycle();
            let req = reading_request(visit_id.clone(), w);
            let meta = meta("RecordRoomReading", &req);
            let visit_id = Uuid::parse_str(&visit_id).map_err(|e| e.to_string())?;
            let day = seed::reading_day();
            let measurement = RoomMeasurement {
                instrument: None,
                room_type: RoomType::Bedroom,
                open_to_balcony: false,
                started_at: seed::local(day, 9, 20),
                ended_at: seed::local(day, 9, 32),
                temperature_c: req.temperature_c,
                height_m: req.height_m,
                at_room_centre: true,
            };
            let room_name = req.room_name.clone();
            let result = db
                .write(move |tx| {
                    Box::pin(async move {
                        let now = Utc::now();
                        let rid = meta.request_id.to_string();
                        if !idempotency::claim(tx, &rid, &caller.sub, "RecordRoomReading", &meta.fingerprint, now)
                            .await?
                        {
                            return Err(internal("request id taken"));
                        }
                        let reading_id = Uuid::now_v7();
                        if inspections::reading_exists(tx, reading_id).await? {
                            return Err(internal("reading exists"));
                        }
                        let rules = &policy.temperature;
                        let visit = inspections::get(tx, visit_id)
                            .await?
                            .filter(|v| v.inspector == caller.sub)
                            .ok_or_else(|| internal("no visit"))?;
                        visit.ensure_open()?;
                        let reading = visit.judge_reading(
                            rules,
                            chrono_tz::Asia::Shanghai,
                            reading_id,
                            room_name,
                            measurement,
                            now,
                        );
                        let mut verdicts = inspections::verdicts(&inspections::readings(tx, visit.id).await?);
                        verdicts.push(reading.result.verdict);
                        let next = visit.with_reading(rules, &verdicts, now);
                        if !inspections::update_if_version(tx, &next, visit.version).await? {
                            return Err(internal("lost a race"));
                        }
                        inspections::insert_reading(tx, &reading).await?;
                        let details = serde_json::json!({
                            "reading_id": reading.id,
                            "room_name": reading.room_name,
                            "verdict": reading.result.verdict,
                            "violations": reading.result.violations.iter().map(|v| v.rule.clone()).collect::<Vec<_>>(),
                        });
                        let cause = audit::append(
                            tx,
                            AuditEntry {
                                entity_type: "inspection",
                                entity_id: next.id.to_string(),
                                entity_version: next.version,
                                kind: "READING_RECORDED",
                                caller: &caller,
                                role: Role::Inspector.as_str(),
                                request_id: meta.request_id,
                                device_id: meta.device_id.as_deref(),
                                at: now,
                                details,
                            },
                        )
                        .await?;
                        let response = serde_json::to_string(&reading).map_err(AppError::internal)?;
                        idempotency::store_response(tx, &rid, &response).await?;
                        let drafts = vec![
                            ChangeDraft::inspection(&next, &cause),
                            ChangeDraft::room_reading(&reading, &next, &cause),
                        ];
                        feed::append(tx, drafts, now).await?;
                        Ok(reading.result.verdict)
                    })
                })
                .await;
            let verdict = result.map_err(|e| format!("reading transaction: {e}"))?;
            db.notify_change();
            if verdict != fieldops::domain::protocol::RoomVerdict::Compliant {
                return Err(format!("reading verdict {verdict:?}"));
            }
            Ok(())
        })
    })
}

/// The durability floor: one single-row INSERT per transaction on the same
/// settings. On SQLite with synchronous=FULL this is one WAL fsync per commit;
/// no write path can be faster.
pub fn commit_floor_op(db: Db) -> Op {
    Arc::new(move |_w| -> OpFuture {
        let db = db.clone();
        Box::pin(async move {
            db.write(move |tx| {
                Box::pin(async move {
                    let id = format!("bench-{}", Uuid::new_v4().simple());
                    fieldops::storage::units::ensure(tx, &id, "commit floor", Utc::now()).await
                })
            })
            .await
            .map_err(|e| format!("commit floor: {e}"))
        })
    })
}
