//! Assessment (考核, DOMAIN.md section 8): the kinds of item the record
//! raises against units and staff (R-ASM-1) and the rewards (R-ASM-3), with
//! the policy's table of points and amounts. Amounts are whole yuan.
use crate::domain::outage::{Outage, OutageClock};
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{SourceChannel, TicketType};
use crate::domain::wire_enum::wire_enum;
use crate::domain::{Caller, Ticket};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What raises an item (R-ASM-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// A ticket's clock breached (a late call-back is REVISIT, a ticket not
    /// forwarded in time FORWARD, a late platform reply REPLY).
    Breach(ClockKind),
    /// An interruption's report or notice clock breached (R-OUT-2..4).
    OutageBreach(OutageClock),
    /// A repair repeated within 90 days (R-TKT-11).
    RepeatRepair,
    /// A complaint that reached a government platform or the media because
    /// of the handling.
    EscalatedComplaint,
    /// Two or more complaints from one caller about one matter (R-TKT-10).
    RepeatComplaint,
}

fn clock_code(k: ClockKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl ItemKind {
    /// Every kind, in a stable order.
    pub fn all() -> Vec<ItemKind> {
        let mut all: Vec<ItemKind> = ClockKind::ALL.into_iter().map(ItemKind::Breach).collect();
        all.extend(OutageClock::ALL.iter().map(|c| ItemKind::OutageBreach(*c)));
        all.extend([
            ItemKind::RepeatRepair,
            ItemKind::EscalatedComplaint,
            ItemKind::RepeatComplaint,
        ]);
        all
    }

    /// The stable name (`BREACH_ACCEPT`, `OUTAGE_BREACH_CITY_HOTLINE`, ...).
    pub fn code(self) -> String {
        match self {
            ItemKind::Breach(k) => format!("BREACH_{}", clock_code(k)),
            ItemKind::OutageBreach(c) => format!("OUTAGE_BREACH_{}", c.as_str()),
            ItemKind::RepeatRepair => "REPEAT_REPAIR".into(),
            ItemKind::EscalatedComplaint => "ESCALATED_COMPLAINT".into(),
            ItemKind::RepeatComplaint => "REPEAT_COMPLAINT".into(),
        }
    }

    pub fn parse(code: &str) -> Option<ItemKind> {
        ItemKind::all().into_iter().find(|k| k.code() == code)
    }
}

/// Points and deductions of one item kind (R-ASM-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deduction {
    pub points: i32,
    /// Deducted from the responsible unit.
    pub unit_yuan: i64,
    /// Deducted from the responsible person, where known.
    pub person_yuan: i64,
}

/// A reward to a unit and to a person (R-ASM-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    pub unit_yuan: i64,
    pub person_yuan: i64,
}

/// R-ASM-3 [003 §30]: the first to report a leak that proves real, by the
/// pipe's diameter and whether a member of staff reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakReward {
    /// From this nominal diameter on, the larger amounts.
    pub large_from_mm: i32,
    pub small_internal_yuan: i64,
    pub small_external_yuan: i64,
    pub large_internal_yuan: i64,
    pub large_external_yuan: i64,
}

impl LeakReward {
    pub fn amount(&self, diameter_mm: i32, internal: bool) -> i64 {
        match (diameter_mm >= self.large_from_mm, internal) {
            (false, true) => self.small_internal_yuan,
            (false, false) => self.small_external_yuan,
            (true, true) => self.large_internal_yuan,
            (true, false) => self.large_external_yuan,
        }
    }
}

/// The policy's assessment table (section 8).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRules {
    /// Item kind code -> its points and deductions.
    #[serde(default)]
    pub items: BTreeMap<String, Deduction>,
    /// R-ASM-3 [003 §29]: praise by the city or provincial media, by city or
    /// bureau authorities, by national media or provincial government.
    #[serde(default)]
    pub praise_media: Reward,
    #[serde(default)]
    pub praise_authority: Reward,
    #[serde(default)]
    pub praise_national: Reward,
    #[serde(default)]
    pub leak_report: LeakReward,
}

impl AssessmentRules {
    /// Unknown kinds and negative figures are refused when the policy loads.
    pub fn validate(&self) -> Result<(), String> {
        for (code, d) in &self.items {
            if ItemKind::parse(code).is_none() {
                return Err(format!("assessment.items: unknown item kind {code}"));
            }
            if d.points < 0 || d.unit_yuan < 0 || d.person_yuan < 0 {
                return Err(format!(
                    "assessment.items.{code}: figures must not be negative"
                ));
            }
        }
        let rewards = [
            self.praise_media,
            self.praise_authority,
            self.praise_national,
        ];
        let l = &self.leak_report;
        let negative = rewards.iter().any(|r| r.unit_yuan < 0 || r.person_yuan < 0)
            || [
                l.small_internal_yuan,
                l.small_external_yuan,
                l.large_internal_yuan,
                l.large_external_yuan,
            ]
            .iter()
            .any(|a| *a < 0)
            || l.large_from_mm < 0;
        if negative {
            return Err("assessment rewards must not be negative".into());
        }
        Ok(())
    }

    /// The table's entry for `kind` (a kind the table leaves out raises no item).
    pub fn deduction(&self, kind: ItemKind) -> Option<Deduction> {
        self.items.get(&kind.code()).copied()
    }
}

wire_enum! {
    /// R-ASM-3: what a reward is for.
    RewardKind {
        /// Praise by the city or provincial media [003 §29(一)].
        PraiseMedia = "PRAISE_MEDIA",
        /// Praise in a city or bureau notice [003 §29(二)].
        PraiseAuthority = "PRAISE_AUTHORITY",
        /// Praise by the provincial government or national media [003 §29(三)].
        PraiseNational = "PRAISE_NATIONAL",
        /// The first to report a leak that proved real [003 §30].
        LeakReport = "LEAK_REPORT",
    }
}

wire_enum! {
    /// R-ASM-2: where an item stands. RAISED -> CONTESTED -> UPHELD | WAIVED;
    /// a reward is RAISED for good.
    ItemStatus {
        Raised = "RAISED",
        Contested = "CONTESTED",
        Upheld = "UPHELD",
        Waived = "WAIVED",
    }
}

impl ItemStatus {
    /// A waived item counts nowhere (R-ASM-2); every other one counts.
    pub fn counts(self) -> bool {
        self != ItemStatus::Waived
    }
}

/// What an item is: a deduction of a kind the record raised, or a reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemClass {
    Deduction(ItemKind),
    Reward(RewardKind),
}

impl ItemClass {
    /// The stable name stored and shown (`BREACH_ARRIVE`, `LEAK_REPORT`).
    pub fn code(self) -> String {
        match self {
            ItemClass::Deduction(k) => k.code(),
            ItemClass::Reward(r) => r.as_str().to_string(),
        }
    }

    pub fn parse(code: &str) -> Option<ItemClass> {
        RewardKind::parse(code)
            .map(ItemClass::Reward)
            .or_else(|| ItemKind::parse(code).map(ItemClass::Deduction))
    }

    pub fn is_reward(self) -> bool {
        matches!(self, ItemClass::Reward(_))
    }
}

/// Who answers for an item: a unit and, where known, a person (R-ASM-1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Responsible {
    pub unit: String,
    pub person: Option<String>,
}

/// Who answers for a missed ticket clock (R-ASM-1), as the ticket stood
/// when the clock ran out:
/// - the first-responsible person follows the matter through with the
///   caller and the referrer (R-TKT-1 首问负责, [000 四.8]): forwarding, the
///   call-back of a matter answered by phone, the call-back after the
///   repair, the feedback, the result and the updates are his and his
///   unit's;
/// - the crew's clocks (accept, arrive, resolve, a supervision notice, the
///   unit's report, the 7-day limit) are the handling unit's and the crew
///   member's holding the ticket;
/// - the platform's reply is the handling unit's, which answers to dispatch
///   for its matter ([003 §16]);
/// - a major matter's reports and the leader's deadline are the handling
///   unit's and the person named answerable for it (R-TKT-17).
///
/// A ticket never dispatched is its recorder's unit's; one recorded before
/// the recorder's unit was kept, the handling unit's.
pub fn responsible_for(t: &Ticket, clock: ClockKind) -> Responsible {
    use ClockKind as C;
    let recorder_unit = if t.received_unit.is_empty() {
        t.unit.clone().unwrap_or_default()
    } else {
        t.received_unit.clone()
    };
    let handling = t.unit.clone().unwrap_or_else(|| recorder_unit.clone());
    let (unit, person) = match clock {
        C::Forward
        | C::Callback
        | C::Revisit
        | C::Feedback
        | C::Result
        | C::CallerUpdate
        | C::ReferrerUpdate => (recorder_unit, Some(t.received_by.clone())),
        C::Accept | C::Arrive | C::Resolve | C::Supervision | C::UnitReport | C::LongMatter => {
            (handling, t.assignee.clone())
        }
        C::Reply => (handling, None),
        C::Leadership | C::Instruction => (
            handling,
            t.major
                .as_ref()
                .map(|m| m.responsible.clone())
                .filter(|r| !r.trim().is_empty()),
        ),
    };
    Responsible { unit, person }
}

/// Who answers for an earlier ticket that a new call shows was not handled
/// well (a repeat repair, a repeat or escalated complaint): whoever held it.
pub fn responsible_for_matter(earlier: &Ticket) -> Responsible {
    responsible_for(earlier, ClockKind::Resolve)
}

/// An item about to be raised: its cause (unique), what and whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// One item per cause, whoever raises it and however often.
    pub cause_key: String,
    pub class: ItemClass,
    pub responsible: Responsible,
    /// R-TKT-13: staff kept away from the ticket that caused it.
    pub hidden_from: Vec<String>,
    pub ticket_id: Option<Uuid>,
    pub outage_id: Option<Uuid>,
    /// The version of the ticket or outage whose change raised it.
    pub cause_version: i64,
    /// When it happened (a breach: its deadline): the month it counts in.
    pub occurred_at: DateTime<Utc>,
    pub note: String,
}

/// What one ticket write means for assessment, each side's missed
/// deadlines computed once (every ticket write asks).
pub struct TicketAssessment {
    /// R-ASM-1: one item per deadline newly missed. Keyed by ticket, clock
    /// and deadline, so the monitor's breach and a late event of the same
    /// deadline raise one item.
    pub raised: Vec<NewItem>,
    /// R-SLA-7: the causes the write shows were no failure after all (a
    /// breach whose event, synced late with a trusted device time, came in
    /// time): their items are waived by the system.
    pub excused: Vec<String>,
}

pub fn ticket_assessment(before: Option<&Ticket>, after: &Ticket) -> TicketAssessment {
    let earlier = before.map(Ticket::missed_deadlines).unwrap_or_default();
    let now = after.missed_deadlines();
    let excused = earlier
        .iter()
        .filter(|m| !now.contains(m))
        .map(|(clock, deadline)| breach_key(after, *clock, *deadline))
        .collect();
    // Whoever answered for the clock when it ran out: the ticket before the
    // write (a late claim does not make the claimer answer for the accept
    // clock the monitor would have charged to the unit alone).
    let then = before.unwrap_or(after);
    let raised = now
        .into_iter()
        .filter(|m| !earlier.contains(m))
        .map(|(clock, deadline)| {
            let kind = ItemKind::Breach(clock);
            NewItem {
                cause_key: breach_key(after, clock, deadline),
                class: ItemClass::Deduction(kind),
                responsible: responsible_for(then, clock),
                hidden_from: after.recused_staff().map(str::to_string).collect(),
                ticket_id: Some(after.id),
                outage_id: None,
                cause_version: after.version,
                occurred_at: deadline,
                note: format!(
                    "{} deadline {} missed",
                    clock_code(clock),
                    deadline.to_rfc3339()
                ),
            }
        })
        .collect();
    TicketAssessment { raised, excused }
}

/// The items a ticket's write raises (`ticket_assessment`'s `raised`).
pub fn ticket_items(before: Option<&Ticket>, after: &Ticket) -> Vec<NewItem> {
    ticket_assessment(before, after).raised
}

fn breach_key(t: &Ticket, clock: ClockKind, deadline: DateTime<Utc>) -> String {
    format!(
        "ticket:{}:{}:{}",
        t.id,
        ItemKind::Breach(clock).code(),
        deadline.timestamp_micros()
    )
}

/// R-ASM-1: the items an outage's write causes: one per report or notice
/// deadline newly breached (R-OUT-2..4), against the unit in charge and
/// its responsible person.
pub fn outage_items(before: Option<&Outage>, after: &Outage) -> Vec<NewItem> {
    let known = |b: &crate::domain::outage::OutageBreach| {
        before.is_some_and(|o| {
            o.breaches
                .iter()
                .any(|x| x.clock == b.clock && x.deadline == b.deadline)
        })
    };
    after
        .breaches
        .iter()
        .filter(|b| !known(b))
        .map(|b| {
            let kind = ItemKind::OutageBreach(b.clock);
            NewItem {
                cause_key: format!(
                    "outage:{}:{}:{}",
                    after.id,
                    kind.code(),
                    b.deadline.timestamp_micros()
                ),
                class: ItemClass::Deduction(kind),
                responsible: Responsible {
                    unit: after.unit.clone(),
                    person: Some(after.responsible.clone()).filter(|p| !p.trim().is_empty()),
                },
                hidden_from: Vec::new(),
                ticket_id: None,
                outage_id: Some(after.id),
                cause_version: after.version,
                occurred_at: b.deadline,
                note: format!(
                    "{} deadline {} missed",
                    b.clock.as_str(),
                    b.deadline.to_rfc3339()
                ),
            }
        })
        .collect()
}

/// Sources through which a complaint reaches a government platform or the
/// media (R-ASM-1, [004 八(三)]); a property office is neither.
pub fn escalated_source(s: SourceChannel) -> bool {
    use SourceChannel as S;
    matches!(
        s,
        S::CityHotline
            | S::SupervisionHotline
            | S::ServiceHotline
            | S::DigitalCity
            | S::OnlineConduct
            | S::Media
            | S::Government
    )
}

/// R-ASM-1: the items a new call raises against the handling of earlier
/// ones: a repair repeated within the window (R-TKT-11) against the unit
/// that did it; a second complaint by one caller about one matter
/// (R-TKT-10), once per matter, against the unit that had the first; a
/// complaint brought to a platform or the media after the caller came to
/// the utility first, each time, against the same unit.
pub fn intake_items(
    t: &Ticket,
    repeated_repair: Option<&Ticket>,
    first_of_matter: Option<&Ticket>,
) -> Vec<NewItem> {
    let item = |cause_key: String, kind: ItemKind, earlier: &Ticket, what: &str| NewItem {
        cause_key,
        class: ItemClass::Deduction(kind),
        responsible: responsible_for_matter(earlier),
        hidden_from: t.recused_staff().map(str::to_string).collect(),
        ticket_id: Some(t.id),
        outage_id: None,
        cause_version: t.version,
        occurred_at: t.received_at,
        note: format!("{what} ticket {}", earlier.id),
    };
    let mut items = Vec::new();
    if let Some(e) = repeated_repair {
        let key = format!("ticket:{}:{}", t.id, ItemKind::RepeatRepair.code());
        items.push(item(
            key,
            ItemKind::RepeatRepair,
            e,
            "repeats the repair of",
        ));
    }
    // Praise and a question are not complaints; an anonymous number is no one caller.
    let complains = !matches!(t.ticket_type, TicketType::Praise | TicketType::Consultation);
    if let Some(first) = first_of_matter.filter(|_| complains && !t.caller_key().is_empty()) {
        let key = format!("matter:{}:{}", first.id, ItemKind::RepeatComplaint.code());
        items.push(item(key, ItemKind::RepeatComplaint, first, "the matter of"));
        let complaint = matches!(
            t.ticket_type,
            TicketType::Complaint | TicketType::MediaExposure
        );
        if complaint && escalated_source(t.source) {
            let key = format!("ticket:{}:{}", t.id, ItemKind::EscalatedComplaint.code());
            items.push(item(
                key,
                ItemKind::EscalatedComplaint,
                first,
                "escalated from",
            ));
        }
    }
    items
}

/// A decision on record: who, when, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub by: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// One assessment item (R-ASM-1..3). Its figures are the policy's when it
/// was raised: a later policy change does not rewrite a past month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentItem {
    pub id: Uuid,
    pub version: i64,
    pub cause_key: String,
    /// The class's code (`BREACH_ARRIVE`, `LEAK_REPORT`).
    pub kind: String,
    pub reward: bool,
    pub unit: String,
    pub person: Option<String>,
    /// R-TKT-13: staff who may not see it (kept away from its ticket).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_from: Vec<String>,
    pub ticket_id: Option<Uuid>,
    pub outage_id: Option<Uuid>,
    pub cause_version: i64,
    pub occurred_at: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
    pub raised_by: String,
    pub points: i32,
    pub unit_yuan: i64,
    pub person_yuan: i64,
    pub status: ItemStatus,
    pub note: String,
    pub contest: Option<Verdict>,
    pub decision: Option<Verdict>,
}

/// Who raises the items the record causes.
pub const SYSTEM: &str = "system";

impl AssessmentItem {
    /// A deduction as the policy's table prices it; None when the table
    /// leaves the kind out (a utility that does not assess it).
    pub fn deduction(
        id: Uuid,
        n: NewItem,
        rules: &AssessmentRules,
        now: DateTime<Utc>,
    ) -> Option<AssessmentItem> {
        let ItemClass::Deduction(kind) = n.class else {
            return None;
        };
        let d = rules.deduction(kind)?;
        let person_yuan = if n.responsible.person.is_some() {
            d.person_yuan
        } else {
            0
        };
        Some(AssessmentItem::new(
            id,
            n,
            (d.points, d.unit_yuan, person_yuan),
            SYSTEM,
            now,
        ))
    }

    /// A reward of `amounts` (unit, person) yuan, recorded by `by`.
    pub fn reward(
        id: Uuid,
        n: NewItem,
        amounts: (i64, i64),
        by: &str,
        now: DateTime<Utc>,
    ) -> AssessmentItem {
        AssessmentItem::new(id, n, (0, amounts.0, amounts.1), by, now)
    }

    fn new(
        id: Uuid,
        n: NewItem,
        (points, unit_yuan, person_yuan): (i32, i64, i64),
        by: &str,
        now: DateTime<Utc>,
    ) -> AssessmentItem {
        AssessmentItem {
            id,
            version: 1,
            cause_key: n.cause_key,
            kind: n.class.code(),
            reward: n.class.is_reward(),
            unit: n.responsible.unit,
            person: n.responsible.person,
            hidden_from: n.hidden_from,
            ticket_id: n.ticket_id,
            outage_id: n.outage_id,
            cause_version: n.cause_version,
            occurred_at: n.occurred_at,
            raised_at: now,
            raised_by: by.to_string(),
            points,
            unit_yuan,
            person_yuan,
            status: ItemStatus::Raised,
            note: n.note,
            contest: None,
            decision: None,
        }
    }

    /// R-SLA-7: the cause proved no failure (the event came in time by
    /// its trusted device time): the system waives the item, unless a
    /// supervisor has decided it already.
    pub fn excuse(&self, now: DateTime<Utc>) -> Option<AssessmentItem> {
        if !matches!(self.status, ItemStatus::Raised | ItemStatus::Contested) {
            return None;
        }
        let mut next = self.clone();
        next.version += 1;
        next.status = ItemStatus::Waived;
        next.decision = Some(Verdict {
            by: SYSTEM.into(),
            at: now,
            text: "the event came in time by its device time (R-SLA-7)".into(),
        });
        Some(next)
    }

    /// R-ASM-2: the unit's head contests a raised deduction against his
    /// unit, with a reason.
    pub fn contest(
        &self,
        caller: &Caller,
        reason_text: &str,
        now: DateTime<Utc>,
    ) -> AppResult<AssessmentItem> {
        if caller.unit != self.unit {
            return Err(AppError::denied(
                reason::WRONG_UNIT,
                "only the head of the item's unit contests it",
            ));
        }
        if self.reward || self.status != ItemStatus::Raised {
            return Err(AppError::precondition(
                reason::NOT_CONTESTABLE,
                "assessment_item",
                format!(
                    "a {} item cannot be contested",
                    if self.reward {
                        "reward"
                    } else {
                        self.status.as_str()
                    }
                ),
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.status = ItemStatus::Contested;
        next.contest = Some(Verdict {
            by: caller.sub.clone(),
            at: now,
            text: reason_text.to_string(),
        });
        Ok(next)
    }

    /// R-ASM-2: a dispatch-centre supervisor upholds or waives a contest;
    /// no unit's head decides one, his own unit's or a peer's (`unit_head`:
    /// the caller's unit is a service unit).
    pub fn decide(
        &self,
        caller: &Caller,
        unit_head: bool,
        uphold: bool,
        note: &str,
        now: DateTime<Utc>,
    ) -> AppResult<AssessmentItem> {
        if unit_head || caller.unit == self.unit {
            return Err(AppError::denied(
                reason::NOT_DISPATCH_CENTRE,
                "contests are decided by a dispatch-centre supervisor, not by a unit's head",
            ));
        }
        if self.status != ItemStatus::Contested {
            return Err(AppError::precondition(
                reason::NO_PENDING_CONTEST,
                "assessment_item",
                format!("the item is {}, not contested", self.status.as_str()),
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.status = if uphold {
            ItemStatus::Upheld
        } else {
            ItemStatus::Waived
        };
        next.decision = Some(Verdict {
            by: caller.sub.clone(),
            at: now,
            text: note.to_string(),
        });
        Ok(next)
    }
}

/// One group of items as the database sums them for the sheet: one unit
/// and person (None: no person named), deductions or rewards, one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetGroup {
    pub unit: String,
    pub person: Option<String>,
    pub reward: bool,
    pub status: ItemStatus,
    pub items: i64,
    pub points: i64,
    pub unit_yuan: i64,
    pub person_yuan: i64,
}

/// One line of the monthly sheet (R-ASM-4): a unit's, or a person's in a unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SheetLine {
    pub unit: String,
    pub person: Option<String>,
    /// Deductions that count: raised, contested (pending), upheld.
    pub items: i64,
    pub points: i64,
    pub deducted_yuan: i64,
    /// Deductions waiting for a decision (counted), and waived (not counted).
    pub contested: i64,
    pub waived: i64,
    pub rewards: i64,
    pub reward_yuan: i64,
}

impl SheetLine {
    pub fn net_yuan(&self) -> i64 {
        self.reward_yuan - self.deducted_yuan
    }

    fn add(&mut self, g: &SheetGroup, yuan: i64) {
        if g.reward {
            self.rewards += g.items;
            self.reward_yuan += yuan;
            return;
        }
        match g.status {
            ItemStatus::Waived => self.waived += g.items,
            status => {
                self.items += g.items;
                self.points += g.points;
                self.deducted_yuan += yuan;
                if status == ItemStatus::Contested {
                    self.contested += g.items;
                }
            }
        }
    }
}

/// R-ASM-4: the sheet's unit lines (the unit's amounts) and person lines
/// (the person's amounts), ordered by unit then person; a waived item
/// counts nowhere (R-ASM-2).
pub fn sheet_lines(groups: &[SheetGroup]) -> (Vec<SheetLine>, Vec<SheetLine>) {
    let mut units: BTreeMap<&str, SheetLine> = BTreeMap::new();
    let mut persons: BTreeMap<(&str, &str), SheetLine> = BTreeMap::new();
    for g in groups {
        units
            .entry(&g.unit)
            .or_insert_with(|| SheetLine {
                unit: g.unit.clone(),
                ..SheetLine::default()
            })
            .add(g, g.unit_yuan);
        if let Some(p) = &g.person {
            persons
                .entry((&g.unit, p))
                .or_insert_with(|| SheetLine {
                    unit: g.unit.clone(),
                    person: Some(p.clone()),
                    ..SheetLine::default()
                })
                .add(g, g.person_yuan);
        }
    }
    (
        units.into_values().collect(),
        persons.into_values().collect(),
    )
}

/// R-ASM-3: a reward as asked for, already decoded.
#[derive(Debug, Clone)]
pub struct NewReward {
    pub kind: RewardKind,
    pub ticket: Uuid,
    /// Praise: the unit praised and, if one was named, the person.
    pub unit: String,
    pub person: Option<String>,
    /// Praise: amounts other than the policy's figure.
    pub unit_yuan: Option<i64>,
    pub person_yuan: Option<i64>,
    pub note: String,
}

fn not_due(message: String) -> AppError {
    AppError::precondition(reason::REWARD_NOT_DUE, "ticket", message)
}

/// R-ASM-3: the reward item `r` makes for ticket `t`, with its amounts
/// (unit, person). Praise needs a praise ticket; a leak reward a resolved
/// leak whose pipe diameter is known, paid once per leak to its first
/// reporter: a staff member's own finding to him (internal), any other
/// call to the caller (external, outside the units: unit "").
pub fn reward_item(
    r: &NewReward,
    t: &Ticket,
    rules: &AssessmentRules,
    now: DateTime<Utc>,
) -> AppResult<(NewItem, (i64, i64))> {
    let item = |responsible: Responsible, cause_key: String| NewItem {
        cause_key,
        class: ItemClass::Reward(r.kind),
        responsible,
        hidden_from: Vec::new(),
        ticket_id: Some(t.id),
        outage_id: None,
        cause_version: t.version,
        // It counts in the month it is recorded: a closed month stays closed.
        occurred_at: now,
        note: r.note.clone(),
    };
    let praise = match r.kind {
        RewardKind::PraiseMedia => rules.praise_media,
        RewardKind::PraiseAuthority => rules.praise_authority,
        RewardKind::PraiseNational => rules.praise_national,
        RewardKind::LeakReport => {
            let resolved =
                t.resolved_at.is_some() && t.state != crate::domain::TicketState::Cancelled;
            let Some(diameter) = t.pipe_diameter_mm.filter(|_| resolved) else {
                return Err(not_due(format!(
                    "ticket {} is not a resolved leak with a known pipe diameter",
                    t.id
                )));
            };
            let internal = t.source == SourceChannel::CrewFinding;
            let amount = rules.leak_report.amount(diameter, internal);
            let key = format!("reward:{}:{}", t.id, r.kind.as_str());
            return Ok(if internal {
                // The finder and his unit (as `responsible_for` names them).
                let who = responsible_for(t, ClockKind::Forward);
                (item(who, key), (0, amount))
            } else {
                (item(Responsible::default(), key), (amount, 0))
            });
        }
    };
    if t.ticket_type != TicketType::Praise {
        return Err(not_due(format!("ticket {} is not a praise", t.id)));
    }
    let key = format!(
        "reward:{}:{}:{}:{}",
        t.id,
        r.kind.as_str(),
        r.unit,
        r.person.as_deref().unwrap_or("")
    );
    let person_yuan = match &r.person {
        Some(_) => r.person_yuan.unwrap_or(praise.person_yuan),
        None => 0,
    };
    let unit_yuan = r.unit_yuan.unwrap_or(praise.unit_yuan);
    let who = Responsible {
        unit: r.unit.clone(),
        person: r.person.clone(),
    };
    Ok((item(who, key), (unit_yuan, person_yuan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let all = ItemKind::all();
        let mut codes: Vec<String> = all.iter().map(|k| k.code()).collect();
        for k in &all {
            assert_eq!(ItemKind::parse(&k.code()), Some(*k));
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(codes.contains(&"BREACH_REVISIT".to_string()));
        assert!(codes.contains(&"OUTAGE_BREACH_CITY_HOTLINE".to_string()));
    }

    /// R-ASM-3 [003 §30]: DN 300 and above earns the larger reward.
    #[test]
    fn r_asm_3_leak_reward_by_diameter_and_reporter() {
        let l = LeakReward {
            large_from_mm: 300,
            small_internal_yuan: 50,
            small_external_yuan: 100,
            large_internal_yuan: 100,
            large_external_yuan: 200,
        };
        assert_eq!(l.amount(299, true), 50);
        assert_eq!(l.amount(299, false), 100);
        assert_eq!(l.amount(300, true), 100);
        assert_eq!(l.amount(300, false), 200);
    }

    fn caller(sub: &str, role: crate::domain::Role, unit: &str) -> Caller {
        Caller {
            sub: sub.into(),
            roles: vec![role],
            unit: unit.into(),
        }
    }

    fn at(h: i64) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2027, 3, 10, 1, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    /// A METER_FAULT call recorded by crew member c7 of unit east, dispatched to north.
    fn dispatched(policy: &crate::domain::Policy) -> Ticket {
        use crate::domain::Role;
        use crate::domain::ticket::{Ctx, NewTicket};
        let c = caller("c7", Role::Crew, "east");
        let d = caller("d1", Role::Dispatcher, "hq");
        let input = NewTicket {
            category: "METER_FAULT".into(),
            ticket_type: None,
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: "1".into(),
            caller_organisation: String::new(),
            feedback_method: None,
            address: "a".into(),
            location: None,
            content: String::new(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: String::new(),
            time_limit_told: false,
        };
        let ctx = |who, now| Ctx {
            policy,
            caller: who,
            now,
        };
        let t = Ticket::create(&ctx(&c, at(0)), Uuid::now_v7(), input)
            .unwrap()
            .ticket;
        t.dispatch(&ctx(&d, at(0)), "north", None).unwrap().ticket
    }

    /// R-ASM-1: the monitor's breach and the late claim of the same accept
    /// deadline are one cause: one item, against the claimer.
    #[test]
    fn r_asm_1_a_breach_and_the_late_event_of_one_deadline_are_one_item() {
        use crate::domain::Role;
        let p = crate::domain::Policy::builtin("water").unwrap();
        let t = dispatched(&p);
        let accept_by = t.deadlines.accept_by.unwrap();
        assert!(ticket_items(None, &t).is_empty());
        let breached = t
            .record_breaches(&p, accept_by + chrono::Duration::microseconds(1))
            .unwrap()
            .ticket;
        let items = ticket_items(Some(&t), &breached);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].class,
            ItemClass::Deduction(ItemKind::Breach(ClockKind::Accept))
        );
        assert_eq!(items[0].occurred_at, accept_by);
        let ctx = crate::domain::ticket::Ctx {
            policy: &p,
            caller: &caller("c1", Role::Crew, "north"),
            now: accept_by + chrono::Duration::minutes(5),
        };
        let claimed = breached.claim(&ctx, None).unwrap().ticket;
        assert!(ticket_items(Some(&breached), &claimed).is_empty());
        // Claimed late with no breach recorded: the claim raises it, keyed alike.
        let late = t.claim(&ctx, None).unwrap().ticket;
        let by_claim = ticket_items(Some(&t), &late);
        assert_eq!(by_claim.len(), 1);
        assert_eq!(by_claim[0].cause_key, items[0].cause_key);
        // Against whoever had it when the clock ran out: the unit, nobody in it.
        assert_eq!(by_claim[0].responsible, items[0].responsible);
        assert_eq!(by_claim[0].responsible.person, None);
    }

    /// R-ASM-1: who answers for each group of clocks.
    #[test]
    fn r_asm_1_responsibility_by_clock() {
        let p = crate::domain::Policy::builtin("water").unwrap();
        let mut t = dispatched(&p);
        t.assignee = Some("c1".into());
        let who = |k| responsible_for(&t, k);
        let r = who(ClockKind::Forward);
        assert_eq!((r.unit.as_str(), r.person.as_deref()), ("east", Some("c7")));
        let r = who(ClockKind::Arrive);
        assert_eq!(
            (r.unit.as_str(), r.person.as_deref()),
            ("north", Some("c1"))
        );
        let r = who(ClockKind::Reply);
        assert_eq!((r.unit.as_str(), r.person.as_deref()), ("north", None));
        let r = who(ClockKind::Revisit);
        assert_eq!((r.unit.as_str(), r.person.as_deref()), ("east", Some("c7")));
        t.unit = None;
        assert_eq!(responsible_for(&t, ClockKind::Reply).unit, "east");
        // Recorded before the recorder's unit was kept: the handling unit's.
        t.unit = Some("north".into());
        t.received_unit = String::new();
        assert_eq!(responsible_for(&t, ClockKind::Forward).unit, "north");
    }

    /// R-ASM-2: contest by the item's unit, decision by another; once each.
    #[test]
    fn r_asm_2_contest_then_decide_once() {
        use crate::domain::Role;
        let rules = crate::domain::Policy::builtin("water").unwrap().assessment;
        let n = NewItem {
            cause_key: "k".into(),
            class: ItemClass::Deduction(ItemKind::RepeatRepair),
            responsible: Responsible {
                unit: "north".into(),
                person: None,
            },
            hidden_from: Vec::new(),
            ticket_id: None,
            outage_id: None,
            cause_version: 1,
            occurred_at: at(0),
            note: String::new(),
        };
        let item = AssessmentItem::deduction(Uuid::now_v7(), n, &rules, at(0)).unwrap();
        assert_eq!((item.points, item.unit_yuan, item.person_yuan), (2, 100, 0));
        let head = caller("h", Role::Supervisor, "north");
        let other = caller("s", Role::Supervisor, "hq");
        assert_eq!(
            item.contest(&other, "r", at(1)).unwrap_err().reason(),
            reason::WRONG_UNIT
        );
        assert_eq!(
            item.decide(&other, false, true, "n", at(1))
                .unwrap_err()
                .reason(),
            reason::NO_PENDING_CONTEST
        );
        let contested = item.contest(&head, "r", at(1)).unwrap();
        assert_eq!(contested.status, ItemStatus::Contested);
        assert_eq!(
            contested
                .decide(&head, true, false, "n", at(2))
                .unwrap_err()
                .reason(),
            reason::NOT_DISPATCH_CENTRE
        );
        // A peer unit's head neither.
        let peer = caller("p", Role::Supervisor, "south");
        assert_eq!(
            contested
                .decide(&peer, true, false, "n", at(2))
                .unwrap_err()
                .reason(),
            reason::NOT_DISPATCH_CENTRE
        );
        let waived = contested.decide(&other, false, false, "n", at(2)).unwrap();
        assert_eq!((waived.status, waived.version), (ItemStatus::Waived, 3));
        assert!(!waived.status.counts());
        assert_eq!(
            waived.contest(&head, "again", at(3)).unwrap_err().reason(),
            reason::NOT_CONTESTABLE
        );
    }

    /// R-ASM-4: a waived item counts nowhere, a pending contest counts;
    /// unit lines take the unit's amounts, person lines the person's.
    #[test]
    fn r_asm_4_sheet_lines_from_groups() {
        let g = |person: Option<&str>, reward, status, items, points, unit_yuan, person_yuan| {
            SheetGroup {
                unit: "north".into(),
                person: person.map(str::to_string),
                reward,
                status,
                items,
                points,
                unit_yuan,
                person_yuan,
            }
        };
        let groups = [
            g(Some("c1"), false, ItemStatus::Raised, 2, 4, 200, 100),
            g(Some("c1"), false, ItemStatus::Contested, 1, 2, 100, 50),
            g(Some("c1"), false, ItemStatus::Waived, 1, 2, 100, 50),
            g(None, false, ItemStatus::Upheld, 1, 1, 100, 0),
            g(Some("c1"), true, ItemStatus::Raised, 1, 0, 300, 100),
        ];
        let (units, persons) = sheet_lines(&groups);
        let u = &units[0];
        assert_eq!(
            (
                u.items,
                u.points,
                u.deducted_yuan,
                u.contested,
                u.waived,
                u.rewards,
                u.reward_yuan
            ),
            (4, 7, 400, 1, 1, 1, 300)
        );
        assert_eq!(u.net_yuan(), -100);
        let p = &persons[0];
        assert_eq!(
            (
                p.items,
                p.points,
                p.deducted_yuan,
                p.contested,
                p.waived,
                p.rewards,
                p.reward_yuan
            ),
            (3, 6, 150, 1, 1, 1, 100)
        );
    }
}
