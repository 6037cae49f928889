//! ReadingService handlers and their conversions (R-MTR-1, R-MTR-2).
use super::auth::caller;
use super::convert as cv;
use super::mutation::{MutationRequest, run};
use super::pb::{self, reading_service_server::ReadingService as Api};
use crate::domain::Method;
use crate::domain::meter::{MeterExchange, MeterReading, MeterUnit};
use crate::error::{AppError, AppResult, reason};
use crate::service::MeterService;
use crate::service::command::{Command, Commands};
use crate::service::meters::{NewExchange, NewMeterReading};
use prost::Message;
use tonic::{Request, Response, Status};

pub struct ReadingApi {
    svc: MeterService,
    commands: Commands,
}

impl ReadingApi {
    pub fn new(svc: MeterService, commands: Commands) -> ReadingApi {
        ReadingApi { svc, commands }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn unit(v: i32) -> AppResult<MeterUnit> {
    use pb::MeterUnit as P;
    match P::try_from(v) {
        Ok(P::CubicMetre) => Ok(MeterUnit::CubicMetre),
        Ok(P::Gigajoule) => Ok(MeterUnit::Gigajoule),
        Ok(P::KilowattHour) => Ok(MeterUnit::KilowattHour),
        Ok(P::Unspecified) => Err(AppError::missing("unit")),
        Err(_) => Err(AppError::invalid(
            "unit",
            reason::INVALID_FIELD,
            "unknown unit",
        )),
    }
}

fn unit_pb(u: MeterUnit) -> i32 {
    (match u {
        MeterUnit::CubicMetre => pb::MeterUnit::CubicMetre,
        MeterUnit::Gigajoule => pb::MeterUnit::Gigajoule,
        MeterUnit::KilowattHour => pb::MeterUnit::KilowattHour,
    }) as i32
}

fn register(v: f64, field: &str) -> AppResult<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!("{field} must be a finite number >= 0"),
        ))
    }
}

fn meter_id(v: &str) -> AppResult<String> {
    let v = v.trim();
    if v.is_empty() {
        Err(AppError::missing("meter_id"))
    } else {
        Ok(v.to_string())
    }
}

pub fn reading_pb(r: &MeterReading) -> pb::MeterReading {
    pb::MeterReading {
        id: r.id.to_string(),
        meter_id: r.meter_id.clone(),
        value: r.value,
        unit: unit_pb(r.unit),
        read_time: Some(cv::ts(r.read_at)),
        inspector: r.inspector.clone(),
        rollback: r.rollback,
        receive_time: Some(cv::ts(r.received_at)),
        version: r.version,
    }
}

pub fn exchange_pb(x: &MeterExchange) -> pb::MeterExchange {
    pb::MeterExchange {
        id: x.id.to_string(),
        meter_id: x.meter_id.clone(),
        old_serial: x.old_serial.clone(),
        new_serial: x.new_serial.clone(),
        old_final_value: x.old_final_value,
        new_initial_value: x.new_initial_value,
        unit: unit_pb(x.unit),
        exchange_time: Some(cv::ts(x.exchanged_at)),
        reader_present: x.reader_present,
        customer_present: x.customer_present,
        flagged: x.flagged,
        inspector: x.inspector.clone(),
        receive_time: Some(cv::ts(x.received_at)),
    }
}

#[tonic::async_trait]
impl Api for ReadingApi {
    async fn record_meter_reading(
        &self,
        req: Request<pb::RecordMeterReadingRequest>,
    ) -> Reply<pb::MeterReading> {
        run(&self.commands, req).await
    }

    async fn record_meter_exchange(
        &self,
        req: Request<pb::RecordMeterExchangeRequest>,
    ) -> Reply<pb::MeterExchange> {
        run(&self.commands, req).await
    }

    async fn list_meter_readings(
        &self,
        req: Request<pb::ListMeterReadingsRequest>,
    ) -> Reply<pb::ListMeterReadingsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let page = self
            .svc
            .list(
                &who,
                &meter_id(&m.meter_id)?,
                m.page_size,
                &m.page_token,
                |r| reading_pb(r).encoded_len(),
            )
            .await?;
        Ok(Response::new(pb::ListMeterReadingsResponse {
            readings: page.items.iter().map(reading_pb).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}

impl MutationRequest for pb::RecordMeterReadingRequest {
    const METHOD: Method = Method::RecordMeterReading;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecordMeterReading(NewMeterReading {
            id: if self.reading_id.trim().is_empty() {
                None
            } else {
                Some(cv::id(self.reading_id.trim(), "reading_id")?)
            },
            meter_id: meter_id(&self.meter_id)?,
            value: register(self.value, "value")?,
            unit: unit(self.unit)?,
            read_at: cv::required_time(self.read_time.as_ref(), "read_time")?,
        }))
    }
}

impl MutationRequest for pb::RecordMeterExchangeRequest {
    const METHOD: Method = Method::RecordMeterExchange;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, &self.device_id)
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::RecordMeterExchange(NewExchange {
            meter_id: meter_id(&self.meter_id)?,
            old_serial: self.old_serial.trim().to_string(),
            new_serial: self.new_serial.trim().to_string(),
            old_final_value: register(self.old_final_value, "old_final_value")?,
            new_initial_value: register(self.new_initial_value, "new_initial_value")?,
            unit: unit(self.unit)?,
            exchanged_at: cv::required_time(self.exchange_time.as_ref(), "exchange_time")?,
            reader_present: self.reader_present,
            customer_present: self.customer_present,
        }))
    }
}
