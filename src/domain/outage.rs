//! A supply interruption (停水 / 停热, DOMAIN.md section 6): its facts, its
//! lifecycle (a plan waits for approval, R-OUT-3; an emergency starts when it
//! is reported, R-OUT-1) and its clocks: dispatch told (R-OUT-2), 12345 and
//! 12319 told (R-OUT-2), the public told ahead of planned works (R-OUT-3),
//! each restoration estimate kept or revised in time (R-OUT-4).
//!
//! A clock is derived from the facts every time it is asked for: its
//! deadline, and when the event it waits for happened. A clock whose
//! deadline has passed without its event, or whose event came after it, is
//! breached: recorded once per (clock, deadline), by whichever comes first,
//! the deadline monitor or the next write of the outage ([`Outage::settle`]).
use crate::domain::access;
use crate::domain::area::{Area, Place};
use crate::domain::policy::OutageRules;
use crate::domain::ticket::{Ctx, pipe_diameter};
use crate::domain::time::EventTime;
use crate::domain::wire_enum::wire_enum;
use crate::domain::{Caller, Method, Role};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The most households a report may name: more than any city has.
pub const MAX_HOUSEHOLDS: i64 = 10_000_000;
/// Most valve groups in one report.
const MAX_VALVES: i32 = 1000;
/// An interruption may be recorded this long after it started (a written-up phone report).
const MAX_BACKDATED: Duration = Duration::days(30);
/// No estimate or plan runs longer than this.
const MAX_SPAN: Duration = Duration::days(366);

wire_enum! {
    /// What interrupted supply (section 6).
    OutageKind {
        EmergencyRepair = "EMERGENCY_REPAIR",
        Fault = "FAULT",
        PlannedWorks = "PLANNED_WORKS",
        /// 降压.
        PressureReduction = "PRESSURE_REDUCTION",
        ArrearsShutOff = "ARREARS_SHUT_OFF",
        WaterQualityShutOff = "WATER_QUALITY_SHUT_OFF",
        /// 停热.
        HeatCutOff = "HEAT_CUT_OFF",
    }
}

impl OutageKind {
    /// R-OUT-6, R-TMP-8: repair and maintenance work (检修、抢修) as against
    /// supply cut for another reason (a fault, water quality, arrears, heat cut-off).
    pub fn is_maintenance(self) -> bool {
        matches!(
            self,
            OutageKind::EmergencyRepair | OutageKind::PlannedWorks | OutageKind::PressureReduction
        )
    }

    /// R-OUT-1: a repair or fault report names the pipe and the valves closed.
    fn needs_pipe(self) -> bool {
        matches!(self, OutageKind::EmergencyRepair | OutageKind::Fault)
    }

    /// Planned kinds need approval before they start (R-OUT-3); the others
    /// are reported when they happen (R-OUT-1).
    pub fn is_planned(self) -> bool {
        matches!(
            self,
            OutageKind::PlannedWorks
                | OutageKind::PressureReduction
                | OutageKind::ArrearsShutOff
                | OutageKind::HeatCutOff
        )
    }
}

wire_enum! {
    OutageState {
        /// A plan waiting for a supervisor's approval (R-OUT-3).
        AwaitingApproval = "AWAITING_APPROVAL",
        Approved = "APPROVED",
        /// Supply is off.
        Active = "ACTIVE",
        Restored = "RESTORED",
    }
}

wire_enum! {
    /// Where a notice went (R-OUT-2, R-OUT-3).
    NoticeChannel {
        Dispatch = "DISPATCH",
        /// 12345.
        CityHotline = "CITY_HOTLINE",
        /// 12319.
        SupervisionHotline = "SUPERVISION_HOTLINE",
        Press = "PRESS",
        TvRadio = "TV_RADIO",
        Sms = "SMS",
        Posters = "POSTERS",
        /// Website, WeChat, Weibo.
        Online = "ONLINE",
        Directory114 = "DIRECTORY_114",
        FireBrigade119 = "FIRE_BRIGADE_119",
    }
}

impl NoticeChannel {
    /// R-OUT-3: the channels that tell the public (the 114 directory and the
    /// fire brigade are told too, but they are not the announcement).
    pub fn is_public(self) -> bool {
        matches!(
            self,
            NoticeChannel::Press
                | NoticeChannel::TvRadio
                | NoticeChannel::Sms
                | NoticeChannel::Posters
                | NoticeChannel::Online
        )
    }
}

wire_enum! {
    /// The clocks of an interruption.
    OutageClock {
        /// R-OUT-2: dispatch knows (by the report reaching the server).
        DispatchReport = "DISPATCH_REPORT",
        /// R-OUT-2: 12345 told.
        CityHotline = "CITY_HOTLINE",
        /// R-OUT-2: 12319 told.
        SupervisionHotline = "SUPERVISION_HOTLINE",
        /// R-OUT-3: the public told ahead of planned works.
        PublicNotice = "PUBLIC_NOTICE",
        /// R-OUT-3: a large area told again, a day ahead.
        PublicNoticeReminder = "PUBLIC_NOTICE_REMINDER",
        /// R-OUT-4: supply back, or a later estimate announced, by the estimate.
        Restoration = "RESTORATION",
    }
}

impl OutageClock {
    /// Reports (R-OUT-2) as against notices to the public (R-OUT-3) and estimates (R-OUT-4).
    pub fn is_report(self) -> bool {
        matches!(
            self,
            OutageClock::DispatchReport
                | OutageClock::CityHotline
                | OutageClock::SupervisionHotline
        )
    }

    pub fn is_notice(self) -> bool {
        matches!(
            self,
            OutageClock::PublicNotice | OutageClock::PublicNoticeReminder
        )
    }
}

/// Valves closed to isolate the section (R-OUT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValveClosure {
    pub diameter_mm: i32,
    pub count: i32,
}

/// An expected restoration, as first reported or as revised (R-OUT-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub restore_by: DateTime<Utc>,
    /// When the server learnt it: the announcement that counts.
    pub made_at: DateTime<Utc>,
    pub made_by: String,
    pub reason: String,
}

/// A notice sent (R-OUT-2, R-OUT-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub channel: NoticeChannel,
    pub sent_at: DateTime<Utc>,
    /// Who sent it (a name or staff id, as the dispatcher records it).
    pub sent_by: String,
    /// The other side's reference (a 12345 case number, a newspaper issue).
    pub reference: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A deadline that passed unmet, recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageBreach {
    pub clock: OutageClock,
    pub deadline: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// A clock as the API shows it: what is due, by when, kept or breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockStatus {
    pub clock: OutageClock,
    pub deadline: DateTime<Utc>,
    pub met_at: Option<DateTime<Utc>>,
    pub breached: bool,
}

/// A clock as the facts stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub kind: OutageClock,
    pub deadline: DateTime<Utc>,
    /// When the event it waits for happened.
    pub met_at: Option<DateTime<Utc>>,
}

impl Clock {
    fn kept(&self) -> bool {
        self.met_at.is_some_and(|m| m <= self.deadline)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    pub id: Uuid,
    pub version: i64,
    pub kind: OutageKind,
    pub state: OutageState,
    /// The reporting (or working) unit, and the person in charge.
    pub unit: String,
    pub responsible: String,
    /// Who recorded it (staff id).
    pub reported_by: String,
    pub cause: String,
    pub pipe_diameter_mm: Option<i32>,
    pub valves: Vec<ValveClosure>,
    pub area: Area,
    pub households: i64,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// Supply actually cut.
    pub started_at: Option<DateTime<Utc>>,
    /// Every expected restoration, oldest first; never empty.
    pub estimates: Vec<Estimate>,
    pub restored_at: Option<DateTime<Utc>>,
    pub notices: Vec<Notice>,
    pub breaches: Vec<OutageBreach>,
    /// Raised by one per breach.
    pub escalation_level: i32,
    /// The clocks as they stood after the latest change (they change only
    /// with the facts, so only at a write).
    pub clocks: Vec<ClockStatus>,
    /// When the report or plan reached the server: dispatch knows from then (R-OUT-2).
    pub reported_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a report (R-OUT-1) or a plan (R-OUT-3) says, already decoded.
#[derive(Debug, Clone)]
pub struct NewOutage {
    pub kind: OutageKind,
    /// The unit in charge; a crew reports for its own (empty: the caller's).
    pub unit: String,
    pub responsible: String,
    pub cause: String,
    pub pipe_diameter_mm: Option<i32>,
    pub valves: Vec<ValveClosure>,
    pub area: Area,
    pub households: i64,
    /// Report: when supply was cut. Plan: the planned start.
    pub start: Option<DateTime<Utc>>,
    /// Report: the expected restoration. Plan: the planned end.
    pub end: Option<DateTime<Utc>>,
}

/// The audit event of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageEvent {
    pub kind: &'static str,
    pub role: Option<Role>,
    pub details: serde_json::Value,
}

/// A command's result: the outage after it and its events (the command's,
/// then a BREACHED one if a clock is found late).
#[derive(Debug, Clone)]
pub struct OutageChange {
    pub outage: Outage,
    pub events: Vec<OutageEvent>,
}

fn subject(id: Uuid) -> String {
    format!("outages/{id}")
}

fn out_of_range(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(field, reason::OUT_OF_RANGE, message)
}

/// Field names of the two ways an outage is recorded.
struct Fields {
    method: Method,
    start: &'static str,
    end: &'static str,
}

const REPORT: Fields = Fields {
    method: Method::ReportOutage,
    start: "start_time",
    end: "expected_restoration_time",
};

const PLAN: Fields = Fields {
    method: Method::PlanOutage,
    start: "planned_start_time",
    end: "planned_end_time",
};

impl Outage {
    /// R-OUT-1: an emergency or fault reported by the crew that cut supply
    /// (or by dispatch, told by phone). Dispatch knows from now.
    pub fn report(ctx: &Ctx, id: Uuid, input: NewOutage) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::ReportOutage)?;
        let (input, start, end) = Self::checked(ctx, input, &REPORT)?;
        let mut o = Self::new(ctx, id, input, OutageState::Active, end);
        o.started_at = Some(start);
        let details = json!({ "kind": o.kind, "households": o.households, "started_at": start, "expected_restoration": end });
        Ok(o.changed_new(ctx, "REPORTED", role, details))
    }

    /// R-OUT-3: planned works, waiting for a supervisor's approval.
    pub fn plan(ctx: &Ctx, id: Uuid, input: NewOutage) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::PlanOutage)?;
        let (input, start, end) = Self::checked(ctx, input, &PLAN)?;
        let mut o = Self::new(ctx, id, input, OutageState::AwaitingApproval, end);
        o.planned_start = Some(start);
        o.planned_end = Some(end);
        let details = json!({ "kind": o.kind, "households": o.households, "planned_start": start, "planned_end": end });
        Ok(o.changed_new(ctx, "PLANNED", role, details))
    }

    fn new(
        ctx: &Ctx,
        id: Uuid,
        input: NewOutage,
        state: OutageState,
        end: DateTime<Utc>,
    ) -> Outage {
        let unit = if input.unit.is_empty() {
            ctx.caller.unit.clone()
        } else {
            input.unit
        };
        let responsible = if input.responsible.trim().is_empty() {
            ctx.caller.sub.clone()
        } else {
            input.responsible.trim().to_string()
        };
        Outage {
            id,
            version: 1,
            kind: input.kind,
            state,
            unit,
            responsible,
            reported_by: ctx.caller.sub.clone(),
            cause: input.cause.trim().to_string(),
            pipe_diameter_mm: input.pipe_diameter_mm,
            valves: input.valves,
            area: input.area,
            households: input.households,
            planned_start: None,
            planned_end: None,
            approved_by: None,
            approved_at: None,
            started_at: None,
            estimates: vec![Estimate {
                restore_by: end,
                made_at: ctx.now,
                made_by: ctx.caller.sub.clone(),
                reason: String::new(),
            }],
            restored_at: None,
            notices: Vec::new(),
            breaches: Vec::new(),
            escalation_level: 0,
            clocks: Vec::new(),
            reported_at: ctx.now,
            updated_at: ctx.now,
        }
    }

    /// Every field checked, the bad ones refused together.
    fn checked(
        ctx: &Ctx,
        mut input: NewOutage,
        f: &Fields,
    ) -> AppResult<(NewOutage, DateTime<Utc>, DateTime<Utc>)> {
        if ctx.caller.acting_as(&[Role::Dispatcher]).is_none()
            && !input.unit.is_empty()
            && input.unit != ctx.caller.unit
        {
            return Err(AppError::denied(
                reason::WRONG_UNIT,
                "a crew reports interruptions of its own unit",
            ));
        }
        let rules = &ctx.policy.outage;
        let mut errors = Vec::new();
        let planned = f.method == Method::PlanOutage;
        if input.kind.is_planned() != planned || !rules.kinds.contains(&input.kind) {
            errors.push(AppError::invalid(
                "kind",
                reason::OUTAGE_KIND_NOT_ALLOWED,
                format!(
                    "{} takes {} kinds of this profile's list",
                    f.method,
                    if planned { "planned" } else { "unplanned" }
                ),
            ));
        }
        // Dispatch names the unit in charge; a crew's is its own.
        if input.unit.is_empty() && !ctx.caller.has(Role::Crew) {
            errors.push(AppError::missing("unit"));
        }
        if input.cause.trim().is_empty() {
            errors.push(AppError::missing("cause"));
        }
        if !(0..=MAX_HOUSEHOLDS).contains(&input.households) {
            errors.push(out_of_range(
                "households",
                format!("households must lie in 0..={MAX_HOUSEHOLDS}"),
            ));
        }
        if let Err(e) = pipe_diameter(input.pipe_diameter_mm, "pipe_diameter_mm") {
            errors.push(e);
        }
        if !planned && input.kind.needs_pipe() {
            if input.pipe_diameter_mm.is_none() {
                errors.push(AppError::missing("pipe_diameter_mm"));
            }
            if input.valves.is_empty() {
                errors.push(AppError::missing("valves"));
            }
        }
        for (i, v) in input.valves.iter().enumerate() {
            if let Err(e) = pipe_diameter(Some(v.diameter_mm), &format!("valves[{i}].diameter_mm"))
            {
                errors.push(e);
            }
            if !(1..=MAX_VALVES).contains(&v.count) {
                errors.push(out_of_range(
                    &format!("valves[{i}].count"),
                    format!("count must lie in 1..={MAX_VALVES}"),
                ));
            }
        }
        match std::mem::take(&mut input.area).validated("area") {
            Ok(a) => input.area = a,
            Err(e) => errors.push(e),
        }
        let (start, end) = (input.start, input.end);
        match start {
            None => errors.push(AppError::missing(f.start)),
            Some(s) if planned && !(ctx.now < s && s <= ctx.now + MAX_SPAN) => errors.push(
                out_of_range(f.start, "planned works start in the future, within a year"),
            ),
            Some(s) if !planned && s > ctx.now + ctx.policy.time.clock_skew => {
                errors.push(AppError::invalid(
                    f.start,
                    reason::OCCURRED_AT_IN_FUTURE,
                    format!("{} lies in the future", f.start),
                ))
            }
            Some(s) if s < ctx.now - MAX_BACKDATED => errors.push(out_of_range(
                f.start,
                format!("{} may be at most 30 days in the past", f.start),
            )),
            _ => {}
        }
        match (start, end) {
            (_, None) => errors.push(AppError::missing(f.end)),
            (Some(s), Some(e)) if e <= s => errors.push(AppError::invalid(
                f.end,
                reason::RESTORATION_BEFORE_START,
                format!("{} must be after {}", f.end, f.start),
            )),
            (Some(s), Some(e)) if e - s > MAX_SPAN => errors.push(out_of_range(
                f.end,
                format!("{} is over a year after the start", f.end),
            )),
            _ => {}
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        Ok((input, start.expect("checked"), end.expect("checked")))
    }

    pub fn subject(&self) -> String {
        subject(self.id)
    }

    /// The estimate in force.
    pub fn expected_restoration(&self) -> DateTime<Utc> {
        self.estimates
            .last()
            .expect("an outage has at least one estimate")
            .restore_by
    }

    fn refuse(&self, reason: &'static str, message: impl Into<String>) -> AppError {
        AppError::precondition(reason, self.subject(), message)
    }

    /// A step that needs supply to be off now.
    fn check_active(&self, step: &str) -> AppResult<()> {
        match self.state {
            OutageState::Active => Ok(()),
            OutageState::Restored => Err(self.refuse(
                reason::OUTAGE_RESTORED,
                format!("supply is restored; the outage takes no {step}"),
            )),
            OutageState::AwaitingApproval | OutageState::Approved => Err(self.refuse(
                reason::INVALID_TRANSITION,
                format!("the planned works have not started; no {step} yet"),
            )),
        }
    }

    /// R-OUT-3: a supervisor approves a plan, once.
    pub fn approve(&self, ctx: &Ctx) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::ApproveOutage)?;
        match self.state {
            OutageState::AwaitingApproval => {}
            _ if self.approved_at.is_some() => {
                return Err(self.refuse(
                    reason::OUTAGE_ALREADY_APPROVED,
                    "the plan is approved already",
                ));
            }
            _ => {
                return Err(self.refuse(
                    reason::INVALID_TRANSITION,
                    "only planned works are approved",
                ));
            }
        }
        let mut next = self.clone();
        next.state = OutageState::Approved;
        next.approved_by = Some(ctx.caller.sub.clone());
        next.approved_at = Some(ctx.now);
        Ok(self.changed(next, ctx, "APPROVED", role, json!({})))
    }

    /// R-OUT-3: planned works start (supply cut), only once approved.
    pub fn start(&self, ctx: &Ctx, occurred_at: Option<DateTime<Utc>>) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::StartOutage)?;
        match self.state {
            OutageState::Approved => {}
            OutageState::AwaitingApproval => {
                return Err(self.refuse(
                    reason::OUTAGE_NOT_APPROVED,
                    "planned works start only after a supervisor approved them (R-OUT-3)",
                ));
            }
            OutageState::Active | OutageState::Restored => {
                return Err(
                    self.refuse(reason::INVALID_TRANSITION, "the outage has started already")
                );
            }
        }
        let time = self.event_time(ctx, occurred_at)?;
        let mut next = self.clone();
        next.state = OutageState::Active;
        next.started_at = Some(time.effective);
        let details = json!({ "started_at": time.effective, "time_untrusted": time.untrusted });
        Ok(self.changed(next, ctx, "STARTED", role, details))
    }

    /// R-OUT-4: a later (or earlier) expected restoration, announced now.
    pub fn revise(
        &self,
        ctx: &Ctx,
        restore_by: DateTime<Utc>,
        why: &str,
    ) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::ReviseRestoration)?;
        self.check_active("revision")?;
        let start = self.started_at.expect("an active outage has started");
        if restore_by <= start {
            return Err(AppError::invalid(
                "expected_restoration_time",
                reason::RESTORATION_BEFORE_START,
                "the new estimate must be after the start",
            ));
        }
        if restore_by <= ctx.now {
            return Err(out_of_range(
                "expected_restoration_time",
                "the new estimate must lie in the future",
            ));
        }
        if restore_by - start > MAX_SPAN {
            return Err(out_of_range(
                "expected_restoration_time",
                "the new estimate is over a year after the start",
            ));
        }
        let previous = self.expected_restoration();
        let mut next = self.clone();
        next.estimates.push(Estimate {
            restore_by,
            made_at: ctx.now,
            made_by: ctx.caller.sub.clone(),
            reason: why.trim().to_string(),
        });
        let details = json!({
            "previous": previous,
            "expected_restoration": restore_by,
            "in_time": ctx.now <= previous,
        });
        Ok(self.changed(next, ctx, "RESTORATION_REVISED", role, details))
    }

    /// R-OUT-2, R-OUT-3: a notice sent, with its time and sender.
    pub fn record_notice(&self, ctx: &Ctx, notice: Notice) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::RecordNotice)?;
        if notice.sent_at > ctx.now + ctx.policy.time.clock_skew {
            return Err(AppError::invalid(
                "sent_time",
                reason::OCCURRED_AT_IN_FUTURE,
                "sent_time lies in the future: record a notice once it is sent",
            ));
        }
        if notice.sent_at < self.reported_at - MAX_BACKDATED {
            return Err(out_of_range(
                "sent_time",
                "sent_time is more than 30 days before the outage was recorded",
            ));
        }
        let details = json!({
            "channel": notice.channel,
            "sent_at": notice.sent_at,
            "lead": self.planned_start.map(|s| (s - notice.sent_at).num_seconds()),
        });
        let mut next = self.clone();
        next.notices.push(notice);
        next.notices.sort_by_key(|n| n.sent_at);
        Ok(self.changed(next, ctx, "NOTICE_RECORDED", role, details))
    }

    /// R-OUT-1: supply is back (the crew's device time counts, R-SLA-7).
    pub fn restore(
        &self,
        ctx: &Ctx,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<OutageChange> {
        let role = access::authorize(ctx.caller, Method::RestoreSupply)?;
        self.check_active("restoration")?;
        let time = self.event_time(ctx, occurred_at)?;
        let mut next = self.clone();
        next.state = OutageState::Restored;
        next.restored_at = Some(time.effective);
        let details = json!({ "restored_at": time.effective, "time_untrusted": time.untrusted });
        Ok(self.changed(next, ctx, "RESTORED", role, details))
    }

    /// A handheld's time of a step (R-SLA-7), never before the start.
    fn event_time(&self, ctx: &Ctx, occurred_at: Option<DateTime<Utc>>) -> AppResult<EventTime> {
        let floor = self.started_at.unwrap_or(self.reported_at);
        EventTime::resolve(occurred_at, ctx.now, floor, &ctx.policy.time)
    }

    fn changed_new(
        self,
        ctx: &Ctx,
        kind: &'static str,
        role: Role,
        details: serde_json::Value,
    ) -> OutageChange {
        let mut change = OutageChange {
            outage: self,
            events: vec![OutageEvent {
                kind,
                role: Some(role),
                details,
            }],
        };
        change.settle(&ctx.policy.outage, ctx.now);
        change
    }

    fn changed(
        &self,
        mut next: Outage,
        ctx: &Ctx,
        kind: &'static str,
        role: Role,
        details: serde_json::Value,
    ) -> OutageChange {
        next.version = self.version + 1;
        next.updated_at = ctx.now;
        next.changed_new(ctx, kind, role, details)
    }

    /// Every clock as the facts stand (see the module docs).
    pub fn clocks(&self, r: &OutageRules) -> Vec<Clock> {
        let mut out = Vec::new();
        let planned = self.kind.is_planned();
        // R-OUT-2: dispatch knows once the report or plan reaches it, or
        // once a notice to it (a phone call) is recorded. R-OUT-3: every
        // plan reaches the dispatch (hotline) centre `planned_dispatch_lead` ahead.
        let dispatch_deadline = if planned {
            self.works_start().map(|s| s - r.planned_dispatch_lead)
        } else if self.households >= r.dispatch_households {
            self.started_at.map(|s| s + r.dispatch_within)
        } else {
            None
        };
        if let Some(deadline) = dispatch_deadline {
            let phoned = self.notices_to(|c| c == NoticeChannel::Dispatch).next();
            out.push(Clock {
                kind: OutageClock::DispatchReport,
                deadline,
                met_at: Some(phoned.map_or(self.reported_at, |p| p.min(self.reported_at))),
            });
        }
        // R-OUT-2: 12345 and 12319.
        if self.households >= r.hotline_households
            && let Some(deadline) = self.hotline_deadline(r)
        {
            for (kind, channel) in [
                (OutageClock::CityHotline, NoticeChannel::CityHotline),
                (
                    OutageClock::SupervisionHotline,
                    NoticeChannel::SupervisionHotline,
                ),
            ] {
                out.push(Clock {
                    kind,
                    deadline,
                    met_at: self.notices_to(|c| c == channel).next(),
                });
            }
        }
        // R-OUT-3: the public, ahead of planned works; a large area again a
        // day ahead, by a notice after the first deadline.
        if planned && let Some(start) = self.works_start() {
            let large = self.households >= r.large_area_households;
            let lead = if large {
                r.large_area_first_lead
            } else {
                r.notice_lead
            };
            let first = start - lead;
            out.push(Clock {
                kind: OutageClock::PublicNotice,
                deadline: first,
                met_at: self.notices_to(NoticeChannel::is_public).next(),
            });
            if large {
                out.push(Clock {
                    kind: OutageClock::PublicNoticeReminder,
                    deadline: start - r.large_area_second_lead,
                    met_at: self
                        .notices_to(NoticeChannel::is_public)
                        .find(|t| *t > first),
                });
            }
        }
        // R-OUT-4: each estimate, kept by the restoration or replaced by the next one.
        if self.started_at.is_some() {
            for (i, e) in self.estimates.iter().enumerate() {
                let replaced = self.estimates.get(i + 1).map(|n| n.made_at);
                out.push(Clock {
                    kind: OutageClock::Restoration,
                    deadline: e.restore_by,
                    met_at: replaced.or(self.restored_at),
                });
            }
        }
        out
    }

    /// When planned works start: as planned, or earlier if they started
    /// earlier (lead times count from the earlier).
    fn works_start(&self) -> Option<DateTime<Utc>> {
        match (self.planned_start, self.started_at) {
            (Some(p), Some(s)) => Some(p.min(s)),
            (p, s) => p.or(s),
        }
    }

    /// Send times of the notices to channels `to`, earliest first.
    fn notices_to(
        &self,
        to: impl Fn(NoticeChannel) -> bool,
    ) -> impl Iterator<Item = DateTime<Utc>> {
        self.notices
            .iter()
            .filter(move |n| to(n.channel))
            .map(|n| n.sent_at)
    }

    /// R-OUT-2: when 12345 and 12319 must know. Planned works of the
    /// threshold: the lead time before the planned start. Otherwise from the
    /// first moment the interruption is known to reach the duration: an
    /// estimate that says so (from when it was made), or the duration
    /// actually passing with supply still off; never before dispatch knew.
    fn hotline_deadline(&self, r: &OutageRules) -> Option<DateTime<Utc>> {
        let long = |from: DateTime<Utc>, to: DateTime<Utc>| to - from >= r.hotline_min_duration;
        if self.kind.is_planned()
            && let (Some(s), Some(e)) = (self.planned_start, self.planned_end)
            && long(s, e)
        {
            return Some(s - r.planned_hotline_lead);
        }
        let start = self.started_at?;
        let by_estimate = self
            .estimates
            .iter()
            .filter(|e| long(start, e.restore_by))
            .map(|e| e.made_at)
            .min();
        let reached = start + r.hotline_min_duration;
        let by_duration = self
            .restored_at
            .is_none_or(|t| t >= reached)
            .then_some(reached);
        let since = [by_estimate, by_duration].into_iter().flatten().min()?;
        Some(since.max(self.reported_at) + r.hotline_within)
    }

    fn has_breach(&self, clock: OutageClock, deadline: DateTime<Utc>) -> bool {
        self.breaches
            .iter()
            .any(|b| b.clock == clock && b.deadline == deadline)
    }

    /// Clocks not kept and not yet recorded as breached.
    fn open_clocks(&self, r: &OutageRules) -> impl Iterator<Item = Clock> {
        self.clocks(r)
            .into_iter()
            .filter(|c| !c.kept())
            .filter(|c| !self.has_breach(c.kind, c.deadline))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// When the deadline monitor must look at this outage next (indexed in storage).
    pub fn next_deadline(&self, r: &OutageRules) -> Option<DateTime<Utc>> {
        self.open_clocks(r).map(|c| c.deadline).min()
    }

    /// The clocks due by `now` and not kept: what a BREACHED event records.
    fn due(&self, r: &OutageRules, now: DateTime<Utc>) -> Vec<Clock> {
        self.open_clocks(r).filter(|c| now > c.deadline).collect()
    }

    /// The deadline monitor's step: record every breach due by `now`. None
    /// when nothing is due (another monitor, or a write, was first).
    pub fn record_breaches(&self, r: &OutageRules, now: DateTime<Utc>) -> Option<OutageChange> {
        if self.due(r, now).is_empty() {
            return None;
        }
        let mut next = self.clone();
        next.version = self.version + 1;
        next.updated_at = now;
        let mut change = OutageChange {
            outage: next,
            events: Vec::new(),
        };
        change.settle(r, now);
        Some(change)
    }

    /// R-OUT-7: (kept, missed) of the concluded report clocks and notice
    /// clocks, and the estimates that passed unannounced. A clock is
    /// concluded once its event happened or its breach was recorded.
    pub fn outcomes(&self, r: &OutageRules) -> Outcomes {
        let mut o = Outcomes::default();
        for c in self.clocks(r) {
            // An event known to have happened is judged by its time (a
            // late-synced restoration that proves the estimate kept counts,
            // R-SLA-7); otherwise by the breach recorded.
            let missed = match c.met_at {
                Some(m) => m > c.deadline,
                None => self.has_breach(c.kind, c.deadline),
            };
            let kept = c.kept();
            let (on_time, late) = match c.kind {
                k if k.is_report() => (&mut o.reports_on_time, &mut o.reports_late),
                k if k.is_notice() => (&mut o.notices_on_time, &mut o.notices_late),
                _ => (&mut o.estimates_kept, &mut o.estimates_missed),
            };
            if missed {
                *late += 1;
            } else if kept {
                *on_time += 1;
            }
        }
        o
    }

    /// Is supply cut at `t`? From the actual start to the restoration, both
    /// included: approved works that have not started cut nothing yet.
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.started_at.is_some_and(|s| s <= t) && self.restored_at.is_none_or(|r| t <= r)
    }

    /// The window storage indexes for "in force at": (from, until); until None = open.
    pub fn in_force_window(&self) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        self.started_at.map(|s| (s, self.restored_at))
    }

    /// R-OUT-5: does a call at `place`, received at `t`, concern this
    /// interruption? Supply must be off then and not restored since.
    pub fn explains_call(&self, place: &Place, t: DateTime<Utc>) -> bool {
        self.state != OutageState::Restored && self.in_force_at(t) && self.area.contains(place)
    }

    /// R-OUT-6: does it explain a measurement at `place` at `t`?
    pub fn explains_measurement(&self, place: &Place, t: DateTime<Utc>) -> bool {
        self.in_force_at(t) && self.area.contains(place)
    }
}

/// Counts for the service report (R-OUT-7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub reports_on_time: i32,
    pub reports_late: i32,
    pub notices_on_time: i32,
    pub notices_late: i32,
    pub estimates_kept: i32,
    pub estimates_missed: i32,
}

impl OutageChange {
    /// Record the breaches due by `now` (one BREACHED event for all of
    /// them, the escalation raised by one per breach).
    /// Also refreshes the clocks the API shows.
    fn settle(&mut self, r: &OutageRules, now: DateTime<Utc>) {
        let due = self.outage.due(r, now);
        if !due.is_empty() {
            self.record(&due, now);
        }
        let o = &mut self.outage;
        o.clocks = o
            .clocks(r)
            .into_iter()
            .map(|c| ClockStatus {
                clock: c.kind,
                deadline: c.deadline,
                met_at: c.met_at,
                breached: o.has_breach(c.kind, c.deadline),
            })
            .collect();
    }

    fn record(&mut self, due: &[Clock], now: DateTime<Utc>) {
        let o = &mut self.outage;
        for c in due {
            o.breaches.push(OutageBreach {
                clock: c.kind,
                deadline: c.deadline,
                recorded_at: now,
            });
        }
        o.escalation_level += due.len() as i32;
        self.events.push(OutageEvent {
            kind: "BREACHED",
            role: None,
            details: json!({
                "breaches": due.iter().map(|c| json!({ "clock": c.kind, "deadline": c.deadline, "met_at": c.met_at })).collect::<Vec<_>>(),
                "escalation_level": o.escalation_level,
            }),
        });
    }
}

/// Roles that see every unit's outages (a crew sees its own unit's).
const SEES_ALL_UNITS: &[Role] = &[
    Role::Dispatcher,
    Role::Supervisor,
    Role::Backoffice,
    Role::Admin,
];

/// Is this outage within the caller's scope? One outside it is, to the
/// caller, an outage that does not exist.
pub fn may_read(caller: &Caller, outage: &Outage) -> bool {
    caller.acting_as(SEES_ALL_UNITS).is_some() || outage.unit == caller.unit
}

/// The unit a crew member's outage list is limited to (None: all units).
pub fn list_unit_scope(caller: &Caller) -> Option<&str> {
    caller
        .acting_as(SEES_ALL_UNITS)
        .is_none()
        .then_some(caller.unit.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Policy;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap()
    }

    fn who(role: Role) -> Caller {
        Caller {
            sub: "c1".into(),
            roles: vec![role],
            unit: "north".into(),
        }
    }

    fn input(
        kind: OutageKind,
        households: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> NewOutage {
        NewOutage {
            kind,
            unit: "north".into(),
            responsible: String::new(),
            cause: "burst main".into(),
            pipe_diameter_mm: Some(300),
            valves: vec![ValveClosure {
                diameter_mm: 300,
                count: 1,
            }],
            area: Area {
                addresses: vec!["1 Main St".into()],
                ..Area::default()
            },
            households,
            start: Some(start),
            end: Some(end),
        }
    }

    fn hotline(o: &Outage) -> Option<DateTime<Utc>> {
        o.clocks
            .iter()
            .find(|c| c.clock == OutageClock::CityHotline)
            .map(|c| c.deadline)
    }

    /// R-OUT-2: the 12345/12319 clock runs from the first known fact that
    /// the interruption reaches 8 h: a long estimate, or 8 h passing with
    /// supply off; an interruption restored before 8 h has none.
    #[test]
    fn r_out_2_hotline_clock_starts_with_the_first_long_fact() {
        let p = Policy::builtin("water").unwrap();
        let c = who(Role::Crew);
        let at = |now| Ctx {
            policy: &p,
            caller: &c,
            now,
        };
        let kind = OutageKind::EmergencyRepair;
        let o = Outage::report(
            &at(t0()),
            Uuid::now_v7(),
            input(kind, 1000, t0(), t0() + Duration::hours(6)),
        )
        .unwrap()
        .outage;
        let twenty = Duration::minutes(20);
        assert_eq!(hotline(&o), Some(t0() + Duration::hours(8) + twenty));
        let later = t0() + Duration::hours(1);
        let revised = o
            .revise(&at(later), t0() + Duration::hours(9), "")
            .unwrap()
            .outage;
        assert_eq!(hotline(&revised), Some(later + twenty));
        let restored = o
            .restore(&at(t0() + Duration::hours(7)), None)
            .unwrap()
            .outage;
        assert_eq!(
            hotline(&restored),
            None,
            "7 h actual, every estimate under 8 h"
        );
        let fewer = Outage::report(
            &at(t0()),
            Uuid::now_v7(),
            input(kind, 999, t0(), t0() + Duration::hours(9)),
        )
        .unwrap()
        .outage;
        assert_eq!(hotline(&fewer), None);
    }

    /// R-OUT-3: a large area's reminder needs a second public notice; the
    /// 114 directory is told but is not the announcement.
    #[test]
    fn r_out_3_reminder_needs_a_second_public_notice() {
        let p = Policy::builtin("water").unwrap();
        let d = who(Role::Dispatcher);
        let at = |now| Ctx {
            policy: &p,
            caller: &d,
            now,
        };
        let start = t0() + Duration::days(5);
        let plan = Outage::plan(
            &at(t0()),
            Uuid::now_v7(),
            input(
                OutageKind::PlannedWorks,
                10_000,
                start,
                start + Duration::hours(4),
            ),
        )
        .unwrap()
        .outage;
        let notice = |channel, sent_at| Notice {
            channel,
            sent_at,
            sent_by: "d1".into(),
            reference: String::new(),
            recorded_by: "d1".into(),
            recorded_at: sent_at,
        };
        let four_days = start - Duration::days(4);
        let o = plan
            .record_notice(&at(four_days), notice(NoticeChannel::Press, four_days))
            .unwrap()
            .outage;
        let o = o
            .record_notice(
                &at(four_days),
                notice(NoticeChannel::Directory114, four_days),
            )
            .unwrap()
            .outage;
        let met = |o: &Outage, k| {
            o.clocks
                .iter()
                .find(|c| c.clock == k)
                .and_then(|c| c.met_at)
        };
        assert_eq!(met(&o, OutageClock::PublicNotice), Some(four_days));
        assert_eq!(met(&o, OutageClock::PublicNoticeReminder), None);
        let two_days = start - Duration::days(2);
        let o = o
            .record_notice(&at(two_days), notice(NoticeChannel::Sms, two_days))
            .unwrap()
            .outage;
        assert_eq!(met(&o, OutageClock::PublicNoticeReminder), Some(two_days));
        assert!(o.breaches.is_empty());
    }

    /// R-OUT-4: a passed estimate is recorded once, by the monitor or by
    /// the next write, whichever is first.
    #[test]
    fn r_out_4_a_passed_estimate_is_one_breach() {
        let p = Policy::builtin("water").unwrap();
        let c = who(Role::Crew);
        let at = |now| Ctx {
            policy: &p,
            caller: &c,
            now,
        };
        let end = t0() + Duration::hours(2);
        let o = Outage::report(
            &at(t0()),
            Uuid::now_v7(),
            input(OutageKind::Fault, 10, t0(), end),
        )
        .unwrap()
        .outage;
        assert_eq!(o.next_deadline(&p.outage), Some(end));
        assert!(
            o.record_breaches(&p.outage, end).is_none(),
            "met at its instant"
        );
        let after = end + Duration::seconds(1);
        let change = o.record_breaches(&p.outage, after).unwrap();
        assert_eq!(change.events.len(), 1);
        let o2 = change.outage;
        assert_eq!(o2.escalation_level, 1);
        assert!(
            o2.record_breaches(&p.outage, after + Duration::hours(1))
                .is_none()
        );
        let late = o2.revise(&at(after), end + Duration::hours(3), "").unwrap();
        assert_eq!(
            late.outage.breaches.len(),
            1,
            "the revision adds no second breach"
        );
        // Without the monitor, the late revision itself records it.
        let direct = o.revise(&at(after), end + Duration::hours(3), "").unwrap();
        assert_eq!(direct.outage.breaches.len(), 1);
        assert_eq!(
            direct.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            ["RESTORATION_REVISED", "BREACHED"]
        );
    }

    /// R-OUT-4, R-SLA-7: a report synced after its estimate passed records
    /// the breach, but a restoration whose trusted device time proves the
    /// estimate kept counts as kept in the figures (the breach stays on record).
    #[test]
    fn r_out_4_a_late_synced_restoration_that_kept_the_estimate_counts_as_kept() {
        let p = Policy::builtin("water").unwrap();
        let c = who(Role::Crew);
        let at = |now| Ctx {
            policy: &p,
            caller: &c,
            now,
        };
        let (start, estimate) = (t0(), t0() + Duration::hours(1));
        let synced = t0() + Duration::hours(2);
        let o = Outage::report(
            &at(synced),
            Uuid::now_v7(),
            input(OutageKind::Fault, 10, start, estimate),
        )
        .unwrap()
        .outage;
        assert_eq!(
            o.breaches.len(),
            1,
            "not known restored when the report arrived"
        );
        assert_eq!(o.outcomes(&p.outage).estimates_missed, 1);
        let back = estimate - Duration::minutes(10);
        let restored = o.restore(&at(synced), Some(back)).unwrap().outage;
        assert_eq!(restored.restored_at, Some(back));
        let figures = restored.outcomes(&p.outage);
        assert_eq!((figures.estimates_kept, figures.estimates_missed), (1, 0));
        assert_eq!(restored.breaches.len(), 1);
    }
}
