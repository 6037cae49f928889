//! An inspection visit (DOMAIN.md section 4): its facts, its readings and its
//! verdict. The rules themselves are in `protocol`; this is the aggregate
//! that applies them and decides what a visit may still accept.
use crate::domain::protocol::{
    NoAccess, ResidentOutcome, RoomMeasurement, RoomResult, RoomVerdict, TemperatureRules,
    VisitFacts, VisitResult, Void,
};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InspectionState {
    InProgress,
    Finished,
}

impl InspectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            InspectionState::InProgress => "IN_PROGRESS",
            InspectionState::Finished => "FINISHED",
        }
    }

    pub fn parse(s: &str) -> Option<InspectionState> {
        [InspectionState::InProgress, InspectionState::Finished]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The home being measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dwelling {
    pub household_id: Option<String>,
    pub address: Option<String>,
}

impl Dwelling {
    /// The key the cold-household archive groups visits by: the household id
    /// when known, else the address with case and spacing normalised.
    pub fn key(&self) -> String {
        match (&self.household_id, &self.address) {
            (Some(h), _) => format!("household:{}", h.trim()),
            (None, Some(a)) => format!(
                "address:{}",
                a.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            ),
            (None, None) => String::new(),
        }
    }
}

/// What the resident and inspector signed (R-TMP-7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOff {
    pub outcome: ResidentOutcome,
    pub objection: String,
    pub inspector_signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomReading {
    pub id: Uuid,
    pub inspection_id: Uuid,
    pub room_name: String,
    pub measurement: RoomMeasurement,
    pub result: RoomResult,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub id: Uuid,
    pub version: i64,
    pub state: InspectionState,
    pub dwelling: Dwelling,
    pub ticket_id: Option<Uuid>,
    pub inspector: String,
    pub unit: String,
    pub facts: VisitFacts,
    pub resident_name: String,
    pub resident_phone: String,
    /// Provisional while in progress, final once finished.
    pub result: VisitResult,
    pub sign_off: Option<SignOff>,
    pub objection_ticket_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// R-REC-3: when a retention run cleared the resident's personal data.
    #[serde(default)]
    pub personal_data_removed_at: Option<DateTime<Utc>>,
    /// Filled when the readings are loaded with the visit.
    #[serde(default)]
    pub readings: Vec<RoomReading>,
}

impl Inspection {
    pub fn subject(&self) -> String {
        format!("inspections/{}", self.id)
    }

    /// A finished visit accepts nothing more.
    pub fn ensure_open(&self) -> AppResult<()> {
        if self.state == InspectionState::Finished {
            return Err(AppError::precondition(
                reason::INSPECTION_FINISHED,
                self.subject(),
                "the visit is signed off and accepts no more readings",
            ));
        }
        Ok(())
    }

    /// Judge one new reading against the visit's facts (R-TMP-1..6, 12).
    pub fn judge_reading(
        &self,
        rules: &TemperatureRules,
        tz: chrono_tz::Tz,
        id: Uuid,
        room_name: String,
        m: RoomMeasurement,
        now: DateTime<Utc>,
    ) -> RoomReading {
        let result = rules.judge_room(tz, &self.facts, &m);
        RoomReading {
            id,
            inspection_id: self.id,
            room_name,
            measurement: m,
            result,
            received_at: now,
        }
    }

    /// The visit after a reading was added: provisional verdict recomputed.
    pub fn with_reading(
        &self,
        rules: &TemperatureRules,
        verdicts: &[RoomVerdict],
        now: DateTime<Utc>,
    ) -> Inspection {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next.result = rules.judge_visit(&self.facts, verdicts, None);
        next
    }

    /// R-TMP-9: void a reading recorded by mistake. It stays on the record,
    /// marked, and no longer counts; the provisional verdict is judged again
    /// over the readings that still count. A signed record is never altered.
    pub fn void_reading(
        &self,
        rules: &TemperatureRules,
        readings: &[RoomReading],
        reading_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> AppResult<(Inspection, RoomReading)> {
        self.ensure_open()?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AppError::missing("reason"));
        }
        let reading = readings
            .iter()
            .find(|r| r.id == reading_id)
            .ok_or_else(|| {
                AppError::not_found(
                    reason::READING_NOT_FOUND,
                    format!("reading {reading_id} is not one of this visit's"),
                )
            })?;
        if reading.result.voided.is_some() {
            return Err(AppError::precondition(
                reason::READING_VOIDED,
                self.subject(),
                format!("reading {reading_id} is void already"),
            ));
        }
        let mut voided = reading.clone();
        voided.result.voided = Some(Void {
            reason: reason.to_string(),
            at: now,
        });
        let after: Vec<RoomReading> = readings
            .iter()
            .map(|r| {
                if r.id == reading_id {
                    voided.clone()
                } else {
                    r.clone()
                }
            })
            .collect();
        Ok((self.with_reading(rules, &counted(&after), now), voided))
    }

    /// R-TMP-9, R-TMP-11: close a visit where nothing could be measured. A
    /// visit with readings that count was measured: it is finished (signed)
    /// or its readings voided first, or NO_ACCESS would hide a cold room
    /// from the compliance rate and the cold-household archive.
    pub fn abandon(
        &self,
        readings: &[RoomReading],
        no_access: NoAccess,
        now: DateTime<Utc>,
    ) -> AppResult<Inspection> {
        self.ensure_open()?;
        if !counted(readings).is_empty() {
            return Err(AppError::precondition(
                reason::VISIT_MEASURED,
                self.subject(),
                "readings that count were taken: finish the visit, or void them if they were a mistake",
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next.finished_at = Some(now);
        next.state = InspectionState::Finished;
        next.result = VisitResult::no_access(no_access);
        Ok(next)
    }

    /// R-TMP-7, R-TMP-9: sign-off gives the final verdict.
    pub fn finish(
        &self,
        rules: &TemperatureRules,
        verdicts: &[RoomVerdict],
        sign_off: SignOff,
        now: DateTime<Utc>,
    ) -> AppResult<Inspection> {
        self.ensure_open()?;
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next.finished_at = Some(now);
        next.state = InspectionState::Finished;
        next.result = rules.judge_visit(&self.facts, verdicts, Some(sign_off.outcome));
        next.sign_off = Some(sign_off);
        Ok(next)
    }
}

/// The verdicts that count toward a visit's: every reading not voided.
pub fn counted(readings: &[RoomReading]) -> Vec<RoomVerdict> {
    readings
        .iter()
        .filter(|r| r.result.voided.is_none())
        .map(|r| r.result.verdict)
        .collect()
}
