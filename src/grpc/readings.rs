//! ReadingService handlers and their conversions (R-MTR-1, R-MTR-2).
use super::auth::{caller, push_mark};
use super::convert::{self as cv, meta};
use super::pb::{self, reading_service_server::ReadingService as Api};
use crate::domain::meter::{MeterExchange, MeterReading, MeterUnit};
use crate::error::{AppError, AppResult, reason};
use crate::service::MeterService;
use crate::service::meters::{NewExchange, NewMeterReading};
use prost::Message;
use tonic::{Request, Response, Status};

pub struct ReadingApi {
    svc: MeterService,
}

impl ReadingApi {
    pub fn new(svc: MeterService) -> ReadingApi {
        ReadingApi { svc }
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
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta("RecordMeterReading", &m, &m.request_id, 0, &m.device_id)?.with_push(push);
        let input = NewMeterReading {
            id: if m.reading_id.trim().is_empty() {
                None
            } else {
                Some(cv::id(m.reading_id.trim(), "reading_id")?)
            },
            meter_id: meter_id(&m.meter_id)?,
            value: register(m.value, "value")?,
            unit: unit(m.unit)?,
            read_at: cv::required_time(m.read_time.as_ref(), "read_time")?,
        };
        let r = self.svc.record_reading(&who, meta, input).await?;
        Ok(Response::new(reading_pb(&r)))
    }

    async fn record_meter_exchange(
        &self,
        req: Request<pb::RecordMeterExchangeRequest>,
    ) -> Reply<pb::MeterExchange> {
        let (who, push) = (caller(&req)?, push_mark(&req));
        let m = req.into_inner();
        let meta = meta("RecordMeterExchange", &m, &m.request_id, 0, &m.device_id)?.with_push(push);
        let input = NewExchange {
            meter_id: meter_id(&m.meter_id)?,
            old_serial: m.old_serial.trim().to_string(),
            new_serial: m.new_serial.trim().to_string(),
            old_final_value: register(m.old_final_value, "old_final_value")?,
            new_initial_value: register(m.new_initial_value, "new_initial_value")?,
            unit: unit(m.unit)?,
            exchanged_at: cv::required_time(m.exchange_time.as_ref(), "exchange_time")?,
            reader_present: m.reader_present,
            customer_present: m.customer_present,
        };
        let x = self.svc.record_exchange(&who, meta, input).await?;
        Ok(Response::new(exchange_pb(&x)))
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
