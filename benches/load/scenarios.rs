//! The requests of each scenario against the real server, as handhelds and
//! dispatch send them: every mutation with a fresh request id, every reading
//! protocol-valid, every reply checked.
use crate::runner::{Op, OpFuture};
use crate::seed::{self, CREW, DISPATCHER, HOME, INSPECTOR, UNIT};
use crate::server::SECRET;
use fieldops::auth::Issuer;
use fieldops::domain::Role;
use fieldops::grpc::{pb, wire};
use pb::inspection_service_client::InspectionServiceClient;
use pb::report_service_client::ReportServiceClient;
use pb::sync_service_client::SyncServiceClient;
use pb::ticket_service_client::TicketServiceClient;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// `authorization: Bearer <JWT>` on every request.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(sub: &str, role: Role, unit: &str) -> Bearer {
        let token = Issuer::new(SECRET.as_bytes(), "fieldops", "fieldops")
            .issue(sub, &[role], unit, chrono::Duration::hours(2))
            .expect("token");
        Bearer(format!("Bearer {token}").parse().expect("ascii token"))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// Ids handed out once each (tickets to claim, to check in on).
pub struct Pool {
    ids: Vec<String>,
    next: AtomicUsize,
    name: &'static str,
}

impl Pool {
    pub fn new(name: &'static str, ids: Vec<Uuid>) -> Arc<Pool> {
        Arc::new(Pool {
            ids: ids.into_iter().map(|i| i.to_string()).collect(),
            next: AtomicUsize::new(0),
            name,
        })
    }

    pub fn take(&self) -> Result<String, String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.ids.get(i).cloned().ok_or_else(|| {
            format!(
                "bench: the {} pool ({} ids) ran out; raise its size",
                self.name,
                self.ids.len()
            )
        })
    }

    /// Round-robin, for ids that may be used many times (visits, reads).
    pub fn cycle(&self) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.ids[i % self.ids.len()].clone()
    }
}

/// Connections and credentials of one scenario.
pub struct Clients {
    pub channels: Vec<Channel>,
    pub crew: Bearer,
    pub inspector: Bearer,
    pub dispatcher: Bearer,
}

impl Clients {
    pub fn new(channels: Vec<Channel>) -> Arc<Clients> {
        Arc::new(Clients {
            channels,
            crew: Bearer::new(CREW, Role::Crew, UNIT),
            inspector: Bearer::new(INSPECTOR, Role::Inspector, UNIT),
            dispatcher: Bearer::new(DISPATCHER, Role::Dispatcher, "hq"),
        })
    }

    fn channel(&self, w: usize) -> Channel {
        self.channels[w % self.channels.len()].clone()
    }

    pub fn tickets(&self, w: usize, who: &Bearer) -> TicketServiceClient<Authed> {
        TicketServiceClient::with_interceptor(self.channel(w), who.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn inspections(&self, w: usize) -> InspectionServiceClient<Authed> {
        InspectionServiceClient::with_interceptor(self.channel(w), self.inspector.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn reports(&self, w: usize) -> ReportServiceClient<Authed> {
        let supervisor = Bearer::new("s1", Role::Supervisor, "hq");
        ReportServiceClient::with_interceptor(self.channel(w), supervisor)
            .max_decoding_message_size(MAX_MESSAGE)
    }

    pub fn sync(&self, w: usize, who: &Bearer) -> SyncServiceClient<Authed> {
        SyncServiceClient::with_interceptor(self.channel(w), who.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }
}

fn rid() -> String {
    Uuid::new_v4().to_string()
}

fn status(what: &str, s: tonic::Status) -> String {
    format!("{what}: {:?} {}", s.code(), s.message())
}

pub async fn claim(c: &Clients, w: usize, pool: &Pool) -> Result<(), String> {
    let id = pool.take()?;
    let t = c
        .tickets(w, &c.crew)
        .claim_ticket(pb::ClaimTicketRequest {
            request_id: rid(),
            ticket_id: id,
            device_id: "handheld-1".into(),
            ..Default::default()
        })
        .await
        .map_err(|s| status("ClaimTicket", s))?
        .into_inner();
    if t.assignee != CREW {
        return Err(format!("ClaimTicket: assignee {:?}", t.assignee));
    }
    Ok(())
}

pub async fn arrive(c: &Clients, w: usize, pool: &Pool) -> Result<(), String> {
    let id = pool.take()?;
    let t = c
        .tickets(w, &c.crew)
        .record_arrival(pb::RecordArrivalRequest {
            request_id: rid(),
            ticket_id: id,
            location: Some(pb::GeoPoint {
                latitude: HOME.0,
                longitude: HOME.1,
            }),
            accuracy_m: 8.0,
            device_id: "handheld-1".into(),
            ..Default::default()
        })
        .await
        .map_err(|s| status("RecordArrival", s))?
        .into_inner();
    if t.arrive_time.is_none() {
        return Err("RecordArrival: no arrive_time".into());
    }
    Ok(())
}

/// A compliant bedroom reading (20.5 °C at the centre, 1.5 m, 09:20-09:32
/// local yesterday, 20 minutes after entering).
pub fn reading_request(visit: String, n: usize) -> pb::RecordRoomReadingRequest {
    let day = seed::reading_day();
    let ts = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: visit,
        reading_id: String::new(),
        room_name: format!("bedroom {}", n % 5 + 1),
        room_type: pb::RoomType::Bedroom as i32,
        open_to_balcony: false,
        started_at: Some(ts(seed::local(day, 9, 20))),
        ended_at: Some(ts(seed::local(day, 9, 32))),
        temperature_c: 20.5,
        height_m: 1.5,
        at_room_centre: true,
        device_id: "handheld-7".into(),
        ..Default::default()
    }
}

pub async fn reading(c: &Clients, w: usize, visits: &Pool) -> Result<(), String> {
    let visit = visits.cycle();
    let r = c
        .inspections(w)
        .record_room_reading(reading_request(visit, w))
        .await
        .map_err(|s| status("RecordRoomReading", s))?
        .into_inner();
    if r.verdict != pb::ReadingVerdict::Compliant as i32 {
        return Err(format!(
            "RecordRoomReading: verdict {} violations {:?}",
            r.verdict, r.violations
        ));
    }
    Ok(())
}

pub async fn get(c: &Clients, w: usize, tickets: &Pool) -> Result<(), String> {
    let id = tickets.cycle();
    let t = c
        .tickets(w, &c.crew)
        .get_ticket(pb::GetTicketRequest {
            ticket_id: id.clone(),
        })
        .await
        .map_err(|s| status("GetTicket", s))?
        .into_inner();
    if t.id != id {
        return Err("GetTicket: another ticket".into());
    }
    Ok(())
}

pub async fn list(c: &Clients, w: usize) -> Result<(), String> {
    let r = c
        .tickets(w, &c.crew)
        .list_tickets(pb::ListTicketsRequest {
            page_size: 20,
            ..Default::default()
        })
        .await
        .map_err(|s| status("ListTickets", s))?
        .into_inner();
    if r.tickets.is_empty() {
        return Err("ListTickets: empty".into());
    }
    Ok(())
}

/// One Pull whose changes stay encoded (`grpc::wire::PullResponse`, the
/// same bytes as `pb::PullResponse`), as the echo-pull baseline keeps its
/// payload: the load generator shares the server's two cores, and turning
/// 10,000 changes into structs is the handheld's work, not the server's.
async fn pull_encoded(
    c: &Clients,
    w: usize,
    req: pb::PullRequest,
) -> Result<wire::PullResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(InterceptedService::new(c.channel(w), c.crew.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/fieldops.v1.SyncService/Pull");
    let codec = tonic_prost::ProstCodec::<pb::PullRequest, wire::PullResponse>::default();
    Ok(grpc
        .unary(tonic::Request::new(req), path, codec)
        .await?
        .into_inner())
}

/// A handheld's full sync: Pull from the empty cursor, page by page, until
/// `has_more` is false; all `expect` changes must arrive. The first change
/// of every page is decoded and checked.
pub async fn pull_all(c: &Clients, w: usize, page: i32, expect: usize) -> Result<(), String> {
    let (mut cursor, mut n) = (String::new(), 0);
    loop {
        let r = pull_encoded(
            c,
            w,
            pb::PullRequest {
                cursor: cursor.clone(),
                limit: page,
                ..Default::default()
            },
        )
        .await
        .map_err(|s| status("Pull", s))?;
        if let Some(first) = r.changes.first() {
            let change = pb::Change::decode(first.clone())
                .map_err(|e| format!("Pull: a change does not decode: {e}"))?;
            if change.cursor.is_empty() || change.entity.is_none() {
                return Err("Pull: a change without cursor or entity".into());
            }
        }
        n += r.changes.len();
        cursor = r.cursor;
        if !r.has_more {
            break;
        }
    }
    if n < expect {
        return Err(format!("Pull: {n} changes, expected {expect}"));
    }
    Ok(())
}

/// The service report of all units over [start, end), which must count
/// `expect` tickets (cancelled ones included).
pub async fn year_report(
    c: &Clients,
    w: usize,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    expect: i64,
) -> Result<(), String> {
    let ts = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let period = pb::ReportPeriod {
        period: Some(pb::report_period::Period::Range(pb::TimeRange {
            start_time: Some(ts(start)),
            end_time: Some(ts(end)),
        })),
    };
    let r = c
        .reports(w)
        .get_service_report(pb::GetServiceReportRequest {
            unit: String::new(),
            period: Some(period),
        })
        .await
        .map_err(|s| status("GetServiceReport", s))?
        .into_inner();
    if r.tickets + r.cancelled != expect {
        return Err(format!(
            "GetServiceReport: {} tickets, expected {expect}",
            r.tickets + r.cancelled
        ));
    }
    Ok(())
}

/// The feed's current end, as the dispatcher sees it.
pub async fn current_cursor(c: &Clients) -> anyhow::Result<String> {
    let mut sync = c.sync(0, &c.dispatcher);
    let mut cursor = String::new();
    loop {
        let r = sync
            .pull(pb::PullRequest {
                cursor: cursor.clone(),
                limit: 5000,
                ..Default::default()
            })
            .await?
            .into_inner();
        cursor = r.cursor;
        if !r.has_more {
            return Ok(cursor);
        }
    }
}

pub fn op<F, Fut>(f: F) -> Op
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |w| -> OpFuture { Box::pin(f(w)) })
}

/// Pools of the write scenarios and the mix.
pub struct Pools {
    pub dispatched: Arc<Pool>,
    pub claimed: Arc<Pool>,
    pub visits: Arc<Pool>,
    pub readable: Arc<Pool>,
}

/// Share of each request in the mix, out of 20: 60 % reads (GetTicket 45 %,
/// ListTickets 15 %), 40 % writes (ClaimTicket 15 %, RecordArrival 15 %,
/// RecordRoomReading 10 %).
pub const MIX: [(&str, usize); 5] = [
    ("GetTicket", 9),
    ("ListTickets", 3),
    ("ClaimTicket", 3),
    ("RecordArrival", 3),
    ("RecordRoomReading", 2),
];

pub fn mix_op(c: Arc<Clients>, p: Arc<Pools>) -> Op {
    let counter = Arc::new(AtomicUsize::new(0));
    op(move |w| {
        let (c, p) = (c.clone(), p.clone());
        let slot = counter.fetch_add(1, Ordering::Relaxed) % 20;
        async move {
            let mut acc = 0;
            for (name, share) in MIX {
                acc += share;
                if slot < acc {
                    return match name {
                        "GetTicket" => get(&c, w, &p.readable).await,
                        "ListTickets" => list(&c, w).await,
                        "ClaimTicket" => claim(&c, w, &p.dispatched).await,
                        "RecordArrival" => arrive(&c, w, &p.claimed).await,
                        _ => reading(&c, w, &p.visits).await,
                    };
                }
            }
            unreachable!("shares add up to 20")
        }
    })
}
