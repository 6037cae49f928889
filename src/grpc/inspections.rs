//! InspectionService handlers and their conversions.
use super::auth::caller;
use super::convert as cv;
use super::mutation::{MutationRequest, run};
use super::pb::{self, inspection_service_server::InspectionService as Api};
use crate::domain::Method;
use crate::domain::inspection::{Dwelling, Inspection, InspectionState, RoomReading};
use crate::domain::protocol::{
    Exemption, Instrument, NoAccess, NoAccessReason, ResidentOutcome, RoomMeasurement, RoomType,
    RoomVerdict, VisitFacts, VisitVerdict,
};
use crate::error::{AppError, AppResult, reason};
use crate::service::InspectionService;
use crate::service::command::{Command, Commands};
use crate::service::inspections::{Finish, NewReading, StartVisit};
use crate::storage::inspections::{ColdHousehold, InspectionFilter};
use prost::Message;
use tonic::{Request, Response, Status};

pub struct InspectionApi {
    svc: InspectionService,
    commands: Commands,
}

impl InspectionApi {
    pub fn new(svc: InspectionService, commands: Commands) -> InspectionApi {
        InspectionApi { svc, commands }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn text(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn optional_id(v: &str, field: &str) -> AppResult<Option<uuid::Uuid>> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        cv::id(v.trim(), field).map(Some)
    }
}

fn required(v: &str, field: &str) -> AppResult<String> {
    text(v).ok_or_else(|| AppError::missing(field))
}

fn finite_in(v: f64, lo: f64, hi: f64, field: &str) -> AppResult<f64> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!("{field} must be a number within [{lo}, {hi}]"),
        ))
    }
}

fn room_type(v: i32) -> AppResult<RoomType> {
    use pb::RoomType as P;
    match P::try_from(v) {
        Ok(P::Bedroom) => Ok(RoomType::Bedroom),
        Ok(P::LivingRoom) => Ok(RoomType::LivingRoom),
        Ok(P::Hall) => Ok(RoomType::Hall),
        Ok(P::Kitchen) => Ok(RoomType::Kitchen),
        Ok(P::Bathroom) => Ok(RoomType::Bathroom),
        Ok(P::BalconyHeated) => Ok(RoomType::BalconyHeated),
        Ok(P::Unspecified) => Err(AppError::missing("room_type")),
        Err(_) => Err(AppError::invalid(
            "room_type",
            reason::INVALID_FIELD,
            "unknown room type",
        )),
    }
}

fn room_type_pb(t: RoomType) -> pb::RoomType {
    match t {
        RoomType::Bedroom => pb::RoomType::Bedroom,
        RoomType::LivingRoom => pb::RoomType::LivingRoom,
        RoomType::Hall => pb::RoomType::Hall,
        RoomType::Kitchen => pb::RoomType::Kitchen,
        RoomType::Bathroom => pb::RoomType::Bathroom,
        RoomType::BalconyHeated => pb::RoomType::BalconyHeated,
    }
}

fn exemption(v: i32, field: &str) -> AppResult<Exemption> {
    use pb::Exemption as P;
    match P::try_from(v) {
        Ok(P::StructureAltered) => Ok(Exemption::StructureAltered),
        Ok(P::UnsuitableDecoration) => Ok(Exemption::UnsuitableDecoration),
        Ok(P::SupplyCutOrDisaster) => Ok(Exemption::SupplyCutOrDisaster),
        Ok(P::MaintenanceOrTrialRun) => Ok(Exemption::MaintenanceOrTrialRun),
        Ok(P::ExtremeCold) => Err(AppError::invalid(
            field,
            reason::INVALID_FIELD,
            "EXTREME_COLD is derived from outdoor_temp_c, not observed",
        )),
        _ => Err(AppError::invalid(
            field,
            reason::INVALID_FIELD,
            "unknown exemption",
        )),
    }
}

fn exemption_pb(e: Exemption) -> i32 {
    (match e {
        Exemption::StructureAltered => pb::Exemption::StructureAltered,
        Exemption::UnsuitableDecoration => pb::Exemption::UnsuitableDecoration,
        Exemption::SupplyCutOrDisaster => pb::Exemption::SupplyCutOrDisaster,
        Exemption::MaintenanceOrTrialRun => pb::Exemption::MaintenanceOrTrialRun,
        Exemption::ExtremeCold => pb::Exemption::ExtremeCold,
    }) as i32
}

fn visit_verdict_pb(v: VisitVerdict) -> i32 {
    (match v {
        VisitVerdict::Compliant => pb::VisitVerdict::Compliant,
        VisitVerdict::NonCompliant => pb::VisitVerdict::NonCompliant,
        VisitVerdict::Exempt => pb::VisitVerdict::Exempt,
        VisitVerdict::DeemedCompliant => pb::VisitVerdict::DeemedCompliant,
        VisitVerdict::Inconclusive => pb::VisitVerdict::Inconclusive,
        VisitVerdict::NoAccess => pb::VisitVerdict::NoAccess,
    }) as i32
}

fn outcome(v: i32) -> AppResult<ResidentOutcome> {
    use pb::ResidentOutcome as P;
    match P::try_from(v) {
        Ok(P::Signed) => Ok(ResidentOutcome::Signed),
        Ok(P::SignedWithObjection) => Ok(ResidentOutcome::SignedWithObjection),
        Ok(P::Refused) => Ok(ResidentOutcome::Refused),
        Ok(P::Unspecified) => Err(AppError::missing("resident_outcome")),
        Err(_) => Err(AppError::invalid(
            "resident_outcome",
            reason::INVALID_FIELD,
            "unknown outcome",
        )),
    }
}

fn outcome_pb(o: ResidentOutcome) -> i32 {
    (match o {
        ResidentOutcome::Signed => pb::ResidentOutcome::Signed,
        ResidentOutcome::SignedWithObjection => pb::ResidentOutcome::SignedWithObjection,
        ResidentOutcome::Refused => pb::ResidentOutcome::Refused,
    }) as i32
}

fn dwelling_pb(d: &Dwelling) -> pb::Dwelling {
    pb::Dwelling {
        household_id: d.household_id.clone().unwrap_or_default(),
        address: d.address.clone().unwrap_or_default(),
    }
}

pub fn reading_pb(r: &RoomReading) -> pb::RoomReading {
    let m = &r.measurement;
    pb::RoomReading {
        id: r.id.to_string(),
        inspection_id: r.inspection_id.to_string(),
        room_name: r.room_name.clone(),
        room_type: room_type_pb(m.room_type) as i32,
        open_to_balcony: m.open_to_balcony,
        started_at: Some(cv::ts(m.started_at)),
        ended_at: Some(cv::ts(m.ended_at)),
        temperature_c: m.temperature_c,
        height_m: m.height_m,
        at_room_centre: m.at_room_centre,
        verdict: (match r.result.verdict {
            RoomVerdict::Compliant => pb::ReadingVerdict::Compliant,
            RoomVerdict::NonCompliant => pb::ReadingVerdict::NonCompliant,
            RoomVerdict::Invalid => pb::ReadingVerdict::Invalid,
        }) as i32,
        required_c: r.result.required_c,
        violations: r
            .result
            .violations
            .iter()
            .map(|v| pb::ProtocolViolation {
                rule: v.rule.clone(),
                reason: v.reason.clone(),
                message: v.message.clone(),
            })
            .collect(),
        receive_time: Some(cv::ts(r.received_at)),
        thermometer_serial: m
            .instrument
            .as_ref()
            .map(|i| i.serial.clone())
            .unwrap_or_default(),
        calibration_due: m
            .instrument
            .as_ref()
            .map(|i| i.calibration_due.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        void_reason: r
            .result
            .voided
            .as_ref()
            .map(|v| v.reason.clone())
            .unwrap_or_default(),
        void_time: r.result.voided.as_ref().map(|v| cv::ts(v.at)),
    }
}

fn no_access_reason(v: i32) -> AppResult<NoAccessReason> {
    match pb::NoAccessReason::try_from(v) {
        Ok(pb::NoAccessReason::ResidentAbsent) => Ok(NoAccessReason::ResidentAbsent),
        Ok(pb::NoAccessReason::EntryRefused) => Ok(NoAccessReason::EntryRefused),
        Ok(pb::NoAccessReason::Unspecified) => Err(AppError::missing("reason")),
        Err(_) => Err(AppError::invalid(
            "reason",
            reason::INVALID_FIELD,
            "unknown no-access reason",
        )),
    }
}

fn no_access_reason_pb(r: NoAccessReason) -> i32 {
    (match r {
        NoAccessReason::ResidentAbsent => pb::NoAccessReason::ResidentAbsent,
        NoAccessReason::EntryRefused => pb::NoAccessReason::EntryRefused,
    }) as i32
}

pub fn inspection_pb(i: &Inspection) -> pb::Inspection {
    let sign = i.sign_off.as_ref();
    pb::Inspection {
        id: i.id.to_string(),
        version: i.version,
        state: (match i.state {
            InspectionState::InProgress => pb::InspectionState::InProgress,
            InspectionState::Finished => pb::InspectionState::Finished,
        }) as i32,
        dwelling: Some(dwelling_pb(&i.dwelling)),
        ticket_id: i.ticket_id.map(|t| t.to_string()).unwrap_or_default(),
        inspector: i.inspector.clone(),
        unit: i.unit.clone(),
        entered_at: Some(cv::ts(i.facts.entered_at)),
        doors_windows_closed: i.facts.doors_windows_closed,
        outdoor_temp_c: i.facts.outdoor_temp_c,
        observed_exemptions: i
            .facts
            .observed_exemptions
            .iter()
            .map(|e| exemption_pb(*e))
            .collect(),
        thermometer_serial: i.facts.thermometer_serial.clone(),
        calibration_due: i.facts.calibration_due.format("%Y-%m-%d").to_string(),
        readings: i.readings.iter().map(reading_pb).collect(),
        verdict: visit_verdict_pb(i.result.verdict),
        exemptions: i
            .result
            .exemptions
            .iter()
            .map(|e| exemption_pb(*e))
            .collect(),
        verdict_explanation: i.result.explanation.clone(),
        resident_outcome: sign.map(|s| outcome_pb(s.outcome)).unwrap_or_default(),
        objection: sign.map(|s| s.objection.clone()).unwrap_or_default(),
        inspector_signature: sign
            .map(|s| s.inspector_signature.clone())
            .unwrap_or_default(),
        objection_ticket_id: i
            .objection_ticket_id
            .map(|t| t.to_string())
            .unwrap_or_default(),
        create_time: Some(cv::ts(i.created_at)),
        update_time: Some(cv::ts(i.updated_at)),
        finish_time: i.finished_at.map(cv::ts),
        resident_name: i.resident_name.clone(),
        resident_phone: i.resident_phone.clone(),
        no_access_reason: i
            .result
            .no_access
            .as_ref()
            .map(|n| no_access_reason_pb(n.reason))
            .unwrap_or_default(),
        no_access_note: i
            .result
            .no_access
            .as_ref()
            .map(|n| n.note.clone())
            .unwrap_or_default(),
    }
}

fn cold_pb((h, due): &(ColdHousehold, bool)) -> pb::ColdHousehold {
    pb::ColdHousehold {
        dwelling: Some(dwelling_pb(&h.dwelling)),
        active: h.active,
        last_verdict: visit_verdict_pb(h.last_verdict),
        last_inspection_id: h.last_inspection_id.to_string(),
        last_visit_time: Some(cv::ts(h.last_visit_at)),
        first_non_compliant_time: Some(cv::ts(h.first_non_compliant_at)),
        due_this_month: *due,
    }
}

fn start_visit(m: &pb::StartInspectionRequest) -> AppResult<StartVisit> {
    let d = m.dwelling.clone().unwrap_or_default();
    let dwelling = Dwelling {
        household_id: text(&d.household_id),
        address: text(&d.address),
    };
    if dwelling.household_id.is_none() && dwelling.address.is_none() {
        return Err(AppError::invalid(
            "dwelling",
            reason::MISSING_FIELD,
            "a household id or an address is required",
        ));
    }
    let calibration_due = date(
        &required(&m.calibration_due, "calibration_due")?,
        "calibration_due",
    )?;
    let mut observed = Vec::new();
    for (i, e) in m.observed_exemptions.iter().enumerate() {
        let e = exemption(*e, &format!("observed_exemptions[{i}]"))?;
        if !observed.contains(&e) {
            observed.push(e);
        }
    }
    Ok(StartVisit {
        id: optional_id(&m.inspection_id, "inspection_id")?,
        ticket_id: optional_id(&m.ticket_id, "ticket_id")?,
        dwelling,
        facts: VisitFacts {
            entered_at: cv::required_time(m.entered_at.as_ref(), "entered_at")?,
            doors_windows_closed: m.doors_windows_closed,
            outdoor_temp_c: m
                .outdoor_temp_c
                .map(|t| finite_in(t, -60.0, 60.0, "outdoor_temp_c"))
                .transpose()?,
            observed_exemptions: observed,
            thermometer_serial: required(&m.thermometer_serial, "thermometer_serial")?,
            calibration_due,
            outage: None,
        },
        resident_name: m.resident_name.trim().to_string(),
        resident_phone: m.resident_phone.trim().to_string(),
    })
}

fn new_reading(m: &pb::RecordRoomReadingRequest) -> AppResult<NewReading> {
    let started_at = cv::required_time(m.started_at.as_ref(), "started_at")?;
    let ended_at = cv::required_time(m.ended_at.as_ref(), "ended_at")?;
    if ended_at < started_at {
        return Err(AppError::invalid(
            "ended_at",
            reason::OUT_OF_RANGE,
            "ended_at is before started_at",
        ));
    }
    Ok(NewReading {
        id: optional_id(&m.reading_id, "reading_id")?,
        room_name: required(&m.room_name, "room_name")?,
        measurement: RoomMeasurement {
            instrument: own_instrument(m)?,
            room_type: room_type(m.room_type)?,
            open_to_balcony: m.open_to_balcony,
            started_at,
            ended_at,
            temperature_c: finite_in(m.temperature_c, -40.0, 60.0, "temperature_c")?,
            height_m: finite_in(m.height_m, 0.0, 10.0, "height_m")?,
            at_room_centre: m.at_room_centre,
        },
    })
}

/// A calendar date `YYYY-MM-DD` in `field`.
fn date(text: &str, field: &str) -> AppResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        AppError::invalid(
            field,
            reason::INVALID_FIELD,
            format!("{field} must be a date YYYY-MM-DD"),
        )
    })
}

/// R-TMP-12: a reading's own thermometer, serial and due date together.
fn own_instrument(m: &pb::RecordRoomReadingRequest) -> AppResult<Option<Instrument>> {
    let (serial, due) = (m.thermometer_serial.trim(), m.calibration_due.trim());
    match (serial.is_empty(), due.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => Err(AppError::invalid(
            "calibration_due",
            reason::MISSING_FIELD,
            "a reading's own thermometer needs its calibration_due",
        )),
        (true, false) => Err(AppError::invalid(
            "thermometer_serial",
            reason::MISSING_FIELD,
            "a calibration_due needs the thermometer_serial it belongs to",
        )),
        (false, false) => Ok(Some(Instrument {
            serial: serial.to_string(),
            calibration_due: date(due, "calibration_due")?,
        })),
    }
}

fn finish(m: &pb::FinishInspectionRequest) -> AppResult<Finish> {
    let outcome = outcome(m.resident_outcome)?;
    let objection = m.objection.trim().to_string();
    if outcome == ResidentOutcome::SignedWithObjection && objection.is_empty() {
        return Err(AppError::invalid(
            "objection",
            reason::MISSING_FIELD,
            "an objection needs its text",
        ));
    }
    Ok(Finish {
        inspector_signature: required(&m.inspector_signature, "inspector_signature")?,
        outcome,
        objection,
    })
}

#[tonic::async_trait]
impl Api for InspectionApi {
    async fn start_inspection(
        &self,
        req: Request<pb::StartInspectionRequest>,
    ) -> Reply<pb::Inspection> {
        run(&self.commands, req).await
    }

    async fn record_room_reading(
        &self,
        req: Request<pb::RecordRoomReadingRequest>,
    ) -> Reply<pb::RoomReading> {
        run(&self.commands, req).await
    }

    async fn finish_inspection(
        &self,
        req: Request<pb::FinishInspectionRequest>,
    ) -> Reply<pb::Inspection> {
        run(&self.commands, req).await
    }

    async fn void_room_reading(
        &self,
        req: Request<pb::VoidRoomReadingRequest>,
    ) -> Reply<pb::RoomReading> {
        run(&self.commands, req).await
    }

    async fn abandon_inspection(
        &self,
        req: Request<pb::AbandonInspectionRequest>,
    ) -> Reply<pb::Inspection> {
        run(&self.commands, req).await
    }

    async fn get_inspection(
        &self,
        req: Request<pb::GetInspectionRequest>,
    ) -> Reply<pb::Inspection> {
        let who = caller(&req)?;
        let id = cv::id(&req.get_ref().inspection_id, "inspection_id")?;
        Ok(Response::new(inspection_pb(&self.svc.get(&who, id).await?)))
    }

    async fn list_inspections(
        &self,
        req: Request<pb::ListInspectionsRequest>,
    ) -> Reply<pb::ListInspectionsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let filter = InspectionFilter {
            ticket_id: optional_id(&m.ticket_id, "ticket_id")?,
            household_id: text(&m.household_id),
            inspector: text(&m.inspector),
        };
        let page = self
            .svc
            .list(&who, filter, m.page_size, &m.page_token, |i| {
                inspection_pb(i).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListInspectionsResponse {
            inspections: page.items.iter().map(inspection_pb).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_cold_households(
        &self,
        req: Request<pb::ListColdHouseholdsRequest>,
    ) -> Reply<pb::ListColdHouseholdsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let page = self
            .svc
            .cold_households(
                &who,
                m.due_only,
                m.include_resolved,
                m.page_size,
                &m.page_token,
                |h| cold_pb(&(h.clone(), true)).encoded_len(),
            )
            .await?;
        Ok(Response::new(pb::ListColdHouseholdsResponse {
            households: page.items.iter().map(cold_pb).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}

impl MutationRequest for pb::StartInspectionRequest {
    const METHOD: Method = Method::StartInspection;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::StartInspection(start_visit(self)?))
    }
}

impl MutationRequest for pb::RecordRoomReadingRequest {
    const METHOD: Method = Method::RecordRoomReading;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecordRoomReading {
            inspection: cv::id(&self.inspection_id, "inspection_id")?,
            reading: new_reading(self)?,
        })
    }
}

impl MutationRequest for pb::VoidRoomReadingRequest {
    const METHOD: Method = Method::VoidRoomReading;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::VoidRoomReading {
            inspection: cv::id(&self.inspection_id, "inspection_id")?,
            reading: cv::id(&self.reading_id, "reading_id")?,
            reason: self.reason.clone(),
        })
    }
}

impl MutationRequest for pb::AbandonInspectionRequest {
    const METHOD: Method = Method::AbandonInspection;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::AbandonInspection {
            inspection: cv::id(&self.inspection_id, "inspection_id")?,
            no_access: NoAccess {
                reason: no_access_reason(self.reason)?,
                note: self.note.trim().to_string(),
            },
        })
    }
}

impl MutationRequest for pb::FinishInspectionRequest {
    const METHOD: Method = Method::FinishInspection;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::FinishInspection {
            inspection: cv::id(&self.inspection_id, "inspection_id")?,
            finish: finish(self)?,
        })
    }
}
