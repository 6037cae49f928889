//! R-RPT-1: the service report. Every figure is aggregated by the database
//! (storage::report) in one read snapshot; this layer resolves the period,
//! checks who may read and whether the unit exists.
use crate::domain::Method;
use crate::domain::access;
use crate::domain::report::{Period, Span};
use crate::domain::{Caller, Policy};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::storage::outages::{self, KindFigures};
use crate::storage::report::{self as store, TemperatureFigures, TicketFigures};
use crate::storage::{Db, db_err, report_counts, units};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReport {
    pub unit: Option<String>,
    pub span: Span,
    pub generated_at: DateTime<Utc>,
    pub time_zone: Tz,
    pub tickets: TicketFigures,
    pub temperature: TemperatureFigures,
    /// R-TMP-11: the policy's compliance target.
    pub temperature_target: f64,
    /// R-OUT-7: by outage kind.
    pub outages: BTreeMap<String, KindFigures>,
}

#[derive(Clone)]
pub struct ReportService {
    db: Db,
    policy: Arc<Policy>,
    tz: Tz,
    clock: Arc<dyn Clock>,
}

impl ReportService {
    pub fn new(db: Db, policy: Arc<Policy>, tz: Tz, clock: Arc<dyn Clock>) -> ReportService {
        ReportService {
            db,
            policy,
            tz,
            clock,
        }
    }

    pub async fn service_report(
        &self,
        caller: &Caller,
        unit: Option<String>,
        period: Period,
    ) -> AppResult<ServiceReport> {
        access::authorize(caller, Method::GetServiceReport)?;
        let span = period.span(self.tz, &self.policy.report.season_starts)?;
        if let Some(u) = &unit
            && !units::exists(self.db.reader(), u).await?
        {
            return Err(AppError::invalid(
                "unit",
                reason::UNIT_NOT_FOUND,
                format!("unknown unit {}", crate::error::echo(u)),
            ));
        }
        // One snapshot, so the ticket and temperature figures agree in time.
        let tx = self.db.read_snapshot().await?;
        let tickets = report_counts::figures(&tx, span, unit.as_deref()).await?;
        let temperature = store::temperature_figures(&tx, span, unit.as_deref()).await?;
        let now = self.clock.now();
        let outages = outages::figures(&tx, span, unit.as_deref(), now).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ServiceReport {
            unit,
            span,
            generated_at: now,
            time_zone: self.tz,
            tickets,
            temperature,
            temperature_target: self.policy.report.temperature_target,
            outages,
        })
    }
}
