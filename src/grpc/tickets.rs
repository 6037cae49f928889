//! TicketService handlers: decode -> service -> encode.
use super::auth::caller;
use super::convert as cv;
use super::mutation::{MutationRequest, run};
use super::pb::{self, ticket_service_server::TicketService as Api};
use crate::domain::Method;
use crate::domain::ticket::{CheckIn, Correction, address_key};
use crate::error::{AppError, AppResult};
use crate::service::TicketService;
use crate::service::command::{Command, Commands};
use crate::storage::tickets::TicketFilter;
use prost::Message;
use tonic::{Request, Response, Status};

pub struct TicketApi {
    svc: TicketService,
    commands: Commands,
}

impl TicketApi {
    pub fn new(svc: TicketService, commands: Commands) -> TicketApi {
        TicketApi { svc, commands }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for TicketApi {
    async fn create_ticket(&self, req: Request<pb::CreateTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn get_ticket(&self, req: Request<pb::GetTicketRequest>) -> Reply<pb::Ticket> {
        let who = caller(&req)?;
        let id = cv::id(&req.get_ref().ticket_id, "ticket_id")?;
        let t = self.svc.get(&who, id).await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn list_tickets(
        &self,
        req: Request<pb::ListTicketsRequest>,
    ) -> Reply<pb::ListTicketsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let filter = TicketFilter {
            state: cv::state_filter(m.state)?,
            unit: non_empty(&m.unit),
            assignee: non_empty(&m.assignee),
            priority: non_empty(&m.priority),
            ticket_type: cv::ticket_type(m.r#type, "type")?,
            breached: m.breached,
            updated_after: cv::time(m.updated_after.as_ref(), "updated_after")?,
            caller_key: cv::phone_digits(&m.caller_phone)?,
            address_text: non_empty(&m.address).map(|a| address_key(&a)),
            category: non_empty(&m.category),
            source: cv::source_filter(m.source)?,
            platform_reference: non_empty(&m.platform_reference),
            district: non_empty(m.district.trim()),
            received_after: cv::time(m.received_after.as_ref(), "received_after")?,
            received_before: cv::time(m.received_before.as_ref(), "received_before")?,
            recused_sub: None,
        };
        let page = self
            .svc
            .list(&who, filter, m.page_size, &m.page_token, |t| {
                cv::ticket(t, &who).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: page.items.iter().map(|t| cv::ticket(t, &who)).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn dispatch_ticket(&self, req: Request<pb::DispatchTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn claim_ticket(&self, req: Request<pb::ClaimTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn return_ticket(&self, req: Request<pb::ReturnTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn schedule_appointment(
        &self,
        req: Request<pb::ScheduleAppointmentRequest>,
    ) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn record_arrival(&self, req: Request<pb::RecordArrivalRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn complete_repair(&self, req: Request<pb::CompleteRepairRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn request_extension(
        &self,
        req: Request<pb::RequestExtensionRequest>,
    ) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn decide_extension(
        &self,
        req: Request<pb::DecideExtensionRequest>,
    ) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn record_revisit(&self, req: Request<pb::RecordRevisitRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn supervise(&self, req: Request<pb::SuperviseRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn correct_ticket(&self, req: Request<pb::CorrectTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn cancel_ticket(&self, req: Request<pb::CancelTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn record_contact(&self, req: Request<pb::RecordContactRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn suspend_ticket(&self, req: Request<pb::SuspendTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn resume_ticket(&self, req: Request<pb::ResumeTicketRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn recuse_staff(&self, req: Request<pb::RecuseStaffRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn flag_major(&self, req: Request<pb::FlagMajorRequest>) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn approve_long_matter(
        &self,
        req: Request<pb::ApproveLongMatterRequest>,
    ) -> Reply<pb::Ticket> {
        run(&self.commands, req).await
    }

    async fn list_ticket_events(
        &self,
        req: Request<pb::ListTicketEventsRequest>,
    ) -> Reply<pb::ListTicketEventsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let page = self
            .svc
            .list_events(&who, id, m.page_size, &m.page_token, |e| {
                cv::listed_event(e).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListTicketEventsResponse {
            events: page.items.iter().map(cv::listed_event).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}

/// Trimmed text; None when empty.
fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

impl MutationRequest for pb::CreateTicketRequest {
    const METHOD: Method = Method::CreateTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::CreateTicket(cv::new_ticket(self)?))
    }
}

impl MutationRequest for pb::DispatchTicketRequest {
    const METHOD: Method = Method::DispatchTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::DispatchTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            unit: non_empty(&self.unit).ok_or_else(|| AppError::missing("unit"))?,
            assignee: non_empty(&self.assignee),
        })
    }
}

impl MutationRequest for pb::ClaimTicketRequest {
    const METHOD: Method = Method::ClaimTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ClaimTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::ReturnTicketRequest {
    const METHOD: Method = Method::ReturnTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ReturnTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            reason: self.reason.trim().to_string(),
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::ScheduleAppointmentRequest {
    const METHOD: Method = Method::ScheduleAppointment;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ScheduleAppointment {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            appointment_at: cv::required_time(self.appointment_time.as_ref(), "appointment_time")?,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::RecordArrivalRequest {
    const METHOD: Method = Method::RecordArrival;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        let ticket = cv::id(&self.ticket_id, "ticket_id")?;
        let location = cv::geo_point(self.location.as_ref(), "location")?
            .ok_or_else(|| AppError::missing("location"))?;
        Ok(Command::RecordArrival {
            ticket,
            check_in: CheckIn {
                location,
                accuracy_m: cv::accuracy(self.accuracy_m)?,
                pipe_diameter_mm: self.pipe_diameter_mm,
                occurred_at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
            },
        })
    }
}

impl MutationRequest for pb::CompleteRepairRequest {
    const METHOD: Method = Method::CompleteRepair;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::CompleteRepair {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            resolution: cv::resolution(self.resolution.as_ref())?,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::RequestExtensionRequest {
    const METHOD: Method = Method::RequestExtension;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        let ticket = cv::id(&self.ticket_id, "ticket_id")?;
        let extend_by =
            cv::required_duration(self.extend_by.as_ref(), "extend_by", cv::LONGEST_DURATION)?;
        Ok(Command::RequestExtension {
            ticket,
            reason: self.reason.trim().to_string(),
            extend_by,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::DecideExtensionRequest {
    const METHOD: Method = Method::DecideExtension;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::DecideExtension {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            approve: self.approve,
            note: self.note.clone(),
        })
    }
}

impl MutationRequest for pb::RecordRevisitRequest {
    const METHOD: Method = Method::RecordRevisit;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecordRevisit {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            outcome: cv::revisit_outcome(self.outcome)?,
            notes: self.notes.clone(),
        })
    }
}

impl MutationRequest for pb::SuperviseRequest {
    const METHOD: Method = Method::Supervise;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        let ticket = cv::id(&self.ticket_id, "ticket_id")?;
        let resolve_within = cv::required_duration(
            self.resolve_within.as_ref(),
            "resolve_within",
            cv::LONGEST_DURATION,
        )?;
        Ok(Command::Supervise {
            ticket,
            notice: self.notice.trim().to_string(),
            resolve_within,
        })
    }
}

impl MutationRequest for pb::CorrectTicketRequest {
    const METHOD: Method = Method::CorrectTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Command::CorrectTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            correction: Correction {
                address: text(&self.address),
                location: cv::geo_point(self.location.as_ref(), "location")?,
                district: text(&self.district),
                category: text(&self.category),
                reason: self.reason.trim().to_string(),
            },
        })
    }
}

impl MutationRequest for pb::CancelTicketRequest {
    const METHOD: Method = Method::CancelTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::CancelTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            reason: self.reason.trim().to_string(),
        })
    }
}

impl MutationRequest for pb::RecordContactRequest {
    const METHOD: Method = Method::RecordContact;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecordContact {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            contact: cv::new_contact(self)?,
        })
    }
}

impl MutationRequest for pb::SuspendTicketRequest {
    const METHOD: Method = Method::SuspendTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::SuspendTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            reason: self.reason.trim().to_string(),
        })
    }
}

impl MutationRequest for pb::ResumeTicketRequest {
    const METHOD: Method = Method::ResumeTicket;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ResumeTicket {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            note: self.note.trim().to_string(),
        })
    }
}

impl MutationRequest for pb::RecuseStaffRequest {
    const METHOD: Method = Method::RecuseStaff;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecuseStaff {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            staff: self.staff_id.trim().to_string(),
            reason: self.reason.trim().to_string(),
        })
    }
}

impl MutationRequest for pb::FlagMajorRequest {
    const METHOD: Method = Method::FlagMajor;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        let major = self
            .major
            .as_ref()
            .ok_or_else(|| AppError::missing("major"))?;
        Ok(Command::FlagMajor {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            major: cv::major(major)?,
        })
    }
}

impl MutationRequest for pb::ApproveLongMatterRequest {
    const METHOD: Method = Method::ApproveLongMatter;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ApproveLongMatter {
            ticket: cv::id(&self.ticket_id, "ticket_id")?,
            note: self.note.trim().to_string(),
        })
    }
}
