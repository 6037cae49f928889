//! AssessmentService handlers (DOMAIN.md section 8): decode, call the
//! service, encode the item or the sheet (as a message or as a CSV file).
use super::auth::caller;
use super::convert::{self as cv, ts};
use super::mutation::{MutationRequest, run};
use super::pb::{self, assessment_service_server::AssessmentService as Api};
use super::reports::period_of;
use crate::domain::Method;
use crate::domain::assessment::{
    AssessmentItem, ItemStatus, NewReward, RewardKind, SheetLine, Verdict,
};
use crate::error::{AppError, AppResult, reason};
use crate::service::AssessmentService;
use crate::service::assessment::Sheet;
use crate::service::command::{Command, Commands};
use crate::storage::assessment::ItemFilter;
use prost::Message;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub struct AssessmentApi {
    svc: AssessmentService,
    commands: Commands,
}

impl AssessmentApi {
    pub fn new(svc: AssessmentService, commands: Commands) -> AssessmentApi {
        AssessmentApi { svc, commands }
    }

    async fn sheet(
        &self,
        req: Request<(String, Option<pb::ReportPeriod>)>,
        method: Method,
    ) -> Result<Sheet, Status> {
        let who = caller(&req)?;
        let (unit, period) = req.into_inner();
        let period = period_of(period.as_ref())?;
        Ok(self
            .svc
            .sheet(&who, method, cv::non_empty(unit.trim()), period)
            .await?)
    }
}

type Reply<T> = Result<Response<T>, Status>;
type ExportStream =
    Pin<Box<dyn Stream<Item = Result<pb::ExportAssessmentSheetResponse, Status>> + Send>>;

fn status_pb(s: ItemStatus) -> i32 {
    cv::to_wire(ItemStatus::ALL, s)
}

fn verdict_pb(v: &Option<Verdict>) -> Option<pb::ItemVerdict> {
    v.as_ref().map(|v| pb::ItemVerdict {
        by: v.by.clone(),
        time: Some(ts(v.at)),
        text: v.text.clone(),
    })
}

pub fn item_pb(i: &AssessmentItem) -> pb::AssessmentItem {
    pb::AssessmentItem {
        id: i.id.to_string(),
        version: i.version,
        kind: i.kind.clone(),
        reward: i.reward,
        unit: i.unit.clone(),
        person: i.person.clone().unwrap_or_default(),
        ticket_id: i.ticket_id.map(|t| t.to_string()).unwrap_or_default(),
        outage_id: i.outage_id.map(|o| o.to_string()).unwrap_or_default(),
        cause_version: i.cause_version,
        cause_key: i.cause_key.clone(),
        occur_time: Some(ts(i.occurred_at)),
        raise_time: Some(ts(i.raised_at)),
        raised_by: i.raised_by.clone(),
        points: i.points,
        unit_yuan: i.unit_yuan,
        person_yuan: i.person_yuan,
        status: status_pb(i.status),
        note: i.note.clone(),
        contest: verdict_pb(&i.contest),
        decision: verdict_pb(&i.decision),
    }
}

fn line_pb(l: &SheetLine) -> pb::SheetLine {
    pb::SheetLine {
        unit: l.unit.clone(),
        person: l.person.clone().unwrap_or_default(),
        items: l.items,
        points: l.points,
        deducted_yuan: l.deducted_yuan,
        contested: l.contested,
        waived: l.waived,
        rewards: l.rewards,
        reward_yuan: l.reward_yuan,
        net_yuan: l.net_yuan(),
    }
}

pub fn sheet_pb(s: &Sheet) -> pb::AssessmentSheet {
    pb::AssessmentSheet {
        unit: s.unit.clone().unwrap_or_default(),
        start_time: Some(ts(s.span.start)),
        end_time: Some(ts(s.span.end)),
        generate_time: Some(ts(s.generated_at)),
        time_zone: s.time_zone.name().to_string(),
        units: s.units.iter().map(line_pb).collect(),
        persons: s.persons.iter().map(line_pb).collect(),
    }
}

/// The CSV's byte-order mark: Excel reads the file as UTF-8 only with it.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The sheet's header, in Chinese for the enterprise management department.
const CSV_HEADER: &str =
    "级别,单位,人员,扣分项,扣分,扣款(元),申诉中,已撤销,奖励项,奖励(元),合计(元)";

/// RFC 4180 quoting for a field that needs it.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn csv_line(level: &str, l: &SheetLine) -> String {
    // Rewards to reporters from outside the utility have no unit.
    let unit = if l.unit.is_empty() {
        "(外部)"
    } else {
        &l.unit
    };
    format!(
        "{level},{},{},{},{},{},{},{},{},{},{}\r\n",
        csv_field(unit),
        csv_field(l.person.as_deref().unwrap_or("")),
        l.items,
        l.points,
        l.deducted_yuan,
        l.contested,
        l.waived,
        l.rewards,
        l.reward_yuan,
        l.net_yuan(),
    )
}

/// R-ASM-4: the sheet as a CSV file: the BOM, a header, the unit lines
/// ("单位"), then the person lines ("个人").
pub fn sheet_csv(s: &Sheet) -> Vec<u8> {
    let mut out = BOM.to_vec();
    out.extend_from_slice(CSV_HEADER.as_bytes());
    out.extend_from_slice(b"\r\n");
    for l in &s.units {
        out.extend_from_slice(csv_line("单位", l).as_bytes());
    }
    for l in &s.persons {
        out.extend_from_slice(csv_line("个人", l).as_bytes());
    }
    out
}

/// Bytes per streamed chunk of the export.
const CHUNK: usize = 64 * 1024;

fn required_text(v: &str, field: &str) -> AppResult<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(AppError::missing(field));
    }
    Ok(v.to_string())
}

fn amount(v: Option<i64>, field: &str) -> AppResult<Option<i64>> {
    match v {
        Some(a) if a < 0 => Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!("{field} must not be negative"),
        )),
        v => Ok(v),
    }
}

#[tonic::async_trait]
impl Api for AssessmentApi {
    async fn list_assessment_items(
        &self,
        req: Request<pb::ListAssessmentItemsRequest>,
    ) -> Reply<pb::ListAssessmentItemsResponse> {
        let who = caller(&req)?;
        let m = req.into_inner();
        let status = cv::from_wire(ItemStatus::ALL, m.status, "status")?;
        let kind = cv::non_empty(m.kind.trim());
        if let Some(k) = &kind
            && crate::domain::assessment::ItemClass::parse(k).is_none()
        {
            return Err(AppError::invalid(
                "kind",
                reason::INVALID_FIELD,
                format!("unknown item kind {}", crate::error::echo(k)),
            )
            .into());
        }
        let period = m.period.as_ref().map(|p| period_of(Some(p))).transpose()?;
        let filter = ItemFilter {
            unit: cv::non_empty(m.unit.trim()),
            person: cv::non_empty(m.person.trim()),
            kind,
            status,
            span: None,
            recused_sub: None,
        };
        let page = self
            .svc
            .list(&who, filter, period, m.page_size, &m.page_token, |i| {
                item_pb(i).encoded_len()
            })
            .await?;
        Ok(Response::new(pb::ListAssessmentItemsResponse {
            items: page.items.iter().map(item_pb).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn contest_item(
        &self,
        req: Request<pb::ContestItemRequest>,
    ) -> Reply<pb::AssessmentItem> {
        run(&self.commands, req).await
    }

    async fn decide_contest(
        &self,
        req: Request<pb::DecideContestRequest>,
    ) -> Reply<pb::AssessmentItem> {
        run(&self.commands, req).await
    }

    async fn record_reward(
        &self,
        req: Request<pb::RecordRewardRequest>,
    ) -> Reply<pb::AssessmentItem> {
        run(&self.commands, req).await
    }

    async fn get_assessment_sheet(
        &self,
        req: Request<pb::GetAssessmentSheetRequest>,
    ) -> Reply<pb::AssessmentSheet> {
        let req = req.map(|m| (m.unit, m.period));
        let sheet = self.sheet(req, Method::GetAssessmentSheet).await?;
        Ok(Response::new(sheet_pb(&sheet)))
    }

    type ExportAssessmentSheetStream = ExportStream;

    async fn export_assessment_sheet(
        &self,
        req: Request<pb::ExportAssessmentSheetRequest>,
    ) -> Reply<Self::ExportAssessmentSheetStream> {
        let req = req.map(|m| (m.unit, m.period));
        let sheet = self.sheet(req, Method::ExportAssessmentSheet).await?;
        let csv = sheet_csv(&sheet);
        let chunks: Vec<Result<pb::ExportAssessmentSheetResponse, Status>> = csv
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                Ok(pb::ExportAssessmentSheetResponse {
                    data: c.to_vec(),
                    content_type: if i == 0 {
                        "text/csv; charset=utf-8".into()
                    } else {
                        String::new()
                    },
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

impl MutationRequest for pb::ContestItemRequest {
    const METHOD: Method = Method::ContestItem;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::ContestItem {
            item: cv::id(&self.item_id, "item_id")?,
            reason: required_text(&self.reason, "reason")?,
        })
    }
}

impl MutationRequest for pb::DecideContestRequest {
    const METHOD: Method = Method::DecideContest;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, self.expected_version, "")
    }
    fn command(&self) -> AppResult<Command> {
        Ok(Command::DecideContest {
            item: cv::id(&self.item_id, "item_id")?,
            uphold: self.uphold,
            note: required_text(&self.note, "note")?,
        })
    }
}

impl MutationRequest for pb::RecordRewardRequest {
    const METHOD: Method = Method::RecordReward;
    fn meta_fields(&self) -> (&str, i64, &str) {
        (&self.request_id, 0, "")
    }
    fn command(&self) -> AppResult<Command> {
        let kind = cv::from_wire(RewardKind::ALL, self.kind, "kind")?
            .ok_or_else(|| AppError::missing("kind"))?;
        let ticket = cv::id(&self.ticket_id, "ticket_id")?;
        let unit = self.unit.trim().to_string();
        let person = cv::non_empty(self.person.trim());
        let unit_yuan = amount(self.unit_yuan, "unit_yuan")?;
        let person_yuan = amount(self.person_yuan, "person_yuan")?;
        if kind == RewardKind::LeakReport {
            // [003 §30] fixes the leak reward and whom it goes to.
            for (given, field) in [
                (!unit.is_empty(), "unit"),
                (person.is_some(), "person"),
                (unit_yuan.is_some(), "unit_yuan"),
                (person_yuan.is_some(), "person_yuan"),
            ] {
                if given {
                    return Err(AppError::invalid(
                        field,
                        reason::INVALID_FIELD,
                        format!(
                            "a leak reward takes no {field}: the ticket's reporter and the policy's figure"
                        ),
                    ));
                }
            }
        } else if unit.is_empty() {
            return Err(AppError::missing("unit"));
        }
        Ok(Command::RecordReward(NewReward {
            kind,
            ticket,
            unit,
            person,
            unit_yuan,
            person_yuan,
            note: self.note.trim().to_string(),
        }))
    }
}
