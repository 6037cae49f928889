//! Meter readings and exchanges (R-MTR-1, R-MTR-2). After every change the
//! meter's rollback flags are recomputed over its whole history, so readings
//! and exchanges that arrive out of order end up flagged correctly.
use crate::domain::Method;
use crate::domain::access;
use crate::domain::meter::{self, MeterExchange, MeterReading, MeterUnit};
use crate::domain::{Caller, Policy, Role};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::idempotency::{self, RequestMeta, Tx};
use crate::service::paging::{self, Page, Pager};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::feed::{Cause, ChangeDraft};
use crate::storage::{Db, meters as store};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

use crate::error::reason::READING_EXISTS;

#[derive(Clone)]
pub struct MeterService {
    db: Db,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    pager: Pager,
}

pub struct NewMeterReading {
    pub id: Option<Uuid>,
    pub meter_id: String,
    pub value: f64,
    pub unit: MeterUnit,
    pub read_at: DateTime<Utc>,
}

pub struct NewExchange {
    pub meter_id: String,
    pub old_serial: String,
    pub new_serial: String,
    pub old_final_value: f64,
    pub new_initial_value: f64,
    pub unit: MeterUnit,
    pub exchanged_at: DateTime<Utc>,
    pub reader_present: bool,
    pub customer_present: bool,
}

impl MeterService {
    pub fn new(db: Db, policy: Arc<Policy>, clock: Arc<dyn Clock>, pager: Pager) -> MeterService {
        MeterService {
            db,
            policy,
            clock,
            pager,
        }
    }

    fn check_not_future(&self, t: DateTime<Utc>, field: &str) -> AppResult<()> {
        if t > self.clock.now() + self.policy.time.max_future {
            return Err(AppError::invalid(
                field,
                reason::OCCURRED_AT_IN_FUTURE,
                format!("{field} is too far in the future"),
            ));
        }
        Ok(())
    }

    /// Recompute R-MTR-1 flags of one meter, including `pending` (a reading
    /// about to be inserted, whose flag is set in place); audit each stored
    /// flag that changes.
    async fn refresh_flags(
        tx: Tx<'_>,
        meter_id: &str,
        pending: Option<&mut MeterReading>,
    ) -> AppResult<()> {
        let readings = store::readings_of(tx.db, meter_id).await?;
        let exchanges = store::exchange_times_of(tx.db, meter_id).await?;
        let mut points: Vec<_> = readings
            .iter()
            .map(|r| (r.id, r.read_at, r.value))
            .collect();
        if let Some(p) = pending.as_deref() {
            points.push((p.id, p.read_at, p.value));
        }
        let flags = meter::rollback_flags(&points, &exchanges);
        if let Some(p) = pending {
            p.rollback = flags.get(&p.id).copied().unwrap_or(false);
        }
        for r in readings {
            let flag = flags.get(&r.id).copied().unwrap_or(false);
            if flag != r.rollback {
                store::set_rollback(tx.db, r.id, flag).await?;
                let kind = if flag {
                    "ROLLBACK_FLAGGED"
                } else {
                    "ROLLBACK_CLEARED"
                };
                let details = serde_json::json!({ "meter_id": meter_id });
                let cause =
                    Self::audit(tx, "meter_reading", r.id, r.version + 1, kind, details).await?;
                let flagged = MeterReading {
                    rollback: flag,
                    version: r.version + 1,
                    ..r.clone()
                };
                tx.record(ChangeDraft::meter_reading(&flagged, &cause));
            }
        }
        Ok(())
    }

    async fn audit(
        tx: Tx<'_>,
        entity_type: &'static str,
        entity_id: Uuid,
        entity_version: i64,
        kind: &'static str,
        details: serde_json::Value,
    ) -> AppResult<Cause> {
        audit::append(
            tx.db,
            AuditEntry {
                entity_type,
                entity_id: entity_id.to_string(),
                entity_version,
                kind,
                caller: tx.caller,
                role: Role::Inspector.as_str(),
                request_id: tx.meta.request_id,
                device_id: tx.meta.device_id.as_deref(),
                at: tx.now,
                details,
            },
        )
        .await
    }

    /// R-MTR-1.
    pub async fn record_reading(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        input: NewMeterReading,
    ) -> AppResult<MeterReading> {
        access::authorize(caller, Method::RecordMeterReading)?;
        self.check_not_future(input.read_at, "read_time")?;
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::RecordMeterReading,
            move |tx| {
                Box::pin(async move {
                    store::lock_meter(tx.db, &input.meter_id).await?;
                    let established = store::unit_of(tx.db, &input.meter_id).await?;
                    meter::check_unit(&input.meter_id, established, input.unit)?;
                    let id = input.id.unwrap_or_else(Uuid::now_v7);
                    if store::get_reading(tx.db, id).await?.is_some() {
                        return Err(AppError::AlreadyExists {
                            reason: READING_EXISTS,
                            message: format!("reading {id} already exists"),
                            info: Vec::new(),
                        });
                    }
                    let mut reading = MeterReading {
                        id,
                        version: 1,
                        meter_id: input.meter_id,
                        value: input.value,
                        unit: input.unit,
                        read_at: input.read_at,
                        inspector: tx.caller.sub.clone(),
                        rollback: false,
                        received_at: tx.now,
                    };
                    let meter_id = reading.meter_id.clone();
                    Self::refresh_flags(tx, &meter_id, Some(&mut reading)).await?;
                    store::insert_reading(tx.db, &reading).await?;
                    let details = serde_json::json!({
                        "meter_id": reading.meter_id,
                        "value": reading.value,
                        "read_at": reading.read_at,
                        "rollback": reading.rollback,
                    });
                    let cause =
                        Self::audit(tx, "meter_reading", id, 1, "RECORDED", details).await?;
                    tx.record(ChangeDraft::meter_reading(&reading, &cause));
                    Ok(reading)
                })
            },
        )
        .await
    }

    /// R-MTR-2.
    pub async fn record_exchange(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        input: NewExchange,
    ) -> AppResult<MeterExchange> {
        access::authorize(caller, Method::RecordMeterExchange)?;
        self.check_not_future(input.exchanged_at, "exchange_time")?;
        idempotency::write(&self.db, &self.clock, caller, meta, Method::RecordMeterExchange, move |tx| {
            Box::pin(async move {
                store::lock_meter(tx.db, &input.meter_id).await?;
                let established = store::unit_of(tx.db, &input.meter_id).await?;
                meter::check_unit(&input.meter_id, established, input.unit)?;
                let x = MeterExchange {
                    id: Uuid::now_v7(),
                    flagged: meter::exchange_flagged(input.reader_present, input.customer_present),
                    meter_id: input.meter_id,
                    old_serial: input.old_serial,
                    new_serial: input.new_serial,
                    old_final_value: input.old_final_value,
                    new_initial_value: input.new_initial_value,
                    unit: input.unit,
                    exchanged_at: input.exchanged_at,
                    reader_present: input.reader_present,
                    customer_present: input.customer_present,
                    inspector: tx.caller.sub.clone(),
                    received_at: tx.now,
                };
                store::insert_exchange(tx.db, &x).await?;
                let details = serde_json::json!({ "meter_id": x.meter_id, "flagged": x.flagged, "exchanged_at": x.exchanged_at });
                let cause = Self::audit(tx, "meter_exchange", x.id, 1, "RECORDED", details).await?;
                tx.record(ChangeDraft::meter_exchange(&x, &cause));
                Self::refresh_flags(tx, &x.meter_id, None).await?;
                Ok(x)
            })
        })
        .await
    }

    pub async fn list(
        &self,
        caller: &Caller,
        meter_id: &str,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&MeterReading) -> usize,
    ) -> AppResult<Page<MeterReading>> {
        access::authorize(caller, Method::ListMeterReadings)?;
        let limit = paging::page_size(page_size)?;
        let before = self.pager.decode_pair("meter", page_token)?;
        let items = store::list(self.db.reader(), meter_id, before, limit + 1).await?;
        Ok(self.pager.page(items, limit, size_of, |r| {
            self.pager.encode_pair(
                "meter",
                crate::storage::to_micros(r.read_at),
                &r.id.to_string(),
            )
        }))
    }
}
