//! Every mutation of the API as one command type, and the one place that
//! runs a command: the unary RPCs and the offline Push both come here, so a
//! mutation behaves the same online and replayed from a handheld's queue
//! (same checks, same transaction, same audit trail and change feed).
//!
//! Adding a mutation: a variant here (with its arm in `method`, `answer` and
//! `execute`), its domain function, its use case, a row in the permission
//! table (`domain::access::roles`), and its gRPC decoding; Push then takes it
//! with no other edit than the proto's `Mutation` oneof.
use crate::domain::Method;
use crate::domain::assessment::{AssessmentItem, NewReward};
use crate::domain::inspection::{Inspection, RoomReading};
use crate::domain::meter::{MeterExchange, MeterReading};
use crate::domain::outage::{NewOutage, Notice, Outage};
use crate::domain::protocol::NoAccess;
use crate::domain::ticket::{
    CheckIn, Correction, NewContact, NewMajor, NewTicket, Resolution, RevisitOutcome,
};
use crate::domain::{Caller, Ticket};
use crate::error::{AppError, AppResult};
use crate::service::idempotency::RequestMeta;
use crate::service::inspections::{Finish, NewReading, StartVisit};
use crate::service::meters::{NewExchange, NewMeterReading};
use crate::service::{
    AssessmentService, InspectionService, MeterService, OutageService, TicketService,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A device's own time of a step (R-TKT-12); None: the server's receipt.
type At = Option<DateTime<Utc>>;

/// One mutation, decoded and checked for form; the rules come when it runs.
/// (No `Debug`: it carries residents' names and phones, never to be logged.)
pub enum Command {
    CreateTicket(NewTicket),
    DispatchTicket {
        ticket: Uuid,
        unit: String,
        assignee: Option<String>,
    },
    ClaimTicket {
        ticket: Uuid,
        at: At,
    },
    ReturnTicket {
        ticket: Uuid,
        reason: String,
        at: At,
    },
    ScheduleAppointment {
        ticket: Uuid,
        appointment_at: DateTime<Utc>,
        at: At,
    },
    RecordArrival {
        ticket: Uuid,
        check_in: CheckIn,
    },
    CompleteRepair {
        ticket: Uuid,
        resolution: Resolution,
        at: At,
    },
    RequestExtension {
        ticket: Uuid,
        reason: String,
        extend_by: Duration,
        at: At,
    },
    DecideExtension {
        ticket: Uuid,
        approve: bool,
        note: String,
    },
    RecordRevisit {
        ticket: Uuid,
        outcome: RevisitOutcome,
        notes: String,
    },
    Supervise {
        ticket: Uuid,
        notice: String,
        resolve_within: Duration,
    },
    CorrectTicket {
        ticket: Uuid,
        correction: Correction,
    },
    CancelTicket {
        ticket: Uuid,
        reason: String,
    },
    RecordContact {
        ticket: Uuid,
        contact: NewContact,
    },
    SuspendTicket {
        ticket: Uuid,
        reason: String,
    },
    ResumeTicket {
        ticket: Uuid,
        note: String,
    },
    RecuseStaff {
        ticket: Uuid,
        staff: String,
        reason: String,
    },
    FlagMajor {
        ticket: Uuid,
        major: NewMajor,
    },
    ApproveLongMatter {
        ticket: Uuid,
        note: String,
    },
    StartInspection(StartVisit),
    RecordRoomReading {
        inspection: Uuid,
        reading: NewReading,
    },
    FinishInspection {
        inspection: Uuid,
        finish: Finish,
    },
    VoidRoomReading {
        inspection: Uuid,
        reading: Uuid,
        reason: String,
    },
    AbandonInspection {
        inspection: Uuid,
        no_access: NoAccess,
    },
    RecordMeterReading(NewMeterReading),
    RecordMeterExchange(NewExchange),
    ReportOutage {
        id: Option<Uuid>,
        outage: NewOutage,
    },
    PlanOutage {
        id: Option<Uuid>,
        outage: NewOutage,
    },
    ApproveOutage {
        outage: Uuid,
    },
    StartOutage {
        outage: Uuid,
        at: At,
    },
    ReviseRestoration {
        outage: Uuid,
        restore_by: DateTime<Utc>,
        reason: String,
    },
    RecordNotice {
        outage: Uuid,
        notice: Notice,
    },
    RestoreSupply {
        outage: Uuid,
        at: At,
    },
    ContestItem {
        item: Uuid,
        reason: String,
    },
    DecideContest {
        item: Uuid,
        uphold: bool,
        note: String,
    },
    RecordReward(NewReward),
}

/// What a mutation answers with: the record as it stands after it.
pub enum Outcome {
    Ticket(Box<Ticket>),
    Inspection(Box<Inspection>),
    RoomReading(Box<RoomReading>),
    MeterReading(Box<MeterReading>),
    MeterExchange(Box<MeterExchange>),
    Outage(Box<Outage>),
    AssessmentItem(Box<AssessmentItem>),
}

/// The kind of record a method answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ticket,
    Inspection,
    RoomReading,
    MeterReading,
    MeterExchange,
    Outage,
    AssessmentItem,
}

impl Command {
    /// The RPC this command is (its fingerprint and audit entries say so).
    pub fn method(&self) -> Method {
        match self {
            Command::CreateTicket(_) => Method::CreateTicket,
            Command::DispatchTicket { .. } => Method::DispatchTicket,
            Command::ClaimTicket { .. } => Method::ClaimTicket,
            Command::ReturnTicket { .. } => Method::ReturnTicket,
            Command::ScheduleAppointment { .. } => Method::ScheduleAppointment,
            Command::RecordArrival { .. } => Method::RecordArrival,
            Command::CompleteRepair { .. } => Method::CompleteRepair,
            Command::RequestExtension { .. } => Method::RequestExtension,
            Command::DecideExtension { .. } => Method::DecideExtension,
            Command::RecordRevisit { .. } => Method::RecordRevisit,
            Command::Supervise { .. } => Method::Supervise,
            Command::CancelTicket { .. } => Method::CancelTicket,
            Command::CorrectTicket { .. } => Method::CorrectTicket,
            Command::RecordContact { .. } => Method::RecordContact,
            Command::SuspendTicket { .. } => Method::SuspendTicket,
            Command::ResumeTicket { .. } => Method::ResumeTicket,
            Command::RecuseStaff { .. } => Method::RecuseStaff,
            Command::FlagMajor { .. } => Method::FlagMajor,
            Command::ApproveLongMatter { .. } => Method::ApproveLongMatter,
            Command::StartInspection(_) => Method::StartInspection,
            Command::RecordRoomReading { .. } => Method::RecordRoomReading,
            Command::FinishInspection { .. } => Method::FinishInspection,
            Command::VoidRoomReading { .. } => Method::VoidRoomReading,
            Command::AbandonInspection { .. } => Method::AbandonInspection,
            Command::RecordMeterReading(_) => Method::RecordMeterReading,
            Command::RecordMeterExchange(_) => Method::RecordMeterExchange,
            Command::ReportOutage { .. } => Method::ReportOutage,
            Command::PlanOutage { .. } => Method::PlanOutage,
            Command::ApproveOutage { .. } => Method::ApproveOutage,
            Command::StartOutage { .. } => Method::StartOutage,
            Command::ReviseRestoration { .. } => Method::ReviseRestoration,
            Command::RecordNotice { .. } => Method::RecordNotice,
            Command::RestoreSupply { .. } => Method::RestoreSupply,
            Command::ContestItem { .. } => Method::ContestItem,
            Command::DecideContest { .. } => Method::DecideContest,
            Command::RecordReward(_) => Method::RecordReward,
        }
    }

    /// The kind of record it answers with (to read a stored answer back).
    pub fn answer(&self) -> Answer {
        match self {
            Command::StartInspection(_)
            | Command::FinishInspection { .. }
            | Command::AbandonInspection { .. } => Answer::Inspection,
            Command::RecordRoomReading { .. } | Command::VoidRoomReading { .. } => {
                Answer::RoomReading
            }
            Command::RecordMeterReading(_) => Answer::MeterReading,
            Command::RecordMeterExchange(_) => Answer::MeterExchange,
            Command::ReportOutage { .. }
            | Command::PlanOutage { .. }
            | Command::ApproveOutage { .. }
            | Command::StartOutage { .. }
            | Command::ReviseRestoration { .. }
            | Command::RecordNotice { .. }
            | Command::RestoreSupply { .. } => Answer::Outage,
            Command::ContestItem { .. }
            | Command::DecideContest { .. }
            | Command::RecordReward(_) => Answer::AssessmentItem,
            _ => Answer::Ticket,
        }
    }
}

impl Outcome {
    /// A stored answer (the idempotency record's or the push log's JSON).
    pub fn parse(answer: Answer, json: &str) -> AppResult<Outcome> {
        fn de<T: serde::de::DeserializeOwned>(json: &str) -> AppResult<Box<T>> {
            serde_json::from_str(json)
                .map(Box::new)
                .map_err(AppError::internal)
        }
        Ok(match answer {
            Answer::Ticket => Outcome::Ticket(de(json)?),
            Answer::Inspection => Outcome::Inspection(de(json)?),
            Answer::RoomReading => Outcome::RoomReading(de(json)?),
            Answer::MeterReading => Outcome::MeterReading(de(json)?),
            Answer::MeterExchange => Outcome::MeterExchange(de(json)?),
            Answer::Outage => Outcome::Outage(de(json)?),
            Answer::AssessmentItem => Outcome::AssessmentItem(de(json)?),
        })
    }
}

/// Runs commands: the use cases of every mutating RPC behind one door.
#[derive(Clone)]
pub struct Commands {
    tickets: TicketService,
    inspections: InspectionService,
    meters: MeterService,
    outages: OutageService,
    assessment: AssessmentService,
}

impl Commands {
    pub fn new(
        tickets: TicketService,
        inspections: InspectionService,
        meters: MeterService,
        outages: OutageService,
        assessment: AssessmentService,
    ) -> Commands {
        Commands {
            tickets,
            inspections,
            meters,
            outages,
            assessment,
        }
    }

    /// Run `command` for `caller` under `meta` (idempotent by request id; a
    /// pushed command carries its queue entry in `meta.push`).
    pub async fn execute(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        command: Command,
    ) -> AppResult<Outcome> {
        let (t, i, m) = (&self.tickets, &self.inspections, &self.meters);
        let o = &self.outages;
        let ticket = |r: AppResult<Ticket>| r.map(|t| Outcome::Ticket(Box::new(t)));
        let outage = |r: AppResult<Outage>| r.map(|x| Outcome::Outage(Box::new(x)));
        let a = &self.assessment;
        let item = |r: AppResult<AssessmentItem>| r.map(|x| Outcome::AssessmentItem(Box::new(x)));
        match command {
            Command::CreateTicket(input) => ticket(t.create(caller, meta, input).await),
            Command::DispatchTicket {
                ticket: id,
                unit,
                assignee,
            } => ticket(t.dispatch(caller, meta, id, unit, assignee).await),
            Command::ClaimTicket { ticket: id, at } => ticket(t.claim(caller, meta, id, at).await),
            Command::ReturnTicket {
                ticket: id,
                reason,
                at,
            } => ticket(t.return_ticket(caller, meta, id, reason, at).await),
            Command::ScheduleAppointment {
                ticket: id,
                appointment_at,
                at,
            } => ticket(
                t.schedule_appointment(caller, meta, id, appointment_at, at)
                    .await,
            ),
            Command::RecordArrival {
                ticket: id,
                check_in,
            } => ticket(t.arrive(caller, meta, id, check_in).await),
            Command::CompleteRepair {
                ticket: id,
                resolution,
                at,
            } => ticket(t.complete(caller, meta, id, resolution, at).await),
            Command::RequestExtension {
                ticket: id,
                reason,
                extend_by,
                at,
            } => ticket(
                t.request_extension(caller, meta, id, reason, extend_by, at)
                    .await,
            ),
            Command::DecideExtension {
                ticket: id,
                approve,
                note,
            } => ticket(t.decide_extension(caller, meta, id, approve, note).await),
            Command::RecordRevisit {
                ticket: id,
                outcome,
                notes,
            } => ticket(t.record_revisit(caller, meta, id, outcome, notes).await),
            Command::Supervise {
                ticket: id,
                notice,
                resolve_within,
            } => ticket(t.supervise(caller, meta, id, notice, resolve_within).await),
            Command::CancelTicket { ticket: id, reason } => {
                ticket(t.cancel(caller, meta, id, reason).await)
            }
            Command::CorrectTicket {
                ticket: id,
                correction,
            } => ticket(t.correct(caller, meta, id, correction).await),
            Command::RecordContact {
                ticket: id,
                contact,
            } => ticket(t.record_contact(caller, meta, id, contact).await),
            Command::SuspendTicket { ticket: id, reason } => {
                ticket(t.suspend(caller, meta, id, reason).await)
            }
            Command::ResumeTicket { ticket: id, note } => {
                ticket(t.resume(caller, meta, id, note).await)
            }
            Command::RecuseStaff {
                ticket: id,
                staff,
                reason,
            } => ticket(t.recuse(caller, meta, id, staff, reason).await),
            Command::FlagMajor { ticket: id, major } => {
                ticket(t.flag_major(caller, meta, id, major).await)
            }
            Command::ApproveLongMatter { ticket: id, note } => {
                ticket(t.approve_long_matter(caller, meta, id, note).await)
            }
            Command::StartInspection(input) => i
                .start(caller, meta, input)
                .await
                .map(|v| Outcome::Inspection(Box::new(v))),
            Command::RecordRoomReading {
                inspection,
                reading,
            } => i
                .record_reading(caller, meta, inspection, reading)
                .await
                .map(|r| Outcome::RoomReading(Box::new(r))),
            Command::FinishInspection { inspection, finish } => i
                .finish(caller, meta, inspection, finish)
                .await
                .map(|v| Outcome::Inspection(Box::new(v))),
            Command::VoidRoomReading {
                inspection,
                reading,
                reason,
            } => i
                .void_reading(caller, meta, inspection, reading, reason)
                .await
                .map(|r| Outcome::RoomReading(Box::new(r))),
            Command::AbandonInspection {
                inspection,
                no_access,
            } => i
                .abandon(caller, meta, inspection, no_access)
                .await
                .map(|v| Outcome::Inspection(Box::new(v))),
            Command::RecordMeterReading(input) => m
                .record_reading(caller, meta, input)
                .await
                .map(|r| Outcome::MeterReading(Box::new(r))),
            Command::RecordMeterExchange(input) => m
                .record_exchange(caller, meta, input)
                .await
                .map(|x| Outcome::MeterExchange(Box::new(x))),
            Command::ReportOutage { id, outage: input } => {
                outage(o.report(caller, meta, id, input).await)
            }
            Command::PlanOutage { id, outage: input } => {
                outage(o.plan(caller, meta, id, input).await)
            }
            Command::ApproveOutage { outage: id } => outage(o.approve(caller, meta, id).await),
            Command::StartOutage { outage: id, at } => outage(o.start(caller, meta, id, at).await),
            Command::ReviseRestoration {
                outage: id,
                restore_by,
                reason,
            } => outage(o.revise(caller, meta, id, restore_by, reason).await),
            Command::RecordNotice { outage: id, notice } => {
                outage(o.record_notice(caller, meta, id, notice).await)
            }
            Command::RestoreSupply { outage: id, at } => {
                outage(o.restore(caller, meta, id, at).await)
            }
            Command::ContestItem { item: id, reason } => {
                item(a.contest(caller, meta, id, reason).await)
            }
            Command::DecideContest {
                item: id,
                uphold,
                note,
            } => item(a.decide(caller, meta, id, uphold, note).await),
            Command::RecordReward(input) => item(a.reward(caller, meta, input).await),
        }
    }
}
