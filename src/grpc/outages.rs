//! OutageService handlers and their conversions (DOMAIN.md section 6).
use super::auth::caller;
use super::convert as cv;
use super::mutation::{MutationRequest, run};
use super::pb::{self, outage_service_server::OutageService as Api};
use crate::domain::Method;
use crate::domain::area::Area;
use crate::domain::outage::{
    NewOutage, Notice, NoticeChannel, Outage, OutageClock, OutageKind, OutageState, ValveClosure,
};
use crate::error::{AppError, AppResult};
use crate::service::OutageService;
use crate::service::command::{Command, Commands};
use crate::storage::outages::OutageFilter;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct OutageApi {
    svc: OutageService,
    commands: Commands,
}

impl OutageApi {
    pub fn new(svc: OutageService, commands: Commands) -> OutageApi {
        OutageApi { svc, commands }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn required<D>(v: AppResult<Option<D>>, field: &str) -> AppResult<D> {
    v?.ok_or_else(|| AppError::missing(field))
}

fn kind(v: i32) -> AppResult<Option<OutageKind>> {
    cv::from_wire(OutageKind::ALL, v, "kind")
}

fn kind_pb(k: OutageKind) -> i32 {
    cv::to_wire(OutageKind::ALL, k)
}

fn state(v: i32) -> AppResult<Option<OutageState>> {
    cv::from_wire(OutageState::ALL, v, "state")
}

fn state_pb(s: OutageState) -> i32 {
    cv::to_wire(OutageState::ALL, s)
}

fn channel(v: i32) -> AppResult<NoticeChannel> {
    required(cv::from_wire(NoticeChannel::ALL, v, "channel"), "channel")
}

fn channel_pb(c: NoticeChannel) -> i32 {
    cv::to_wire(NoticeChannel::ALL, c)
}

fn clock_pb(c: OutageClock) -> i32 {
    cv::to_wire(OutageClock::ALL, c)
}

fn optional_id(v: &str, field: &str) -> AppResult<Option<Uuid>> {
    let v = v.trim();
    (!v.is_empty()).then(|| cv::id(v, field)).transpose()
}

fn area(a: Option<&pb::OutageArea>) -> AppResult<Area> {
    let Some(a) = a else {
        return Err(AppError::missing("area"));
    };
    let polygon = a
        .polygon
        .iter()
        .enumerate()
        .map(|(i, p)| {
            cv::geo_point(Some(p), &format!("area.polygon[{i}]")).map(|p| p.expect("given"))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Area {
        description: a.description.clone(),
        addresses: a.addresses.clone(),
        districts: a.districts.clone(),
        streets: a.streets.clone(),
        centre: cv::geo_point(a.centre.as_ref(), "area.centre")?,
        radius_m: a.radius_m,
        polygon,
    })
}

fn area_pb(a: &Area) -> pb::OutageArea {
    let point = |p: &crate::domain::geo::GeoPoint| pb::GeoPoint {
        latitude: p.latitude(),
        longitude: p.longitude(),
    };
    pb::OutageArea {
        description: a.description.clone(),
        addresses: a.addresses.clone(),
        districts: a.districts.clone(),
        streets: a.streets.clone(),
        centre: a.centre.as_ref().map(point),
        radius_m: a.radius_m,
        polygon: a.polygon.iter().map(point).collect(),
    }
}

fn valves(v: &[pb::ValveClosure]) -> Vec<ValveClosure> {
    v.iter()
        .map(|v| ValveClosure {
            diameter_mm: v.diameter_mm,
            count: v.count,
        })
        .collect()
}

/// The outage as the API shows it.
pub fn outage_pb(o: &Outage) -> pb::Outage {
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(cv::ts);
    pb::Outage {
        id: o.id.to_string(),
        version: o.version,
        kind: kind_pb(o.kind),
        state: state_pb(o.state),
        unit: o.unit.clone(),
        responsible: o.responsible.clone(),
        reported_by: o.reported_by.clone(),
        cause: o.cause.clone(),
        pipe_diameter_mm: o.pipe_diameter_mm,
        valves: o
            .valves
            .iter()
            .map(|v| pb::ValveClosure {
                diameter_mm: v.diameter_mm,
                count: v.count,
            })
            .collect(),
        area: Some(area_pb(&o.area)),
        households: o.households,
        planned_start_time: ts(o.planned_start),
        planned_end_time: ts(o.planned_end),
        approved_by: o.approved_by.clone().unwrap_or_default(),
        approve_time: ts(o.approved_at),
        start_time: ts(o.started_at),
        expected_restoration_time: Some(cv::ts(o.expected_restoration())),
        estimates: o
            .estimates
            .iter()
            .map(|e| pb::RestorationEstimate {
                restore_time: Some(cv::ts(e.restore_by)),
                made_time: Some(cv::ts(e.made_at)),
                made_by: e.made_by.clone(),
                reason: e.reason.clone(),
            })
            .collect(),
        restore_time: ts(o.restored_at),
        notices: o
            .notices
            .iter()
            .map(|n| pb::OutageNotice {
                channel: channel_pb(n.channel),
                sent_time: Some(cv::ts(n.sent_at)),
                sent_by: n.sent_by.clone(),
                reference: n.reference.clone(),
                recorded_by: n.recorded_by.clone(),
                recorded_time: Some(cv::ts(n.recorded_at)),
            })
            .collect(),
        clocks: o
            .clocks
            .iter()
            .map(|c| pb::OutageClockStatus {
                clock: clock_pb(c.clock),
                deadline: Some(cv::ts(c.deadline)),
                met_time: ts(c.met_at),
                breached: c.breached,
            })
            .collect(),
        breaches: o
            .breaches
            .iter()
            .map(|b| pb::OutageBreach {
                clock: clock_pb(b.clock),
                deadline: Some(cv::ts(b.deadline)),
                recorded_time: Some(cv::ts(b.recorded_at)),
            })
            .collect(),
        escalation_level: o.escalation_level,
        report_time: Some(cv::ts(o.reported_at)),
        update_time: Some(cv::ts(o.updated_at)),
    }
}

#[tonic::async_trait]
impl Api for OutageApi {
    async fn report_outage(&self, req: Request<pb::ReportOutageRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn plan_outage(&self, req: Request<pb::PlanOutageRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn approve_outage(&self, req: Request<pb::ApproveOutageRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn start_outage(&self, req: Request<pb::StartOutageRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn revise_restoration(
        &self,
        req: Request<pb::ReviseRestorationRequest>,
    ) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn record_notice(&self, req: Request<pb::RecordNoticeRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn restore_supply(&self, req: Request<pb::RestoreSupplyRequest>) -> Reply<pb::Outage> {
        run(&self.commands, req).await
    }

    async fn get_outage(&self, req: Request<pb::GetOutageRequest>) -> Reply<pb::Outage> {
        let who = caller(&req)?;
        let id = cv::id(&req.get_ref().outage_id, "outage_id")?;
        let o = self.svc.get(&who, id).await?;
        Ok(Response::new(outage_pb(&o)))
    }

    async fn list_outages(
        &self,
        req: Request<pb::ListOutagesRequest>,
    ) -> Reply<pb::ListOutagesResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let filter = OutageFilter {
            state: state(m.state)?,
            unit: cv::non_empty(&m.unit),
            kind: kind(m.kind)?,
            in_force_at: cv::time(m.in_force_time.as_ref(), "in_force_time")?,
        };
        let location = cv::geo_point(m.location.as_ref(), "location")?;
        let place = match (cv::non_empty(&m.address), location) {
            (None, None) => None,
            (address, location) => Some((address.unwrap_or_default(), location)),
        };
        let page = self
            .svc
            .list(&who, filter, place, m.page_size, &m.page_token, |o| {
                outage_pb(o).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListOutagesResponse {
            outages: page.items.iter().map(outage_pb).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}

/// What a report and a plan have in common, as they arrive.
struct Body<'a> {
    kind: i32,
    unit: &'a str,
    responsible: &'a str,
    cause: &'a str,
    pipe_diameter_mm: Option<i32>,
    valves: &'a [pb::ValveClosure],
    area: Option<&'a pb::OutageArea>,
    households: i64,
}

type TimeField<'a> = (Option<&'a prost_types::Timestamp>, &'static str);

/// The body of a report or a plan, with its start and end fields.
fn new_outage(
    b: Body,
    (start, start_field): TimeField,
    (end, end_field): TimeField,
) -> AppResult<NewOutage> {
    Ok(NewOutage {
        kind: required(kind(b.kind), "kind")?,
        unit: b.unit.trim().to_string(),
        responsible: b.responsible.to_string(),
        cause: b.cause.to_string(),
        pipe_diameter_mm: b.pipe_diameter_mm,
        valves: valves(b.valves),
        area: area(b.area)?,
        households: b.households,
        start: cv::time(start, start_field)?,
        end: cv::time(end, end_field)?,
    })
}

impl MutationRequest for pb::ReportOutageRequest {
    const METHOD: Method = Method::ReportOutage;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ReportOutage {
            id: optional_id(&self.outage_id, "outage_id")?,
            outage: new_outage(
                Body {
                    kind: self.kind,
                    unit: &self.unit,
                    responsible: &self.responsible,
                    cause: &self.cause,
                    pipe_diameter_mm: self.pipe_diameter_mm,
                    valves: &self.valves,
                    area: self.area.as_ref(),
                    households: self.households,
                },
                (self.start_time.as_ref(), "start_time"),
                (
                    self.expected_restoration_time.as_ref(),
                    "expected_restoration_time",
                ),
            )?,
        })
    }
}

impl MutationRequest for pb::PlanOutageRequest {
    const METHOD: Method = Method::PlanOutage;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::PlanOutage {
            id: optional_id(&self.outage_id, "outage_id")?,
            outage: new_outage(
                Body {
                    kind: self.kind,
                    unit: &self.unit,
                    responsible: &self.responsible,
                    cause: &self.cause,
                    pipe_diameter_mm: self.pipe_diameter_mm,
                    valves: &self.valves,
                    area: self.area.as_ref(),
                    households: self.households,
                },
                (self.planned_start_time.as_ref(), "planned_start_time"),
                (self.planned_end_time.as_ref(), "planned_end_time"),
            )?,
        })
    }
}

impl MutationRequest for pb::ApproveOutageRequest {
    const METHOD: Method = Method::ApproveOutage;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ApproveOutage {
            outage: cv::id(&self.outage_id, "outage_id")?,
        })
    }
}

impl MutationRequest for pb::StartOutageRequest {
    const METHOD: Method = Method::StartOutage;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::StartOutage {
            outage: cv::id(&self.outage_id, "outage_id")?,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

impl MutationRequest for pb::ReviseRestorationRequest {
    const METHOD: Method = Method::ReviseRestoration;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ReviseRestoration {
            outage: cv::id(&self.outage_id, "outage_id")?,
            restore_by: cv::required_time(
                self.expected_restoration_time.as_ref(),
                "expected_restoration_time",
            )?,
            reason: self.reason.clone(),
        })
    }
}

impl MutationRequest for pb::RecordNoticeRequest {
    const METHOD: Method = Method::RecordNotice;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        let sent_at = cv::required_time(self.sent_time.as_ref(), "sent_time")?;
        Ok(Command::RecordNotice {
            outage: cv::id(&self.outage_id, "outage_id")?,
            notice: Notice {
                channel: channel(self.channel)?,
                sent_at,
                sent_by: self.sent_by.trim().to_string(),
                reference: self.reference.trim().to_string(),
                // Filled in by the service: who recorded it, when.
                recorded_by: String::new(),
                recorded_at: sent_at,
            },
        })
    }
}

impl MutationRequest for pb::RestoreSupplyRequest {
    const METHOD: Method = Method::RestoreSupply;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RestoreSupply {
            outage: cv::id(&self.outage_id, "outage_id")?,
            at: cv::time(self.occurred_at.as_ref(), "occurred_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::reason;

    /// Every domain value has the wire value of the same name (the proto's
    /// prefix aside) and comes back from it.
    #[test]
    fn enums_round_trip() {
        for k in OutageKind::ALL {
            let name = pb::OutageKind::try_from(kind_pb(*k)).unwrap().as_str_name();
            assert_eq!(name, format!("OUTAGE_KIND_{}", k.as_str()));
            assert_eq!(kind(kind_pb(*k)).unwrap(), Some(*k));
        }
        for s in OutageState::ALL {
            let name = pb::OutageState::try_from(state_pb(*s))
                .unwrap()
                .as_str_name();
            assert_eq!(name, format!("OUTAGE_STATE_{}", s.as_str()));
            assert_eq!(state(state_pb(*s)).unwrap(), Some(*s));
        }
        for c in NoticeChannel::ALL {
            let name = pb::NoticeChannel::try_from(channel_pb(*c))
                .unwrap()
                .as_str_name();
            assert_eq!(name, format!("NOTICE_CHANNEL_{}", c.as_str()));
            assert_eq!(channel(channel_pb(*c)).unwrap(), *c);
        }
        for c in OutageClock::ALL {
            let name = pb::OutageClock::try_from(clock_pb(*c))
                .unwrap()
                .as_str_name();
            assert_eq!(name, format!("OUTAGE_CLOCK_{}", c.as_str()));
        }
        assert_eq!(kind(0).unwrap(), None);
        assert_eq!(kind(99).unwrap_err().reason(), reason::INVALID_FIELD);
        assert_eq!(kind(-1).unwrap_err().reason(), reason::INVALID_FIELD);
        assert_eq!(channel(0).unwrap_err().reason(), reason::MISSING_FIELD);
    }
}
