//! The ticket lifecycle graph (R-TKT-3). Every transition the service makes
//! is looked up here; one not in this table is refused.
use super::method::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    New,
    Dispatched,
    Claimed,
    OnSite,
    Resolved,
    Closed,
    Returned,
    Supervised,
    Cancelled,
    /// R-TKT-16: a complaint set aside with a supervisor's approval; its
    /// clocks stand still until it is resumed to the state it left.
    Suspended,
}

/// What someone asks to do to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Dispatch,
    Claim,
    Return,
    ScheduleAppointment,
    Arrive,
    Complete,
    RequestExtension,
    DecideExtension,
    /// Call-back with the customer satisfied, or dissatisfied for reasons outside the unit.
    RevisitClose,
    /// Call-back: not satisfied because of the unit (R-TKT-9).
    RevisitReopen,
    Supervise,
    Cancel,
    /// R-OUT-5: the supply interruption a call is linked to is over.
    SupplyRestored,
    /// R-SLA-6, R-TKT-15: a contact with the caller, the referrer, the
    /// leadership or the first-responsible person (no change of state).
    RecordContact,
    /// R-TKT-16: suspend (or ask to); resuming is [`TicketState::resumed_to`].
    Suspend,
    /// R-TKT-13: keep a staff member away from the ticket (no change of state).
    Recuse,
    /// R-TKT-17: flag (or update) a major matter while it is unresolved.
    FlagMajor,
    /// R-SLA-6: approve more than 7 days while it is unresolved.
    ApproveLongMatter,
}

impl Action {
    /// The RPC that asks for it, as the API names it (in messages: a user
    /// reads "RecordRevisit", not an internal name).
    pub fn method(self) -> Method {
        match self {
            Action::Dispatch => Method::DispatchTicket,
            Action::Claim => Method::ClaimTicket,
            Action::Return => Method::ReturnTicket,
            Action::ScheduleAppointment => Method::ScheduleAppointment,
            Action::Arrive => Method::RecordArrival,
            Action::Complete => Method::CompleteRepair,
            Action::RequestExtension => Method::RequestExtension,
            Action::DecideExtension => Method::DecideExtension,
            Action::RevisitClose | Action::RevisitReopen => Method::RecordRevisit,
            Action::Supervise => Method::Supervise,
            Action::Cancel => Method::CancelTicket,
            Action::SupplyRestored => Method::RestoreSupply,
            Action::RecordContact => Method::RecordContact,
            Action::Suspend => Method::SuspendTicket,
            Action::Recuse => Method::RecuseStaff,
            Action::FlagMajor => Method::FlagMajor,
            Action::ApproveLongMatter => Method::ApproveLongMatter,
        }
    }
}

impl TicketState {
    /// The state as the API spells it (`TICKET_STATE_CLAIMED`).
    pub fn api_name(self) -> String {
        format!("TICKET_STATE_{}", self.as_str())
    }

    pub const ALL: [TicketState; 10] = [
        TicketState::New,
        TicketState::Dispatched,
        TicketState::Claimed,
        TicketState::OnSite,
        TicketState::Resolved,
        TicketState::Closed,
        TicketState::Returned,
        TicketState::Supervised,
        TicketState::Cancelled,
        TicketState::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::New => "NEW",
            TicketState::Dispatched => "DISPATCHED",
            TicketState::Claimed => "CLAIMED",
            TicketState::OnSite => "ON_SITE",
            TicketState::Resolved => "RESOLVED",
            TicketState::Closed => "CLOSED",
            TicketState::Returned => "RETURNED",
            TicketState::Supervised => "SUPERVISED",
            TicketState::Cancelled => "CANCELLED",
            TicketState::Suspended => "SUSPENDED",
        }
    }

    pub fn parse(s: &str) -> Option<TicketState> {
        TicketState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Still being worked on (clocks may run).
    pub fn is_open(self) -> bool {
        !matches!(self, TicketState::Closed | TicketState::Cancelled)
    }

    /// R-TKT-3: the state `action` leads to from `self`, or None if the graph forbids it.
    pub fn next(self, action: Action) -> Option<TicketState> {
        use Action as A;
        use TicketState as S;
        match (self, action) {
            (S::New | S::Dispatched | S::Returned | S::Supervised, A::Dispatch) => {
                Some(S::Dispatched)
            }
            (S::Dispatched, A::Claim) => Some(S::Claimed),
            (S::Dispatched | S::Claimed | S::OnSite, A::Return) => Some(S::Returned),
            (S::Claimed, A::ScheduleAppointment) => Some(S::Claimed),
            (S::Claimed, A::Arrive) => Some(S::OnSite),
            (S::OnSite, A::Complete) => Some(S::Resolved),
            (S::Claimed | S::OnSite, A::RequestExtension) => Some(self),
            (
                S::Dispatched | S::Claimed | S::OnSite | S::Returned | S::Supervised,
                A::DecideExtension,
            ) => Some(self),
            (S::Resolved, A::RevisitClose) => Some(S::Closed),
            (S::Resolved, A::RevisitReopen) => Some(S::Supervised),
            // A notice reopens a finished ticket; on one still being worked on it
            // raises the escalation and sets a new deadline but leaves the crew at work.
            (S::Resolved | S::Closed, A::Supervise) => Some(S::Supervised),
            (
                S::New | S::Dispatched | S::Claimed | S::OnSite | S::Returned | S::Supervised,
                A::Supervise,
            ) => Some(self),
            (S::New | S::Dispatched | S::Claimed | S::Returned | S::Supervised, A::Cancel) => {
                Some(S::Cancelled)
            }
            (
                S::New | S::Dispatched | S::Claimed | S::OnSite | S::Returned | S::Supervised,
                A::SupplyRestored,
            ) => Some(S::Resolved),
            (s, A::RecordContact) if s != S::Cancelled => Some(s),
            // A closed or cancelled complaint must stay out of sight too.
            (s, A::Recuse) => Some(s),
            (
                S::New | S::Dispatched | S::Claimed | S::OnSite | S::Returned | S::Supervised,
                A::FlagMajor | A::ApproveLongMatter,
            ) => Some(self),
            // R-TKT-16: from any open state.
            (
                S::New
                | S::Dispatched
                | S::Claimed
                | S::OnSite
                | S::Resolved
                | S::Returned
                | S::Supervised,
                A::Suspend,
            ) => Some(S::Suspended),
            _ => None,
        }
    }

    /// R-TKT-16: a suspended ticket goes back to the state it left (one the
    /// graph suspends from); None from any other state.
    pub fn resumed_to(self, left: TicketState) -> Option<TicketState> {
        (self == TicketState::Suspended && left.next(Action::Suspend).is_some()).then_some(left)
    }
}

impl fmt::Display for TicketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_tkt_3_main_path() {
        let mut s = TicketState::New;
        for (a, want) in [
            (Action::Dispatch, TicketState::Dispatched),
            (Action::Claim, TicketState::Claimed),
            (Action::Arrive, TicketState::OnSite),
            (Action::Complete, TicketState::Resolved),
            (Action::RevisitClose, TicketState::Closed),
        ] {
            s = s.next(a).unwrap();
            assert_eq!(s, want);
        }
    }

    #[test]
    fn r_tkt_3_forbidden_transitions() {
        assert_eq!(
            TicketState::Dispatched.next(Action::Complete),
            None,
            "complete before arrival"
        );
        assert_eq!(
            TicketState::Closed.next(Action::Claim),
            None,
            "claim a closed ticket"
        );
        assert_eq!(TicketState::Cancelled.next(Action::Dispatch), None);
        assert_eq!(TicketState::Cancelled.next(Action::Supervise), None);
        assert_eq!(TicketState::OnSite.next(Action::Cancel), None);
        assert_eq!(TicketState::New.next(Action::Claim), None);
    }

    #[test]
    fn r_tkt_3_side_paths() {
        assert_eq!(
            TicketState::Claimed.next(Action::Return),
            Some(TicketState::Returned)
        );
        assert_eq!(
            TicketState::Returned.next(Action::Dispatch),
            Some(TicketState::Dispatched)
        );
        assert_eq!(
            TicketState::Resolved.next(Action::RevisitReopen),
            Some(TicketState::Supervised)
        );
        assert_eq!(
            TicketState::Supervised.next(Action::Dispatch),
            Some(TicketState::Dispatched)
        );
        assert_eq!(
            TicketState::Returned.next(Action::Cancel),
            Some(TicketState::Cancelled)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in TicketState::ALL {
            assert_eq!(TicketState::parse(s.as_str()), Some(s));
        }
    }

    /// R-TKT-16: every open state suspends and is resumed to; a suspended
    /// ticket takes no other step than the resume (and contacts).
    #[test]
    fn r_tkt_16_suspension_leaves_and_returns() {
        use TicketState as S;
        for s in TicketState::ALL {
            let open = !matches!(s, S::Closed | S::Cancelled | S::Suspended);
            assert_eq!(s.next(Action::Suspend).is_some(), open, "{s}");
            assert_eq!(S::Suspended.resumed_to(s), open.then_some(s), "{s}");
            if s != S::Suspended {
                assert_eq!(s.resumed_to(S::New), None, "{s} is not suspended");
            }
        }
        for a in [
            Action::Dispatch,
            Action::Claim,
            Action::Complete,
            Action::Cancel,
            Action::Supervise,
        ] {
            assert_eq!(S::Suspended.next(a), None, "{a:?}");
        }
        assert_eq!(S::Suspended.next(Action::RecordContact), Some(S::Suspended));
    }

    /// R-OUT-5: restoration resolves a linked ticket from every state before
    /// RESOLVED except CANCELLED; after that it leaves it alone, and a
    /// suspended complaint stays suspended (R-TKT-16).
    #[test]
    fn r_out_5_restoration_resolves_every_working_state() {
        use TicketState as S;
        for s in TicketState::ALL {
            let expected = match s {
                S::Resolved | S::Closed | S::Cancelled | S::Suspended => None,
                _ => Some(S::Resolved),
            };
            assert_eq!(s.next(Action::SupplyRestored), expected, "{s}");
        }
    }
}
