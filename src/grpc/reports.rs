//! ReportService handlers (R-RPT-1): decode the period, ask the service,
//! encode the figures as a message or as CSV lines.
use super::auth::caller;
use super::convert::{self as cv, ts};
use super::pb::{self, report_service_server::ReportService as Api};
use crate::domain::report::{Period, rate};
use crate::domain::sla::ClockKind;
use crate::error::{AppError, AppResult, reason};
use crate::service::ReportService;
use crate::service::reports::ServiceReport;
use crate::storage::report::ClockCounts;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub struct ReportApi {
    svc: ReportService,
}

impl ReportApi {
    pub fn new(svc: ReportService) -> ReportApi {
        ReportApi { svc }
    }

    async fn report(
        &self,
        req: Request<(String, Option<pb::ReportPeriod>)>,
    ) -> Result<ServiceReport, Status> {
        let who = caller(&req)?;
        let (unit, period) = req.into_inner();
        let period = period_of(period.as_ref())?;
        let unit = cv::non_empty(unit.trim());
        Ok(self.svc.service_report(&who, unit, period).await?)
    }
}

type Reply<T> = Result<Response<T>, Status>;
type ExportStream =
    Pin<Box<dyn Stream<Item = Result<pb::ExportServiceReportResponse, Status>> + Send>>;

pub(super) fn period_of(p: Option<&pb::ReportPeriod>) -> AppResult<Period> {
    use pb::report_period::Period as P;
    match p.and_then(|p| p.period.as_ref()) {
        None => Err(AppError::missing("period")),
        Some(P::Calendar(c)) => {
            let date = NaiveDate::parse_from_str(c.anchor_date.trim(), "%Y-%m-%d").map_err(|_| {
                if c.anchor_date.trim().is_empty() {
                    AppError::missing("period.calendar.anchor_date")
                } else {
                    AppError::invalid(
                        "period.calendar.anchor_date",
                        reason::INVALID_FIELD,
                        "anchor_date must be a date YYYY-MM-DD",
                    )
                }
            });
            match pb::PeriodKind::try_from(c.kind) {
                Ok(pb::PeriodKind::Week) => Ok(Period::Week(date?)),
                Ok(pb::PeriodKind::Month) => Ok(Period::Month(date?)),
                Ok(pb::PeriodKind::Season) => Ok(Period::Season(date?)),
                Ok(pb::PeriodKind::Unspecified) => Err(AppError::missing("period.calendar.kind")),
                Err(_) => Err(AppError::invalid(
                    "period.calendar.kind",
                    reason::INVALID_FIELD,
                    "unknown period kind",
                )),
            }
        }
        Some(P::Range(r)) => Ok(Period::Range(
            cv::required_time(r.start_time.as_ref(), "period.range.start_time")?,
            cv::required_time(r.end_time.as_ref(), "period.range.end_time")?,
        )),
    }
}

fn counts(m: &BTreeMap<String, i64>) -> Vec<pb::CountByKey> {
    m.iter()
        .map(|(key, count)| pb::CountByKey {
            key: key.clone(),
            count: *count,
        })
        .collect()
}

fn clock(r: &ServiceReport, kind: ClockKind) -> pb::ClockFigure {
    let c = r
        .tickets
        .clocks
        .get(&kind)
        .copied()
        .unwrap_or(ClockCounts::default());
    pb::ClockFigure {
        on_time: c.on_time,
        late: c.late,
        on_time_rate: rate(c.on_time, c.on_time + c.late),
    }
}

fn temperature(r: &ServiceReport) -> pb::TemperatureFigures {
    let t = &r.temperature;
    let n = |v: &str| t.by_verdict.get(v).copied().unwrap_or(0);
    let (compliant, non, deemed) = (n("COMPLIANT"), n("NON_COMPLIANT"), n("DEEMED_COMPLIANT"));
    let compliance_rate = rate(compliant + deemed, compliant + deemed + non);
    pb::TemperatureFigures {
        visits: t.by_verdict.values().sum(),
        compliant,
        non_compliant: non,
        deemed_compliant: deemed,
        exempt: n("EXEMPT"),
        inconclusive: n("INCONCLUSIVE"),
        no_access: n("NO_ACCESS"),
        compliance_rate,
        target: r.temperature_target,
        target_met: compliance_rate.map(|v| v >= r.temperature_target),
        cold_households: t.cold_households_active,
        new_cold_households: t.cold_households_new,
    }
}

pub fn report_pb(r: &ServiceReport) -> pb::ServiceReport {
    let t = &r.tickets;
    pb::ServiceReport {
        unit: r.unit.clone().unwrap_or_default(),
        start_time: Some(ts(r.span.start)),
        end_time: Some(ts(r.span.end)),
        generate_time: Some(ts(r.generated_at)),
        time_zone: r.time_zone.name().to_string(),
        tickets: t.tickets,
        cancelled: t.cancelled,
        by_category: counts(&t.by_category),
        by_source: counts(&t.by_source),
        by_priority: counts(&t.by_priority),
        by_type: counts(&t.by_type),
        accept: Some(clock(r, ClockKind::Accept)),
        arrive: Some(clock(r, ClockKind::Arrive)),
        resolve: Some(clock(r, ClockKind::Resolve)),
        revisit: Some(clock(r, ClockKind::Revisit)),
        feedback: Some(clock(r, ClockKind::Feedback)),
        supervision: Some(clock(r, ClockKind::Supervision)),
        forward: Some(clock(r, ClockKind::Forward)),
        by_district: counts(&t.by_district),
        referrals: t.referrals,
        reply: Some(clock(r, ClockKind::Reply)),
        suspended_tickets: t.suspended_tickets,
        suspensions: t.suspensions,
        callback: Some(clock(r, ClockKind::Callback)),
        unit_report: Some(clock(r, ClockKind::UnitReport)),
        result: Some(clock(r, ClockKind::Result)),
        caller_update: Some(clock(r, ClockKind::CallerUpdate)),
        referrer_update: Some(clock(r, ClockKind::ReferrerUpdate)),
        major_matters: t.major_matters,
        leadership: Some(clock(r, ClockKind::Leadership)),
        instruction: Some(clock(r, ClockKind::Instruction)),
        long_matter: Some(clock(r, ClockKind::LongMatter)),
        resolved: t.resolved,
        revisited: t.revisited,
        revisit_rate: rate(t.revisited, t.resolved),
        satisfied: t.satisfied,
        satisfaction_rate: rate(t.satisfied, t.revisited),
        returned_tickets: t.returned_tickets,
        returns: t.returns,
        redos: t.redos,
        supervised_tickets: t.supervised_tickets,
        supervision_notices: t.supervision_notices,
        repeat_repairs: t.repeat_repairs,
        breached_tickets: t.breached_tickets,
        temperature: Some(temperature(r)),
        outages: r
            .outages
            .iter()
            .map(|(kind, f)| {
                let figure = |on_time: i64, late: i64| pb::ClockFigure {
                    on_time,
                    late,
                    on_time_rate: rate(on_time, on_time + late),
                };
                pb::OutageFigures {
                    kind: kind.clone(),
                    outages: f.outages,
                    households: f.households,
                    household_hours: f.household_hours,
                    reports: Some(figure(f.reports_on_time, f.reports_late)),
                    notices: Some(figure(f.notices_on_time, f.notices_late)),
                    estimates: Some(figure(f.estimates_kept, f.estimates_missed)),
                }
            })
            .collect(),
    }
}

/// RFC 4180: quote a field that holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The report as CSV lines: `figure,key,value`, header first.
pub fn csv_lines(r: &pb::ServiceReport) -> Vec<String> {
    let mut rows: Vec<(&str, String, String)> = vec![
        ("unit", String::new(), r.unit.clone()),
        (
            "start_time",
            String::new(),
            opt(r.start_time.as_ref().map(ts_text)),
        ),
        (
            "end_time",
            String::new(),
            opt(r.end_time.as_ref().map(ts_text)),
        ),
        ("time_zone", String::new(), r.time_zone.clone()),
        ("tickets", String::new(), r.tickets.to_string()),
        ("cancelled", String::new(), r.cancelled.to_string()),
    ];
    for (figure, list) in [
        ("by_category", &r.by_category),
        ("by_source", &r.by_source),
        ("by_priority", &r.by_priority),
        ("by_type", &r.by_type),
        ("by_district", &r.by_district),
    ] {
        rows.extend(
            list.iter()
                .map(|c| (figure, c.key.clone(), c.count.to_string())),
        );
    }
    for (figure, c) in [
        ("accept", &r.accept),
        ("arrive", &r.arrive),
        ("resolve", &r.resolve),
        ("revisit", &r.revisit),
        ("feedback", &r.feedback),
        ("supervision", &r.supervision),
        ("forward", &r.forward),
        ("reply", &r.reply),
        ("callback", &r.callback),
        ("unit_report", &r.unit_report),
        ("result", &r.result),
        ("caller_update", &r.caller_update),
        ("referrer_update", &r.referrer_update),
        ("leadership", &r.leadership),
        ("instruction", &r.instruction),
        ("long_matter", &r.long_matter),
    ] {
        let c = c.unwrap_or_default();
        rows.push((figure, "on_time".into(), c.on_time.to_string()));
        rows.push((figure, "late".into(), c.late.to_string()));
        rows.push((figure, "on_time_rate".into(), opt(c.on_time_rate)));
    }
    for (figure, v) in [
        ("resolved", r.resolved.to_string()),
        ("revisited", r.revisited.to_string()),
        ("revisit_rate", opt(r.revisit_rate)),
        ("satisfied", r.satisfied.to_string()),
        ("satisfaction_rate", opt(r.satisfaction_rate)),
        ("returned_tickets", r.returned_tickets.to_string()),
        ("returns", r.returns.to_string()),
        ("redos", r.redos.to_string()),
        ("supervised_tickets", r.supervised_tickets.to_string()),
        ("supervision_notices", r.supervision_notices.to_string()),
        ("repeat_repairs", r.repeat_repairs.to_string()),
        ("breached_tickets", r.breached_tickets.to_string()),
        ("referrals", r.referrals.to_string()),
        ("suspended_tickets", r.suspended_tickets.to_string()),
        ("suspensions", r.suspensions.to_string()),
        ("major_matters", r.major_matters.to_string()),
    ] {
        rows.push((figure, String::new(), v));
    }
    let t = r.temperature.unwrap_or_default();
    for (key, v) in [
        ("visits", t.visits.to_string()),
        ("compliant", t.compliant.to_string()),
        ("non_compliant", t.non_compliant.to_string()),
        ("deemed_compliant", t.deemed_compliant.to_string()),
        ("exempt", t.exempt.to_string()),
        ("inconclusive", t.inconclusive.to_string()),
        ("compliance_rate", opt(t.compliance_rate)),
        ("target", t.target.to_string()),
        ("target_met", opt(t.target_met)),
        ("cold_households", t.cold_households.to_string()),
        ("new_cold_households", t.new_cold_households.to_string()),
    ] {
        rows.push(("temperature", key.into(), v));
    }
    // R-OUT-7: key "<KIND>.<figure>", e.g. EMERGENCY_REPAIR.household_hours.
    for o in &r.outages {
        let mut push =
            |what: &str, v: String| rows.push(("outages", format!("{}.{what}", o.kind), v));
        push("outages", o.outages.to_string());
        push("households", o.households.to_string());
        push("household_hours", o.household_hours.to_string());
        for (what, c) in [
            ("reports", &o.reports),
            ("notices", &o.notices),
            ("estimates", &o.estimates),
        ] {
            let c = c.unwrap_or_default();
            push(&format!("{what}_on_time"), c.on_time.to_string());
            push(&format!("{what}_late"), c.late.to_string());
        }
    }
    std::iter::once("figure,key,value".to_string())
        .chain(
            rows.into_iter()
                .map(|(f, k, v)| format!("{},{},{}", csv_field(f), csv_field(&k), csv_field(&v))),
        )
        .collect()
}

fn ts_text(t: &prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

#[tonic::async_trait]
impl Api for ReportApi {
    async fn get_service_report(
        &self,
        req: Request<pb::GetServiceReportRequest>,
    ) -> Reply<pb::ServiceReport> {
        let req = req.map(|m| (m.unit, m.period));
        let r = self.report(req).await?;
        Ok(Response::new(report_pb(&r)))
    }

    type ExportServiceReportStream = ExportStream;

    async fn export_service_report(
        &self,
        req: Request<pb::ExportServiceReportRequest>,
    ) -> Reply<ExportStream> {
        let req = req.map(|m| (m.unit, m.period));
        let r = self.report(req).await?;
        let lines = csv_lines(&report_pb(&r))
            .into_iter()
            .map(|line| Ok(pb::ExportServiceReportResponse { line }));
        Ok(Response::new(Box::pin(tokio_stream::iter(lines))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("METER_FAULT"), "METER_FAULT");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_has_a_header_and_every_figure_once() {
        let r = pb::ServiceReport {
            tickets: 3,
            by_category: vec![pb::CountByKey {
                key: "X,Y".into(),
                count: 3,
            }],
            ..Default::default()
        };
        let lines = csv_lines(&r);
        assert_eq!(lines[0], "figure,key,value");
        assert!(lines.contains(&"tickets,,3".to_string()));
        assert!(lines.contains(&"by_category,\"X,Y\",3".to_string()));
        assert!(lines.contains(&"accept,on_time_rate,".to_string()));
    }
}
