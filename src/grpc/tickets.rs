//! TicketService handlers: decode -> service -> encode.
use super::auth::{caller, push_mark};
use super::convert::{self as cv, meta};
use super::pb::{self, ticket_service_server::TicketService as Api};
use crate::domain::ticket::CheckIn;
use crate::service::TicketService;
use crate::storage::tickets::TicketFilter;
use prost::Message;
use tonic::{Request, Response, Status};

pub struct TicketApi {
    svc: TicketService,
}

impl TicketApi {
    pub fn new(svc: TicketService) -> TicketApi {
        TicketApi { svc }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for TicketApi {
    async fn create_ticket(&self, req: Request<pb::CreateTicketRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta("CreateTicket", &m, &m.request_id, 0, "")?.with_push(push);
        let t = self.svc.create(&who, meta, cv::new_ticket(&m)?).await?;
        Ok(Response::new(cv::ticket(&t, &who)))
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
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let filter = TicketFilter {
            state: cv::state_filter(m.state)?,
            unit: non_empty(&m.unit),
            assignee: non_empty(&m.assignee),
            priority: non_empty(&m.priority),
            breached: m.breached,
            updated_after: cv::time(m.updated_after.as_ref(), "updated_after")?,
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
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta =
            meta("DispatchTicket", &m, &m.request_id, m.expected_version, "")?.with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let unit = m.unit.trim().to_string();
        if unit.is_empty() {
            return Err(crate::error::AppError::missing("unit").into());
        }
        let assignee = (!m.assignee.trim().is_empty()).then(|| m.assignee.trim().to_string());
        let t = self.svc.dispatch(&who, meta, id, unit, assignee).await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn claim_ticket(&self, req: Request<pb::ClaimTicketRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "ClaimTicket",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self.svc.claim(&who, meta, id, at).await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn return_ticket(&self, req: Request<pb::ReturnTicketRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "ReturnTicket",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self
            .svc
            .return_ticket(&who, meta, id, m.reason.trim().to_string(), at)
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn schedule_appointment(
        &self,
        req: Request<pb::ScheduleAppointmentRequest>,
    ) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "ScheduleAppointment",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let when = cv::required_time(m.appointment_time.as_ref(), "appointment_time")?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self
            .svc
            .schedule_appointment(&who, meta, id, when, at)
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn record_arrival(&self, req: Request<pb::RecordArrivalRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "RecordArrival",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let location = cv::geo_point(m.location.as_ref(), "location")?
            .ok_or_else(|| crate::error::AppError::missing("location"))?;
        let accuracy = cv::accuracy(m.accuracy_m)?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self
            .svc
            .arrive(
                &who,
                meta,
                id,
                CheckIn {
                    location,
                    accuracy_m: accuracy,
                    pipe_diameter_mm: m.pipe_diameter_mm,
                    occurred_at: at,
                },
            )
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn complete_repair(&self, req: Request<pb::CompleteRepairRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "CompleteRepair",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let resolution = cv::resolution(m.resolution.as_ref())?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self.svc.complete(&who, meta, id, resolution, at).await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn request_extension(
        &self,
        req: Request<pb::RequestExtensionRequest>,
    ) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta(
            "RequestExtension",
            &m,
            &m.request_id,
            m.expected_version,
            &m.device_id,
        )?
        .with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let extend_by =
            cv::required_duration(m.extend_by.as_ref(), "extend_by", cv::LONGEST_DURATION)?;
        let at = cv::time(m.occurred_at.as_ref(), "occurred_at")?;
        let t = self
            .svc
            .request_extension(&who, meta, id, m.reason.trim().to_string(), extend_by, at)
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn decide_extension(
        &self,
        req: Request<pb::DecideExtensionRequest>,
    ) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta =
            meta("DecideExtension", &m, &m.request_id, m.expected_version, "")?.with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let t = self
            .svc
            .decide_extension(&who, meta, id, m.approve, m.note.clone())
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn record_revisit(&self, req: Request<pb::RecordRevisitRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta =
            meta("RecordRevisit", &m, &m.request_id, m.expected_version, "")?.with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let outcome = cv::revisit_outcome(m.outcome)?;
        let t = self
            .svc
            .record_revisit(&who, meta, id, outcome, m.notes.clone())
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn supervise(&self, req: Request<pb::SuperviseRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta("Supervise", &m, &m.request_id, m.expected_version, "")?.with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let within = cv::required_duration(
            m.resolve_within.as_ref(),
            "resolve_within",
            cv::LONGEST_DURATION,
        )?;
        let t = self
            .svc
            .supervise(&who, meta, id, m.notice.trim().to_string(), within)
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
    }

    async fn cancel_ticket(&self, req: Request<pb::CancelTicketRequest>) -> Reply<pb::Ticket> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta("CancelTicket", &m, &m.request_id, m.expected_version, "")?.with_push(push);
        let id = cv::id(&m.ticket_id, "ticket_id")?;
        let t = self
            .svc
            .cancel(&who, meta, id, m.reason.trim().to_string())
            .await?;
        Ok(Response::new(cv::ticket(&t, &who)))
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
                cv::event(e).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListTicketEventsResponse {
            events: page.items.iter().map(cv::event).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
