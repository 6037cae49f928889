//! R-TKT-3 as a property, driven over real gRPC: random command sequences
//! against one server, checked after every command against a small
//! reference model of the lifecycle graph written here (independently of
//! `fieldops::domain`), together with the R-TKT-12 audit trail.
//!
//! One server runs on a dedicated multi-thread runtime for the whole test;
//! proptest's closure is synchronous and enters it with `block_on`. Each case
//! starts from a fresh ticket.
mod common;

use common::*;
use fieldops::grpc::pb;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tonic::{Code, Status};

// ---------------------------------------------------------------------------
// Commands.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crew {
    C1,
    C2,
}

impl Crew {
    fn sub(self) -> &'static str {
        match self {
            Crew::C1 => "c1",
            Crew::C2 => "c2",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Satisfied,
    UnitFault,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    /// Dispatcher sends the ticket to `north`.
    Dispatch,
    /// A crew member of `north` claims it.
    Claim(Crew),
    /// The crew member holding the ticket (c1 when nobody holds it) returns it.
    ReturnByCrew,
    /// The dispatcher returns it (the approval, R-TKT-5).
    ReturnByDispatcher,
    /// The holder (or c1) agrees a visit time (R-TKT-7).
    Schedule,
    /// The holder (or c1) checks in on site.
    Arrive,
    /// The holder (or c1) completes the repair.
    Complete,
    /// The dispatcher records the call-back (R-TKT-9).
    Revisit(Outcome),
    /// A supervisor issues a notice (R-TKT-10).
    Supervise,
    /// The dispatcher cancels the ticket.
    Cancel,
    /// A supervisor suspends the complaint (R-TKT-16).
    Suspend,
    /// The dispatcher resumes it.
    Resume,
}

fn crew() -> impl Strategy<Value = Crew> {
    prop_oneof![Just(Crew::C1), Just(Crew::C2)]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Satisfied),
        Just(Outcome::UnitFault),
        Just(Outcome::Other)
    ]
}

/// Weighted towards the main path so that sequences reach the later states.
fn command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => Just(Cmd::Dispatch),
        4 => crew().prop_map(Cmd::Claim),
        1 => Just(Cmd::ReturnByCrew),
        1 => Just(Cmd::ReturnByDispatcher),
        1 => Just(Cmd::Schedule),
        3 => Just(Cmd::Arrive),
        3 => Just(Cmd::Complete),
        3 => outcome().prop_map(Cmd::Revisit),
        2 => Just(Cmd::Supervise),
        1 => Just(Cmd::Cancel),
        1 => Just(Cmd::Suspend),
        2 => Just(Cmd::Resume),
    ]
}

/// Every command, for picking one the model allows.
const ALL_COMMANDS: [Cmd; 15] = [
    Cmd::Dispatch,
    Cmd::Claim(Crew::C1),
    Cmd::Claim(Crew::C2),
    Cmd::ReturnByCrew,
    Cmd::ReturnByDispatcher,
    Cmd::Schedule,
    Cmd::Arrive,
    Cmd::Complete,
    Cmd::Revisit(Outcome::Satisfied),
    Cmd::Revisit(Outcome::UnitFault),
    Cmd::Revisit(Outcome::Other),
    Cmd::Supervise,
    Cmd::Cancel,
    Cmd::Suspend,
    Cmd::Resume,
];

/// The forward path of R-TKT-3 (and re-dispatch from the side paths).
fn is_main_path(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Dispatch | Cmd::Claim(_) | Cmd::Arrive | Cmd::Complete | Cmd::Revisit(_)
    )
}

/// How a step chooses its command.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// A main-path command the model allows (else any it allows).
    Forward,
    /// Any command the model allows.
    Allowed,
    /// `raw`, allowed or not.
    Raw,
}

/// One step of a case. Uniformly random commands mostly bounce off a NEW
/// ticket or cancel it early, so most steps pick (with `pick`) a command the
/// model allows, preferring the main path; the rest send `raw`.
#[derive(Clone, Copy, Debug)]
struct Step {
    mode: Mode,
    pick: usize,
    raw: Cmd,
}

impl Step {
    fn command(&self, model: &Model) -> Cmd {
        let allowed: Vec<Cmd> = ALL_COMMANDS
            .into_iter()
            .filter(|c| matches!(model.clone().apply(*c), Verdict::Accept(_)))
            .collect();
        let forward: Vec<Cmd> = allowed
            .iter()
            .copied()
            .filter(|c| is_main_path(*c))
            .collect();
        let choices = match self.mode {
            Mode::Forward if !forward.is_empty() => forward,
            Mode::Forward | Mode::Allowed => allowed,
            Mode::Raw => vec![],
        };
        if choices.is_empty() {
            self.raw
        } else {
            choices[self.pick % choices.len()]
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    let mode = prop_oneof![
        5 => Just(Mode::Forward),
        3 => Just(Mode::Allowed),
        2 => Just(Mode::Raw),
    ];
    (mode, 0..64usize, command()).prop_map(|(mode, pick, raw)| Step { mode, pick, raw })
}

#[derive(Clone, Debug)]
struct Case {
    /// INDOOR_MEASUREMENT allows appointments; BUILDING_NO_HEAT does not.
    appointments: bool,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), proptest::collection::vec(step(), 1..12)).prop_map(|(appointments, steps)| {
        Case {
            appointments,
            steps,
        }
    })
}

// ---------------------------------------------------------------------------
// The reference model of R-TKT-3 (DOMAIN.md section 2).
// ---------------------------------------------------------------------------

/// The 10 states of R-TKT-3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    New,
    Dispatched,
    Claimed,
    OnSite,
    Resolved,
    Closed,
    Returned,
    Supervised,
    Cancelled,
    Suspended,
}

impl St {
    fn from_pb(v: i32) -> Option<St> {
        Some(match pb::TicketState::try_from(v).ok()? {
            pb::TicketState::New => St::New,
            pb::TicketState::Dispatched => St::Dispatched,
            pb::TicketState::Claimed => St::Claimed,
            pb::TicketState::OnSite => St::OnSite,
            pb::TicketState::Resolved => St::Resolved,
            pb::TicketState::Closed => St::Closed,
            pb::TicketState::Returned => St::Returned,
            pb::TicketState::Supervised => St::Supervised,
            pb::TicketState::Cancelled => St::Cancelled,
            pb::TicketState::Suspended => St::Suspended,
            pb::TicketState::Unspecified => return None,
        })
    }
}

/// How the server must refuse a command the model forbids.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// FAILED_PRECONDITION, PERMISSION_DENIED or ABORTED (which one depends
    /// on the order of the server's access and graph checks), or NOT_FOUND
    /// when the ticket is outside the caller's scope (a crew member and a
    /// ticket of no unit or another: to him it does not exist).
    Any,
    /// Exactly this code and ErrorInfo reason.
    Exact(Code, &'static str),
}

#[derive(Clone, Copy, Debug)]
enum Verdict {
    /// Accepted: one event of this kind.
    Accept(&'static str),
    Refuse(Refusal),
}

/// R-TKT-3: a transition not in the graph is FAILED_PRECONDITION.
const NOT_IN_GRAPH: Refusal = Refusal::Exact(Code::FailedPrecondition, "INVALID_TRANSITION");

#[derive(Clone, Debug)]
struct Model {
    state: St,
    unit: Option<&'static str>,
    holder: Option<&'static str>,
    appointments: bool,
    /// R-TKT-16: the state a suspended ticket left.
    left: Option<St>,
    /// Kinds of the events the ticket must have, oldest first.
    kinds: Vec<&'static str>,
}

impl Model {
    fn new(appointments: bool) -> Model {
        Model {
            state: St::New,
            unit: None,
            holder: None,
            appointments,
            left: None,
            kinds: vec!["CREATED"],
        }
    }

    /// The crew member who sends a crew command: the holder, else c1.
    fn crew_actor(&self) -> &'static str {
        self.holder.unwrap_or("c1")
    }

    /// Decide `cmd`; on acceptance move to the next state.
    fn apply(&mut self, cmd: Cmd) -> Verdict {
        use St::*;
        let verdict = match (cmd, self.state) {
            // R-TKT-16: suspended from any open state, back to the state it
            // left; while suspended nothing else moves the ticket (a crew
            // command may also be refused for the crew's reasons).
            (
                Cmd::Suspend,
                New | Dispatched | Claimed | OnSite | Resolved | Returned | Supervised,
            ) => {
                self.left = Some(self.state);
                self.state = Suspended;
                Verdict::Accept("SUSPENDED")
            }
            (Cmd::Suspend, _) => Verdict::Refuse(NOT_IN_GRAPH),
            (Cmd::Resume, Suspended) => {
                self.state = self.left.take().expect("left when suspended");
                Verdict::Accept("RESUMED")
            }
            (Cmd::Resume, _) => Verdict::Refuse(NOT_IN_GRAPH),
            (
                Cmd::Claim(_) | Cmd::ReturnByCrew | Cmd::Schedule | Cmd::Arrive | Cmd::Complete,
                Suspended,
            ) => Verdict::Refuse(Refusal::Any),
            (_, Suspended) => Verdict::Refuse(NOT_IN_GRAPH),
            // Dispatch (or re-dispatch) to north; any named crew is cleared.
            (Cmd::Dispatch, New | Dispatched | Returned | Supervised) => {
                self.state = Dispatched;
                self.unit = Some("north");
                self.holder = None;
                Verdict::Accept("DISPATCHED")
            }
            (Cmd::Dispatch, _) => Verdict::Refuse(NOT_IN_GRAPH),

            // R-TKT-4: exclusive claim; a second claim is "already claimed".
            (Cmd::Claim(_), Claimed | OnSite) => {
                Verdict::Refuse(Refusal::Exact(Code::Aborted, "TICKET_ALREADY_CLAIMED"))
            }
            (Cmd::Claim(c), Dispatched)
                if self.unit == Some("north") && self.holder.is_none_or(|h| h == c.sub()) =>
            {
                self.state = Claimed;
                self.holder = Some(c.sub());
                Verdict::Accept("CLAIMED")
            }
            (Cmd::Claim(_), _) => Verdict::Refuse(Refusal::Any),

            // R-TKT-5: the crew returns before arrival, within the window
            // (the test clock never moves, so always within); the holder
            // himself when the ticket is claimed.
            (Cmd::ReturnByCrew, Dispatched | Claimed) => self.returned(),
            (Cmd::ReturnByCrew, OnSite) => Verdict::Refuse(Refusal::Exact(
                Code::FailedPrecondition,
                "RETURN_WINDOW_CLOSED",
            )),
            (Cmd::ReturnByCrew, _) => Verdict::Refuse(Refusal::Any),
            (Cmd::ReturnByDispatcher, Dispatched | Claimed | OnSite) => self.returned(),
            (Cmd::ReturnByDispatcher, _) => Verdict::Refuse(NOT_IN_GRAPH),

            // R-TKT-7: only while claimed, only where the policy allows it.
            (Cmd::Schedule, Claimed) if self.appointments => {
                Verdict::Accept("APPOINTMENT_SCHEDULED")
            }
            (Cmd::Schedule, Claimed) => Verdict::Refuse(Refusal::Exact(
                Code::FailedPrecondition,
                "APPOINTMENT_NOT_ALLOWED",
            )),
            (Cmd::Schedule, _) => Verdict::Refuse(Refusal::Any),

            (Cmd::Arrive, Claimed) => {
                self.state = OnSite;
                Verdict::Accept("ARRIVED")
            }
            (Cmd::Arrive, _) => Verdict::Refuse(Refusal::Any),

            (Cmd::Complete, OnSite) => {
                self.state = Resolved;
                Verdict::Accept("RESOLVED")
            }
            (Cmd::Complete, _) => Verdict::Refuse(Refusal::Any),

            // R-TKT-9: unit fault reopens as SUPERVISED (same unit, crew
            // released); otherwise the ticket is closed.
            (Cmd::Revisit(Outcome::UnitFault), Resolved) => {
                self.state = Supervised;
                self.holder = None;
                Verdict::Accept("REVISITED")
            }
            (Cmd::Revisit(Outcome::Satisfied | Outcome::Other), Resolved) => {
                self.state = Closed;
                Verdict::Accept("REVISITED")
            }
            (Cmd::Revisit(_), _) => Verdict::Refuse(NOT_IN_GRAPH),

            // R-TKT-10: a notice reopens a finished ticket (crew released),
            // leaves one still being worked on where it is; never a cancelled one.
            (Cmd::Supervise, Resolved | Closed) => {
                self.state = Supervised;
                self.holder = None;
                Verdict::Accept("SUPERVISED")
            }
            (Cmd::Supervise, Cancelled) => Verdict::Refuse(NOT_IN_GRAPH),
            (Cmd::Supervise, _) => Verdict::Accept("SUPERVISED"),

            // Cancel: not once the crew is on site or the work is done.
            (Cmd::Cancel, New | Dispatched | Claimed | Returned | Supervised) => {
                self.state = Cancelled;
                Verdict::Accept("CANCELLED")
            }
            (Cmd::Cancel, _) => Verdict::Refuse(NOT_IN_GRAPH),
        };
        if let Verdict::Accept(kind) = verdict {
            self.kinds.push(kind);
        }
        verdict
    }

    /// Back to dispatch: no unit, no holder.
    fn returned(&mut self) -> Verdict {
        self.state = St::Returned;
        self.unit = None;
        self.holder = None;
        Verdict::Accept("RETURNED")
    }
}

// ---------------------------------------------------------------------------
// Driving the server.
// ---------------------------------------------------------------------------

struct Clients {
    dispatcher: Client,
    supervisor: Client,
    c1: Client,
    c2: Client,
}

impl Clients {
    fn crew(&self, sub: &str) -> Client {
        match sub {
            "c1" => self.c1.clone(),
            "c2" => self.c2.clone(),
            other => unreachable!("no client for {other}"),
        }
    }
}

/// Send `cmd` as the model says who sends it.
async fn send(
    app: &TestApp,
    clients: &Clients,
    model: &Model,
    id: &str,
    cmd: Cmd,
) -> Result<pb::Ticket, Status> {
    let ticket_id = id.to_string();
    let mut d = clients.dispatcher.clone();
    let mut crew = clients.crew(model.crew_actor());
    let r = match cmd {
        Cmd::Dispatch => {
            d.dispatch_ticket(pb::DispatchTicketRequest {
                request_id: rid(),
                ticket_id,
                unit: "north".into(),
                ..Default::default()
            })
            .await
        }
        Cmd::Claim(c) => {
            clients
                .crew(c.sub())
                .claim_ticket(pb::ClaimTicketRequest {
                    request_id: rid(),
                    ticket_id,
                    ..Default::default()
                })
                .await
        }
        Cmd::ReturnByCrew | Cmd::ReturnByDispatcher => {
            let client = if cmd == Cmd::ReturnByCrew {
                &mut crew
            } else {
                &mut d
            };
            client
                .return_ticket(pb::ReturnTicketRequest {
                    request_id: rid(),
                    ticket_id,
                    reason: "not our duty".into(),
                    ..Default::default()
                })
                .await
        }
        Cmd::Schedule => {
            crew.schedule_appointment(pb::ScheduleAppointmentRequest {
                request_id: rid(),
                ticket_id,
                appointment_time: Some(ts(app.now() + chrono::Duration::hours(1))),
                ..Default::default()
            })
            .await
        }
        Cmd::Arrive => {
            crew.record_arrival(pb::RecordArrivalRequest {
                request_id: rid(),
                ticket_id,
                location: point(HOME.0, HOME.1),
                accuracy_m: 5.0,
                ..Default::default()
            })
            .await
        }
        Cmd::Complete => {
            crew.complete_repair(pb::CompleteRepairRequest {
                request_id: rid(),
                ticket_id,
                resolution: resolution(),
                ..Default::default()
            })
            .await
        }
        Cmd::Revisit(o) => {
            let outcome = match o {
                Outcome::Satisfied => pb::RevisitOutcome::Satisfied,
                Outcome::UnitFault => pb::RevisitOutcome::NotSatisfiedUnitFault,
                Outcome::Other => pb::RevisitOutcome::NotSatisfiedOther,
            };
            d.record_revisit(pb::RecordRevisitRequest {
                request_id: rid(),
                ticket_id,
                outcome: outcome as i32,
                notes: "call-back".into(),
                ..Default::default()
            })
            .await
        }
        Cmd::Supervise => {
            clients
                .supervisor
                .clone()
                .supervise(pb::SuperviseRequest {
                    request_id: rid(),
                    ticket_id,
                    notice: "written notice".into(),
                    resolve_within: Some(dur(chrono::Duration::hours(24))),
                    ..Default::default()
                })
                .await
        }
        Cmd::Cancel => {
            d.cancel_ticket(pb::CancelTicketRequest {
                request_id: rid(),
                ticket_id,
                reason: "duplicate".into(),
                ..Default::default()
            })
            .await
        }
        Cmd::Suspend => {
            clients
                .supervisor
                .clone()
                .suspend_ticket(pb::SuspendTicketRequest {
                    request_id: rid(),
                    ticket_id,
                    reason: "unreasonable demands".into(),
                    ..Default::default()
                })
                .await
        }
        Cmd::Resume => {
            d.resume_ticket(pb::ResumeTicketRequest {
                request_id: rid(),
                ticket_id,
                ..Default::default()
            })
            .await
        }
    };
    r.map(|r| r.into_inner())
}

fn reason_of(s: &Status) -> String {
    use tonic_types::StatusExt;
    s.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// One case: a fresh ticket, then every command checked against the model.
async fn run_case(
    app: &TestApp,
    clients: &Clients,
    case: &Case,
    seen: &Mutex<BTreeMap<String, usize>>,
) -> Result<(), TestCaseError> {
    let category = if case.appointments {
        "INDOOR_MEASUREMENT"
    } else {
        "BUILDING_NO_HEAT"
    };
    let mut d = clients.dispatcher.clone();
    // A complaint, so that it may be suspended (R-TKT-16).
    let req = pb::CreateTicketRequest {
        r#type: pb::TicketType::Complaint as i32,
        ..create_req(category)
    };
    let t = d
        .create_ticket(req)
        .await
        .map_err(|s| TestCaseError::fail(format!("create failed: {s:?}")))?
        .into_inner();
    let id = t.id.clone();
    let mut model = Model::new(case.appointments);
    let mut accepted = 0i64;

    for (step, s) in case.steps.iter().enumerate() {
        let cmd = s.command(&model);
        let before = model.clone();
        let verdict = model.apply(cmd);
        let result = send(app, clients, &before, &id, cmd).await;
        let at = format!("step {step} {cmd:?} from {:?}", before.state);
        let label = match verdict {
            Verdict::Accept(kind) => format!("{kind} -> {:?}", model.state),
            Verdict::Refuse(_) => format!("refused {cmd:?} in {:?}", before.state),
        };
        *seen.lock().unwrap().entry(label).or_default() += 1;
        match (verdict, &result) {
            (Verdict::Accept(_), Ok(r)) => {
                accepted += 1;
                prop_assert_eq!(
                    St::from_pb(r.state),
                    Some(model.state),
                    "{}: response state",
                    at
                );
                prop_assert_eq!(r.version, 1 + accepted, "{}: response version", at);
            }
            (Verdict::Accept(_), Err(s)) => {
                return Err(TestCaseError::fail(format!(
                    "{at}: the model accepts, the server refused: {s:?}"
                )));
            }
            (Verdict::Refuse(_), Ok(r)) => {
                return Err(TestCaseError::fail(format!(
                    "{at}: the model refuses, the server accepted -> {:?}",
                    St::from_pb(r.state)
                )));
            }
            (Verdict::Refuse(refusal), Err(s)) => {
                // Never INTERNAL / UNKNOWN: a refusal is a rule saying no.
                prop_assert!(
                    matches!(
                        s.code(),
                        Code::FailedPrecondition
                            | Code::PermissionDenied
                            | Code::Aborted
                            | Code::NotFound
                    ),
                    "{}: refusal with code {:?}: {:?}",
                    at,
                    s.code(),
                    s
                );
                if let Refusal::Exact(code, reason) = refusal {
                    prop_assert_eq!(s.code(), code, "{}: {:?}", at, s);
                    prop_assert_eq!(reason_of(s), reason, "{}: {:?}", at, s);
                }
            }
        }

        // The stored ticket equals the model.
        let now = d
            .get_ticket(pb::GetTicketRequest {
                ticket_id: id.clone(),
            })
            .await
            .map_err(|s| TestCaseError::fail(format!("{at}: GetTicket failed: {s:?}")))?
            .into_inner();
        let state = St::from_pb(now.state);
        prop_assert!(
            state.is_some(),
            "{}: not an R-TKT-3 state: {}",
            at,
            now.state
        );
        prop_assert_eq!(state, Some(model.state), "{}: state", at);
        prop_assert_eq!(now.version, 1 + accepted, "{}: version", at);
        prop_assert_eq!(now.unit.as_str(), model.unit.unwrap_or(""), "{}: unit", at);
        prop_assert_eq!(
            now.assignee.as_str(),
            model.holder.unwrap_or(""),
            "{}: holder",
            at
        );
        if let Ok(r) = &result {
            prop_assert_eq!(
                r.version,
                now.version,
                "{}: response is the stored version",
                at
            );
        }

        // R-TKT-12: one event per accepted command, none lost or doubled.
        let page = d
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: id.clone(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .map_err(|s| TestCaseError::fail(format!("{at}: ListTicketEvents failed: {s:?}")))?
            .into_inner();
        prop_assert!(page.next_page_token.is_empty());
        let ev = page.events;
        prop_assert_eq!(ev.len() as i64, 1 + accepted, "{}: event count", at);
        let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
        prop_assert_eq!(&kinds, &model.kinds, "{}: event kinds", at);
        for (i, e) in ev.iter().enumerate() {
            prop_assert_eq!(e.ticket_version, i as i64 + 1, "{}: event versions", at);
            prop_assert_eq!(&e.ticket_id, &id);
            prop_assert!(St::from_pb(e.to_state).is_some(), "{}: event to_state", at);
            if i == 0 {
                prop_assert_eq!(e.from_state, pb::TicketState::Unspecified as i32);
                prop_assert_eq!(e.to_state, pb::TicketState::New as i32);
            } else {
                prop_assert_eq!(
                    e.from_state,
                    ev[i - 1].to_state,
                    "{}: event {} does not start where event {} ended",
                    at,
                    i,
                    i - 1
                );
                prop_assert!(e.sequence > ev[i - 1].sequence, "{}: sequence order", at);
            }
        }
        prop_assert_eq!(
            St::from_pb(ev.last().unwrap().to_state),
            Some(model.state),
            "{}: last event's to_state",
            at
        );
    }
    Ok(())
}

#[test]
fn r_tkt_3_random_command_sequences_follow_the_graph() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_app());
    let clients = rt.block_on(async {
        Clients {
            dispatcher: app.dispatcher().await,
            supervisor: app.supervisor().await,
            c1: app.crew("c1", "north").await,
            c2: app.crew("c2", "north").await,
        }
    });

    // A modest number of cases (each is a dozen round trips); PROPTEST_CASES
    // overrides it for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let config = Config {
        cases,
        max_shrink_iters: 200,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let seen = Mutex::new(BTreeMap::new());
    let result = runner.run(&case(), |case| {
        rt.block_on(run_case(&app, &clients, &case, &seen))
    });
    rt.block_on(app.stop());
    // What the run exercised (shown with --nocapture).
    for (label, n) in seen.into_inner().unwrap() {
        eprintln!("{n:5}  {label}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The model itself on the main path and a few side paths, so a mistake in
/// the model is not mistaken for a server bug.
#[test]
fn the_model_follows_domain_md() {
    let mut m = Model::new(true);
    for (cmd, want) in [
        (Cmd::Dispatch, St::Dispatched),
        (Cmd::Claim(Crew::C1), St::Claimed),
        (Cmd::Schedule, St::Claimed),
        (Cmd::Arrive, St::OnSite),
        (Cmd::Complete, St::Resolved),
        (Cmd::Revisit(Outcome::Satisfied), St::Closed),
        (Cmd::Supervise, St::Supervised),
        (Cmd::Dispatch, St::Dispatched),
        (Cmd::ReturnByCrew, St::Returned),
        (Cmd::Cancel, St::Cancelled),
    ] {
        assert!(matches!(m.apply(cmd), Verdict::Accept(_)), "{cmd:?}");
        assert_eq!(m.state, want, "{cmd:?}");
    }
    assert!(matches!(m.apply(Cmd::Supervise), Verdict::Refuse(_)));
    assert!(matches!(m.apply(Cmd::Dispatch), Verdict::Refuse(_)));
    let mut m = Model::new(false);
    m.apply(Cmd::Dispatch);
    m.apply(Cmd::Claim(Crew::C2));
    assert!(matches!(
        m.apply(Cmd::Claim(Crew::C1)),
        Verdict::Refuse(Refusal::Exact(Code::Aborted, _))
    ));
    assert!(matches!(m.apply(Cmd::Schedule), Verdict::Refuse(_)));
    assert_eq!(m.crew_actor(), "c2");
    m.apply(Cmd::Arrive);
    assert!(matches!(m.apply(Cmd::Cancel), Verdict::Refuse(_)));
    assert!(matches!(m.apply(Cmd::ReturnByCrew), Verdict::Refuse(_)));
    assert!(matches!(
        m.apply(Cmd::ReturnByDispatcher),
        Verdict::Accept(_)
    ));
    assert_eq!((m.unit, m.holder), (None, None));
    // R-TKT-16: suspended and back to where it was; nothing else meanwhile.
    let mut m = Model::new(false);
    m.apply(Cmd::Dispatch);
    assert!(matches!(m.apply(Cmd::Resume), Verdict::Refuse(_)));
    assert!(matches!(
        m.apply(Cmd::Suspend),
        Verdict::Accept("SUSPENDED")
    ));
    assert!(matches!(m.apply(Cmd::Suspend), Verdict::Refuse(_)));
    assert!(matches!(m.apply(Cmd::Supervise), Verdict::Refuse(_)));
    assert!(matches!(m.apply(Cmd::Claim(Crew::C1)), Verdict::Refuse(_)));
    assert!(matches!(m.apply(Cmd::Resume), Verdict::Accept("RESUMED")));
    assert_eq!(m.state, St::Dispatched);
}
