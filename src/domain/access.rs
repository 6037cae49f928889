//! Who may do what (DOMAIN.md section 1) and what they may see (R-TKT-13).
use crate::domain::{Caller, Role, Ticket};
use crate::error::{AppError, AppResult, reason};

use crate::domain::method::Method;

/// Everyone with a valid token may read tickets (crew: only his unit's).
pub const TICKET_READERS: &[Role] = &Role::ALL;

/// R-RPT-1: unit heads, dispatch and the back office read reports; crews and inspectors do not.
pub const REPORT_READERS: &[Role] = &[
    Role::Supervisor,
    Role::Dispatcher,
    Role::Backoffice,
    Role::Admin,
];

/// Who reads supply interruptions (a crew only its unit's): not inspectors,
/// whose visits the server checks against outages itself (R-OUT-6).
pub const OUTAGE_READERS: &[Role] = &[
    Role::Crew,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Backoffice,
    Role::Admin,
];

/// R-ASM-4: who sees every assessment item and the sheet: the unit heads
/// and dispatch-centre supervisors, the back office (the enterprise
/// management department), admins. Everyone else sees the items naming him.
pub const ASSESSMENT_READERS: &[Role] = &[Role::Supervisor, Role::Backoffice, Role::Admin];

/// The permission table: who may call each method (DOMAIN.md section 1),
/// in one place. Services ask it (through [`authorize`]) before they look
/// anything up, so a caller whose role may not call a method learns nothing
/// about the record it named; the domain's commands ask it for the role the
/// caller acts in. The match is exhaustive: a new method does not compile
/// until someone decides who may call it.
pub fn roles(method: Method) -> &'static [Role] {
    use Method as M;
    use Role::*;
    match method {
        // R-TKT-1: whoever first receives a caller records the ticket.
        M::CreateTicket => &[Dispatcher, Crew, Inspector, Supervisor],
        M::DispatchTicket | M::DecideExtension | M::RecordRevisit => &[Dispatcher],
        M::CancelTicket => &[Dispatcher],
        // Issue 17: intake fields recorded wrongly, corrected by dispatch.
        M::CorrectTicket => &[Dispatcher],
        M::ClaimTicket
        | M::ScheduleAppointment
        | M::RecordArrival
        | M::CompleteRepair
        | M::RequestExtension => &[Crew],
        M::ReturnTicket => &[Crew, Dispatcher],
        M::Supervise => &[Supervisor],
        // R-SLA-6, R-TKT-15: whoever follows the matter up (a crew member
        // only on his unit's tickets, the read scope).
        M::RecordContact => &[Dispatcher, Crew, Supervisor],
        // R-TKT-16: dispatch asks, a supervisor approves; either resumes.
        M::SuspendTicket | M::ResumeTicket => &[Dispatcher, Supervisor],
        // R-TKT-13: conflicts of interest.
        M::RecuseStaff => &[Dispatcher, Supervisor],
        // R-TKT-17: dispatch reports a major matter, supervisors too.
        M::FlagMajor => &[Dispatcher, Supervisor],
        // R-SLA-6: more than 7 days only with a supervisor's approval.
        M::ApproveLongMatter => &[Supervisor],
        M::GetTicket | M::ListTickets | M::ListTicketEvents => TICKET_READERS,
        M::StartInspection
        | M::RecordRoomReading
        | M::FinishInspection
        | M::VoidRoomReading
        | M::AbandonInspection => &[Inspector],
        M::RecordMeterReading | M::RecordMeterExchange => &[Inspector],
        // Scoped further by role: a crew member sees the visits his tickets caused.
        M::GetInspection => &[Dispatcher, Supervisor, Backoffice, Inspector, Crew],
        M::ListInspections => &Role::ALL,
        M::ListColdHouseholds => &[Supervisor, Dispatcher, Backoffice],
        M::ListMeterReadings => &[Inspector, Dispatcher, Supervisor, Backoffice],
        M::GetServiceReport | M::ExportServiceReport => REPORT_READERS,
        // R-OUT-1..4: crews for their unit, dispatch all but the approval.
        M::ReportOutage | M::StartOutage | M::ReviseRestoration | M::RestoreSupply => {
            &[Crew, Dispatcher]
        }
        M::PlanOutage | M::RecordNotice => &[Dispatcher],
        M::ApproveOutage => &[Supervisor],
        M::GetOutage | M::ListOutages => OUTAGE_READERS,
        // R-ASM-1: everyone lists items, scoped to his own unless a reader.
        M::ListAssessmentItems => &Role::ALL,
        // R-ASM-2: the unit's head contests, a supervisor decides; R-ASM-3.
        M::ContestItem | M::DecideContest | M::RecordReward => &[Supervisor],
        M::GetAssessmentSheet | M::ExportAssessmentSheet => ASSESSMENT_READERS,
        // R-REC-1: those who work a subject attach to it; the back office
        // and admins only read. Every read is scoped by the subject.
        M::UploadAttachment | M::GetUploadStatus => &[Crew, Inspector, Dispatcher, Supervisor],
        M::GetAttachment | M::ListAttachments => &Role::ALL,
        // Every screen shows the policy's labels.
        M::GetPolicy => &Role::ALL,
        // Only handhelds queue mutations offline: crews, inspectors, and
        // supervisors, who carry one on their rounds (the desk is online).
        M::Push => &[Crew, Inspector, Supervisor],
        // The feed is scoped per reader (`Visibility`), open to every role.
        M::Pull | M::Watch => &Role::ALL,
    }
}

/// The role the caller acts in when calling `method`, or PERMISSION_DENIED.
pub fn authorize(caller: &Caller, method: Method) -> AppResult<Role> {
    require_role(caller, roles(method), method.name())
}

/// The role the caller acts in for an operation open to `allowed`, or PERMISSION_DENIED.
fn require_role(caller: &Caller, allowed: &[Role], operation: &str) -> AppResult<Role> {
    caller.acting_as(allowed).ok_or_else(|| {
        let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
        AppError::denied(
            reason::ROLE_NOT_ALLOWED,
            format!("{operation} needs one of the roles: {}", names.join(", ")),
        )
    })
}

/// A unit's head: a supervisor whose JWT unit is a registered service unit
/// (`is_service_unit`) and who holds no desk-wide role (dispatch, back
/// office, admin). A dispatch-centre supervisor's unit is none of the
/// service units. The head of a unit supervises that unit's tickets and
/// sees that unit's cold households; dispatch-centre supervisors all.
pub fn unit_head_scope(caller: &Caller, is_service_unit: bool) -> Option<&str> {
    let desk_wide = [Role::Dispatcher, Role::Backoffice, Role::Admin]
        .iter()
        .any(|r| caller.has(*r));
    (caller.has(Role::Supervisor) && is_service_unit && !desk_wide).then_some(caller.unit.as_str())
}

/// R-TKT-10: a unit's head supervises only his unit's tickets.
pub fn check_supervises(scope: Option<&str>, ticket: &Ticket) -> AppResult<()> {
    match scope {
        Some(unit) if ticket.unit.as_deref() != Some(unit) => Err(AppError::denied(
            reason::WRONG_UNIT,
            "a unit's head supervises his unit's tickets; dispatch-centre supervisors supervise any",
        )),
        _ => Ok(()),
    }
}

/// R-ASM-1: does the caller see every assessment item (not only his own)?
pub fn sees_all_items(caller: &Caller) -> bool {
    caller.acting_as(ASSESSMENT_READERS).is_some()
}

/// R-TKT-13 recusal: a complaint is never shown to the staff member it
/// concerns, nor to one marked as having a conflict of interest.
pub fn is_recused(caller: &Caller, ticket: &Ticket) -> bool {
    ticket.recused_staff().any(|s| s == caller.sub)
}

/// Roles that see every unit's tickets.
fn sees_all_units(caller: &Caller) -> bool {
    [
        Role::Dispatcher,
        Role::Supervisor,
        Role::Backoffice,
        Role::Admin,
        Role::Inspector,
    ]
    .iter()
    .any(|r| caller.has(*r))
}

/// Is this ticket within the caller's scope at all? One outside it is, to
/// the caller, a ticket that does not exist: reading or acting on it answers
/// exactly as for an unknown id, so nobody learns that it exists (R-TKT-13:
/// a complaint is never shown to the staff member it concerns).
pub fn may_read(caller: &Caller, ticket: &Ticket) -> bool {
    if is_recused(caller, ticket) {
        return false;
    }
    // Crew: his unit's tickets, any ticket he holds, and any he recorded (R-TKT-1).
    sees_all_units(caller)
        || ticket.unit.as_deref() == Some(caller.unit.as_str())
        || ticket.assignee.as_deref() == Some(caller.sub.as_str())
        || ticket.received_by == caller.sub
}

/// The unit filter a ticket list must apply for this caller (None: all units).
pub fn list_unit_scope(caller: &Caller) -> Option<&str> {
    (!sees_all_units(caller)).then_some(caller.unit.as_str())
}

/// R-TKT-13: caller name and phone are visible to dispatch, supervisors and
/// the crew member holding the ticket; everyone else sees them masked.
pub fn sees_caller_details(caller: &Caller, ticket: &Ticket) -> bool {
    caller.has(Role::Dispatcher)
        || caller.has(Role::Supervisor)
        || (caller.has(Role::Crew) && ticket.assignee.as_deref() == Some(caller.sub.as_str()))
        // R-TKT-1: the first-responsible person took the call himself.
        || ticket.received_by == caller.sub
}

/// Who a complaint is about is known only to dispatch and supervisors.
pub fn sees_subject_staff(caller: &Caller) -> bool {
    caller.has(Role::Dispatcher) || caller.has(Role::Supervisor)
}

/// How much of a ticket a caller sees (R-TKT-13). Whoever sees the subject
/// staff member also sees the caller's details, so there are three views;
/// the change feed encodes each change once per view, not once per reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketView {
    /// Caller details and the subject staff member.
    Full = 0,
    /// Caller details (the crew member holding the ticket).
    CallerDetails = 1,
    /// Caller name and phone masked, subject hidden.
    Masked = 2,
}

impl TicketView {
    pub const COUNT: usize = 3;

    pub fn of(caller: &Caller, ticket: &Ticket) -> TicketView {
        match (
            sees_caller_details(caller, ticket),
            sees_subject_staff(caller),
        ) {
            (true, true) => TicketView::Full,
            (true, false) => TicketView::CallerDetails,
            (false, _) => TicketView::Masked,
        }
    }

    pub fn caller_details(self) -> bool {
        self != TicketView::Masked
    }

    pub fn subject_staff(self) -> bool {
        self == TicketView::Full
    }
}

/// What a feed reader is sent of a ticket's change: its state in his view
/// (R-TKT-13), or a tombstone once the change took the ticket out of his
/// reach (sent to another unit): the feed still shows him that change, so
/// that his handheld drops what it cached, caller details first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedSight {
    Ticket(TicketView),
    Tombstone,
}

impl FeedSight {
    /// How many different encodings one change can have.
    pub const COUNT: usize = TicketView::COUNT + 1;

    pub fn of(caller: &Caller, ticket: &Ticket) -> FeedSight {
        if may_read(caller, ticket) {
            FeedSight::Ticket(TicketView::of(caller, ticket))
        } else {
            FeedSight::Tombstone
        }
    }

    /// This sight's place among the `COUNT` encodings.
    pub fn slot(self) -> usize {
        match self {
            FeedSight::Ticket(v) => v as usize,
            FeedSight::Tombstone => TicketView::COUNT,
        }
    }
}

/// "张三丰" -> "张**": keep the first character.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
    }
}

/// "13812345678" -> "138****5678": keep the first 3 and last 4 characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i >= chars.len() - 4 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// R-TKT-4 / R-TKT-13: a crew member acts only on his unit's tickets, and on
/// a claimed one only if he holds it.
pub fn check_crew_acts(caller: &Caller, ticket: &Ticket, must_hold: bool) -> AppResult<()> {
    if is_recused(caller, ticket) {
        return Err(AppError::denied(
            reason::RECUSED,
            "this complaint concerns you",
        ));
    }
    if ticket.unit.as_deref() != Some(caller.unit.as_str()) {
        return Err(AppError::denied(
            reason::WRONG_UNIT,
            "the ticket is not dispatched to your unit",
        ));
    }
    if must_hold && ticket.assignee.as_deref() != Some(caller.sub.as_str()) {
        return Err(AppError::denied(
            reason::NOT_TICKET_HOLDER,
            "you do not hold this ticket",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_tkt_13_masks() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
    }

    #[test]
    fn require_role_names_the_allowed_roles() {
        let c = Caller {
            sub: "c1".into(),
            roles: vec![Role::Crew],
            unit: "north".into(),
        };
        assert_eq!(
            require_role(&c, &[Role::Crew], "claim").unwrap(),
            Role::Crew
        );
        let e = require_role(&c, &[Role::Dispatcher], "dispatch").unwrap_err();
        assert_eq!(e.reason(), reason::ROLE_NOT_ALLOWED);
    }
}
