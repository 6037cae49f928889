//! Service-level policy as data (R-SLA-1..3, R-SLA-5, R-SLA-7, R-TKT-5,
//! R-TKT-6, R-TKT-9). Two profiles are built in (`heating`, `water`); a utility
//! can load its own file of the same shape (TOML). Every number the
//! rules use lives here, and every deadline is computed here, in UTC.
use crate::domain::assessment::AssessmentRules;
use crate::domain::outage::OutageKind;
use crate::domain::protocol::TemperatureRules;
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const HEATING_TOML: &str = include_str!("policies/heating.toml");
const WATER_TOML: &str = include_str!("policies/water.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name of the profile, stored on every ticket created under it.
    pub profile: String,
    /// R-SLA-3: time for the unit to accept (claim) after dispatch.
    #[serde(with = "human_duration")]
    pub accept_within: Duration,
    /// R-TKT-5: a crew may return a mis-routed ticket this long after dispatch.
    #[serde(with = "human_duration")]
    pub return_window: Duration,
    /// R-TKT-9: call-back deadline after resolution.
    #[serde(with = "human_duration")]
    pub revisit_within: Duration,
    /// R-TKT-1: a ticket recorded outside dispatch (by a crew member, an
    /// inspector, a supervisor) is dispatched within this of the call.
    #[serde(default = "default_forward_within", with = "human_duration")]
    pub forward_within: Duration,
    /// R-SLA-5: extensions never move resolve_by past intake + this.
    #[serde(with = "human_duration")]
    pub extension_cap: Duration,
    /// R-TKT-6: a check-in farther than this (beyond accuracy) is unverified.
    pub checkin_distance_m: f64,
    /// R-SLA-7.
    #[serde(default)]
    pub time: TimeTrust,
    /// R-TKT-11: a repair at the same address and category within this long
    /// after an earlier one was resolved is a repeat repair.
    #[serde(default = "default_repeat_window", with = "human_duration")]
    pub repeat_window: Duration,
    /// How long the change feed keeps superseded changes and Push keeps
    /// stored outcomes: far longer than any offline period.
    #[serde(default = "default_sync_retention", with = "human_duration")]
    pub sync_retention: Duration,
    /// AIP-155: how long a mutation's request id and answer are kept, so a
    /// retry within it is answered from the first time (API.md: 7 days).
    #[serde(default = "default_idempotency_retention", with = "human_duration")]
    pub idempotency_retention: Duration,
    /// R-REC-3: how long closed records keep the callers' personal data
    /// (5 years, [000 四.2(4)]); a retention run archives and clears older ones.
    #[serde(default = "default_record_retention", with = "human_duration")]
    pub record_retention: Duration,
    /// R-TMP-1..12: the temperature-measurement protocol's values.
    #[serde(default)]
    pub temperature: TemperatureRules,
    /// R-SLA-6: when the caller must hear the result.
    #[serde(default)]
    pub feedback: FeedbackRules,
    /// R-TKT-15: replies to referring platforms.
    #[serde(default)]
    pub referral: ReferralRules,
    /// R-TKT-10: supervision notices and what triggers them.
    #[serde(default)]
    pub supervision: SupervisionRules,
    /// R-SLA-4: pipe-burst repair time by nominal diameter.
    #[serde(default)]
    pub pipe_repair: PipeRepairRules,
    /// R-RPT-1, R-TMP-11: report periods and targets.
    #[serde(default)]
    pub report: ReportRules,
    /// R-OUT-2..4: supply interruptions: reporting thresholds, notice lead times.
    #[serde(default)]
    pub outage: OutageRules,
    /// R-ASM-1..3: points and amounts of assessment items and rewards.
    #[serde(default)]
    pub assessment: AssessmentRules,
    /// Priority code -> how consoles and handhelds name it (GetPolicy).
    #[serde(default)]
    pub priority_labels: BTreeMap<String, Label>,
    /// Category code -> its priority and deadlines.
    pub categories: BTreeMap<String, CategoryPolicy>,
}

/// A name for people, in Chinese and English (GetPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub zh_cn: String,
    pub en: String,
}

/// R-SLA-7: when a handheld's own clock is believed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeTrust {
    #[serde(with = "human_duration")]
    pub clock_skew: Duration,
    #[serde(with = "human_duration")]
    pub offline_window: Duration,
    #[serde(with = "human_duration")]
    pub max_future: Duration,
}

/// R-SLA-6: the caller hears the result within `within` of the call,
/// complex matters within `complex_within`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct FeedbackRules {
    /// The caller hears the result within this [000 §2(2)e].
    #[serde(with = "human_duration")]
    pub within: Duration,
    /// ... or this, for a complex matter.
    #[serde(with = "human_duration")]
    pub complex_within: Duration,
    /// The ladder [000 四.8(1)]: a consultation or emergency help handled by
    /// phone: the first-responsible person calls the caller back within
    /// `callback_within` of the call, the handling unit reports to him
    /// within `unit_report_within` of the dispatch, and the caller hears the
    /// result within `result_within` of the call.
    #[serde(with = "human_duration")]
    pub callback_within: Duration,
    #[serde(with = "human_duration")]
    pub unit_report_within: Duration,
    #[serde(with = "human_duration")]
    pub result_within: Duration,
    /// [000 四.8(2)]: general help transferred to a unit: the caller and the
    /// referring body hear back within this of the call.
    #[serde(with = "human_duration")]
    pub transferred_within: Duration,
    /// [000 四.8(4)], R-TKT-17: a major matter is reported to the leadership
    /// this often, and the caller and the referring body hear back this
    /// often, until it is resolved.
    #[serde(with = "human_duration")]
    pub leadership_every: Duration,
    #[serde(with = "human_duration")]
    pub major_contact_every: Duration,
    /// [000 §2(2)e]: a matter still unresolved this long after the call
    /// needs a supervisor's approval, recorded before then.
    #[serde(with = "human_duration")]
    pub long_matter_after: Duration,
}

impl Default for FeedbackRules {
    fn default() -> Self {
        FeedbackRules {
            within: Duration::days(2),
            complex_within: Duration::days(7),
            callback_within: Duration::hours(1),
            unit_report_within: Duration::minutes(40),
            result_within: Duration::hours(24),
            transferred_within: Duration::days(3),
            leadership_every: Duration::days(1),
            major_contact_every: Duration::days(3),
            long_matter_after: Duration::days(7),
        }
    }
}

/// R-TKT-15: a referral from another platform is answered on the platform
/// before its deadline; a platform that gives none gets this [004 督办件].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct ReferralRules {
    #[serde(with = "human_duration")]
    pub reply_within: Duration,
    /// A platform deadline further out than this from the call is a typing error.
    #[serde(with = "human_duration")]
    pub max_deadline: Duration,
}

impl Default for ReferralRules {
    fn default() -> Self {
        ReferralRules {
            reply_within: Duration::days(5),
            max_deadline: Duration::days(90),
        }
    }
}

/// R-TKT-10 [002 三(四)]: a notice is issued when a ticket was sent back
/// for redo more than `redo_limit` times, or the same caller complained
/// about the same issue more than `complaint_limit` times; automatic notices
/// give the unit `within` to act.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionRules {
    #[serde(with = "human_duration")]
    pub within: Duration,
    pub redo_limit: i32,
    pub complaint_limit: i32,
}

impl Default for SupervisionRules {
    fn default() -> Self {
        SupervisionRules {
            within: Duration::hours(24),
            redo_limit: 2,
            complaint_limit: 2,
        }
    }
}

/// R-SLA-4 [002 (三)5]: repair time counted from the start of repair,
/// by nominal diameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipeRepairRules {
    /// Pipes up to and including this nominal diameter get `small_within`.
    pub small_max_mm: i32,
    #[serde(with = "human_duration")]
    pub small_within: Duration,
    #[serde(with = "human_duration")]
    pub large_within: Duration,
}

impl Default for PipeRepairRules {
    fn default() -> Self {
        PipeRepairRules {
            small_max_mm: 600,
            small_within: Duration::hours(24),
            large_within: Duration::hours(48),
        }
    }
}

/// R-RPT-1: seasons are named by the local month-day ("MM-DD") each one
/// starts on; a season runs to the next start. R-TMP-11: the compliance target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRules {
    pub season_starts: Vec<String>,
    pub temperature_target: f64,
}

impl Default for ReportRules {
    fn default() -> Self {
        ReportRules {
            season_starts: ["03-01", "06-01", "09-01", "12-01"]
                .map(String::from)
                .to_vec(),
            temperature_target: 0.98,
        }
    }
}

/// R-OUT-2, R-OUT-3: when a supply interruption must be reported and
/// announced. Households are counted as the report gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageRules {
    /// The kinds of interruption this utility has (a water utility no heat
    /// cut-offs, a heating utility no water-quality shut-offs).
    pub kinds: Vec<OutageKind>,
    /// R-OUT-2: an unplanned interruption of at least this many households is
    /// reported to dispatch within `dispatch_within` of its start.
    pub dispatch_households: i64,
    #[serde(with = "human_duration")]
    pub dispatch_within: Duration,
    /// R-OUT-2: at least this many households and at least `hotline_min_duration`
    /// (expected or actual): dispatch informs 12345 and 12319 within
    /// `hotline_within` of learning it.
    pub hotline_households: i64,
    #[serde(with = "human_duration")]
    pub hotline_min_duration: Duration,
    #[serde(with = "human_duration")]
    pub hotline_within: Duration,
    /// R-OUT-3: every plan reaches the dispatch (hotline) centre this long
    /// before the works start [002 (四)1].
    #[serde(with = "human_duration")]
    pub planned_dispatch_lead: Duration,
    /// R-OUT-2: planned works over the hotline thresholds are reported to
    /// 12345 and 12319 this long before they start.
    #[serde(with = "human_duration")]
    pub planned_hotline_lead: Duration,
    /// R-OUT-3: the public is told this long before planned works [003 §17].
    #[serde(with = "human_duration")]
    pub notice_lead: Duration,
    /// R-OUT-3: from this many households an area is large: the public is
    /// told `large_area_first_lead` ahead and again `large_area_second_lead` ahead [000 四.9(1)].
    pub large_area_households: i64,
    #[serde(with = "human_duration")]
    pub large_area_first_lead: Duration,
    #[serde(with = "human_duration")]
    pub large_area_second_lead: Duration,
}

impl Default for OutageRules {
    fn default() -> Self {
        OutageRules {
            kinds: OutageKind::ALL.to_vec(),
            dispatch_households: 500,
            dispatch_within: Duration::minutes(20),
            hotline_households: 1000,
            hotline_min_duration: Duration::hours(8),
            hotline_within: Duration::minutes(20),
            planned_dispatch_lead: Duration::hours(48),
            planned_hotline_lead: Duration::hours(24),
            notice_lead: Duration::hours(24),
            large_area_households: 10_000,
            large_area_first_lead: Duration::days(3),
            large_area_second_lead: Duration::days(1),
        }
    }
}

fn default_forward_within() -> Duration {
    Duration::minutes(30)
}

fn default_repeat_window() -> Duration {
    Duration::days(90)
}

fn default_sync_retention() -> Duration {
    Duration::days(30)
}

fn default_idempotency_retention() -> Duration {
    Duration::days(7)
}

/// Five years of 365 days and the leap days they hold at most.
fn default_record_retention() -> Duration {
    Duration::days(5 * 365 + 2)
}

impl Default for TimeTrust {
    fn default() -> Self {
        TimeTrust {
            clock_skew: Duration::minutes(2),
            offline_window: Duration::hours(72),
            max_future: Duration::hours(24),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryPolicy {
    pub priority: String,
    #[serde(with = "human_duration")]
    pub arrive_within: Duration,
    #[serde(with = "human_duration")]
    pub resolve_within: Duration,
    /// Where the resolve clock starts.
    #[serde(default)]
    pub resolve_from: ClockStart,
    /// R-SLA-2: where the arrival clock starts (the water hotline counts
    /// its hour from acceptance [002 二(二)1]).
    #[serde(default)]
    pub arrive_from: ArriveFrom,
    /// R-TKT-7: the crew may book a visit time instead of the arrival deadline.
    #[serde(default)]
    pub appointment: bool,
    /// R-SLA-6: a complex matter; the caller hears the result within the longer time.
    #[serde(default)]
    pub complex: bool,
    /// R-OUT-5: a "no water" / "no heat" call, linked at intake to an
    /// interruption in force at the caller's address.
    #[serde(default)]
    pub supply_loss: bool,
    /// The English label (GetPolicy) and a note for the policy's readers.
    #[serde(default)]
    pub description: String,
    /// The Chinese label (GetPolicy).
    #[serde(default)]
    pub label_zh: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStart {
    /// From the time of the call.
    #[default]
    Intake,
    /// From arrival on site (e.g. air lock: 3 h of work once there).
    Arrival,
    /// R-SLA-4: a pipe burst, from the start of repair (the crew's check-in
    /// on site); the time depends on the pipe's nominal diameter.
    PipeRepair,
}

/// R-SLA-2: where a category's arrival clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArriveFrom {
    /// From the time of the call.
    #[default]
    Intake,
    /// From acceptance (the crew's claim); no arrival deadline before it.
    Acceptance,
}

/// The deadlines a ticket carries (section 3). All UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Deadlines {
    pub accept_by: Option<DateTime<Utc>>,
    pub arrive_by: Option<DateTime<Utc>>,
    pub resolve_by: Option<DateTime<Utc>>,
    pub revisit_by: Option<DateTime<Utc>>,
    /// R-SLA-6: the caller hears the result.
    #[serde(default)]
    pub feedback_by: Option<DateTime<Utc>>,
    /// R-TKT-10: the deadline of the latest supervision notice.
    #[serde(default)]
    pub supervise_by: Option<DateTime<Utc>>,
    /// R-TKT-1: a ticket recorded outside dispatch reaches a unit by then.
    #[serde(default)]
    pub forward_by: Option<DateTime<Utc>>,
    /// R-SLA-6, R-TKT-15: the clocks of contacts with the caller, the
    /// referring platform and the first-responsible person.
    #[serde(default)]
    pub follow_up: FollowUpDeadlines,
}

/// R-SLA-6 (the feedback ladder [000 四.8]) and R-TKT-15 (the platform's
/// reply): each is stopped by a recorded contact (`Ticket::record_contact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FollowUpDeadlines {
    /// The first-responsible person calls the caller back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_by: Option<DateTime<Utc>>,
    /// The handling unit reports to the first-responsible person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_report_by: Option<DateTime<Utc>>,
    /// The caller hears the result (phone-handled matters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_by: Option<DateTime<Utc>>,
    /// The caller hears back (matters transferred to a unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_update_by: Option<DateTime<Utc>>,
    /// The referring body hears back (matters transferred to a unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_update_by: Option<DateTime<Utc>>,
    /// R-TKT-15: the reply on the referring platform, by its deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_by: Option<DateTime<Utc>>,
    /// R-TKT-17: the next report to the leadership (daily, repeating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leadership_by: Option<DateTime<Utc>>,
    /// R-TKT-17: the leader's deadline: resolved, or a written report, by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction_by: Option<DateTime<Utc>>,
    /// R-SLA-6: resolved, or a supervisor's approval to take longer, by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_matter_by: Option<DateTime<Utc>>,
}

impl Policy {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Policy> {
        let text = match name {
            "heating" => HEATING_TOML,
            "water" => WATER_TOML,
            _ => return None,
        };
        Some(Policy::from_toml(text).expect("built-in policy is valid"))
    }

    pub fn from_toml(text: &str) -> Result<Policy, String> {
        let p: Policy = toml::from_str(text).map_err(|e| e.to_string())?;
        p.validated()
    }

    fn validated(self) -> Result<Policy, String> {
        if self.profile.trim().is_empty() {
            return Err("profile must not be empty".into());
        }
        if self.categories.is_empty() {
            return Err("a policy needs at least one category".into());
        }
        self.assessment.validate()?;
        let positive = [
            ("accept_within", self.accept_within),
            ("return_window", self.return_window),
            ("revisit_within", self.revisit_within),
            ("forward_within", self.forward_within),
            ("extension_cap", self.extension_cap),
        ];
        for (name, d) in positive {
            if d <= Duration::zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if !(self.checkin_distance_m.is_finite() && self.checkin_distance_m >= 0.0) {
            return Err("checkin_distance_m must be >= 0".into());
        }
        let f = &self.feedback;
        if f.within <= Duration::zero() || f.complex_within < f.within {
            return Err("feedback.within must be positive and complex_within not shorter".into());
        }
        let sv = &self.supervision;
        if sv.within <= Duration::zero() || sv.redo_limit < 0 || sv.complaint_limit < 0 {
            return Err("supervision.within must be positive and the limits >= 0".into());
        }
        let pr = &self.pipe_repair;
        if pr.small_max_mm <= 0
            || pr.small_within <= Duration::zero()
            || pr.large_within < pr.small_within
        {
            return Err("pipe_repair: diameter and times must be positive, large >= small".into());
        }
        if let Err(e) = crate::domain::report::season_starts(&self.report.season_starts) {
            return Err(format!("report.season_starts: {e}"));
        }
        if !(0.0..=1.0).contains(&self.report.temperature_target) {
            return Err("report.temperature_target must lie in 0..=1".into());
        }
        if self.record_retention < Duration::days(5 * 365) {
            return Err("record_retention must be at least 5 years (R-REC-3)".into());
        }
        if self.sync_retention <= Duration::zero() {
            return Err("sync_retention must be positive".into());
        }
        if self.idempotency_retention <= Duration::zero() {
            return Err("idempotency_retention must be positive".into());
        }
        let o = &self.outage;
        if o.kinds.is_empty() {
            return Err("outage.kinds must name at least one kind".into());
        }
        let times = [
            o.dispatch_within,
            o.hotline_min_duration,
            o.hotline_within,
            o.planned_dispatch_lead,
            o.planned_hotline_lead,
            o.notice_lead,
            o.large_area_first_lead,
            o.large_area_second_lead,
        ];
        if times.iter().any(|d| *d <= Duration::zero())
            || o.dispatch_households < 0
            || o.hotline_households < 0
            || o.large_area_households < 0
            || o.large_area_second_lead > o.large_area_first_lead
        {
            return Err(
                "outage: times must be positive, thresholds >= 0, the second notice not before the first"
                    .into(),
            );
        }
        let t = &self.temperature;
        if t.window_start >= t.window_end {
            return Err("temperature.window_start must be before window_end".into());
        }
        if t.settle < Duration::zero() || t.min_duration <= Duration::zero() {
            return Err("temperature.settle must be >= 0 and min_duration positive".into());
        }
        if !(t.height_m > 0.0
            && t.height_tolerance_m >= 0.0
            && t.living_min_c.is_finite()
            && t.other_min_c.is_finite())
        {
            return Err("temperature thresholds must be finite and heights positive".into());
        }
        for (code, c) in &self.categories {
            if c.priority.trim().is_empty() {
                return Err(format!("category {code}: priority must not be empty"));
            }
            if c.arrive_within <= Duration::zero() || c.resolve_within <= Duration::zero() {
                return Err(format!("category {code}: deadlines must be positive"));
            }
            if c.appointment && c.resolve_from != ClockStart::Intake {
                return Err(format!(
                    "category {code}: appointments need a resolve clock that starts at intake"
                ));
            }
            if c.arrive_from == ArriveFrom::Acceptance && c.resolve_from != ClockStart::Intake {
                return Err(format!(
                    "category {code}: an arrival clock from acceptance needs a resolve clock that starts at intake"
                ));
            }
        }
        Ok(self)
    }

    /// R-TKT-2: the category's policy, or INVALID_ARGUMENT for an unknown code.
    pub fn category(&self, code: &str, field: &str) -> AppResult<&CategoryPolicy> {
        self.categories.get(code).ok_or_else(|| {
            AppError::invalid(
                field,
                reason::UNKNOWN_CATEGORY,
                format!(
                    "unknown category {} in policy profile {:?}",
                    crate::error::echo(code),
                    self.profile
                ),
            )
        })
    }

    /// Deadlines computed at intake: arrival and resolution (section 3).
    /// A burst pipe's provisional deadline uses its diameter when known,
    /// else the larger pipe's time (R-SLA-4).
    pub fn intake_deadlines(
        &self,
        cat: &CategoryPolicy,
        received_at: DateTime<Utc>,
        pipe_diameter_mm: Option<i32>,
    ) -> Deadlines {
        let arrive_by = received_at + cat.arrive_within;
        let resolve_by = match cat.resolve_from {
            ClockStart::Intake => received_at + cat.resolve_within,
            // Provisional until the crew arrives: the latest allowed arrival plus the work time.
            ClockStart::Arrival => arrive_by + cat.resolve_within,
            // Provisional until the repair starts.
            ClockStart::PipeRepair => {
                arrive_by
                    + match pipe_diameter_mm {
                        Some(_) => self.pipe_repair_within(pipe_diameter_mm),
                        None => self.pipe_repair.large_within,
                    }
            }
        };
        Deadlines {
            // R-SLA-2: counted from acceptance, it starts at the claim.
            arrive_by: (cat.arrive_from == ArriveFrom::Intake).then_some(arrive_by),
            resolve_by: Some(resolve_by),
            ..Deadlines::default()
        }
    }

    /// R-SLA-6: when the caller must have heard the result.
    pub fn feedback_by(&self, complex: bool, received_at: DateTime<Utc>) -> DateTime<Utc> {
        received_at
            + if complex {
                self.feedback.complex_within
            } else {
                self.feedback.within
            }
    }

    /// R-SLA-4: repair time of a burst pipe. An unknown diameter gets the
    /// shorter time: the customer is not made to wait on missing data.
    pub fn pipe_repair_within(&self, diameter_mm: Option<i32>) -> Duration {
        match diameter_mm {
            Some(d) if d > self.pipe_repair.small_max_mm => self.pipe_repair.large_within,
            _ => self.pipe_repair.small_within,
        }
    }

    /// R-SLA-3: accept deadline after a dispatch.
    pub fn accept_by(&self, dispatched_at: DateTime<Utc>) -> DateTime<Utc> {
        // R-SLA-3: one accept time whatever the source: a referral from 12345
        // or 12319 is never given longer than a call to the own hotline.
        dispatched_at + self.accept_within
    }

    /// Resolve deadline once the crew is on site, for clocks that start at arrival.
    pub fn resolve_by_after_arrival(
        &self,
        cat: &CategoryPolicy,
        arrived_at: DateTime<Utc>,
        extended_by: Duration,
        pipe_diameter_mm: Option<i32>,
    ) -> Option<DateTime<Utc>> {
        let work = match cat.resolve_from {
            ClockStart::Intake => return None,
            ClockStart::Arrival => cat.resolve_within,
            ClockStart::PipeRepair => self.pipe_repair_within(pipe_diameter_mm),
        };
        Some(arrived_at + work + extended_by)
    }

    /// R-TKT-9: call-back deadline.
    pub fn revisit_by(&self, resolved_at: DateTime<Utc>) -> DateTime<Utc> {
        resolved_at + self.revisit_within
    }

    /// R-TKT-5: is `at` still inside the crew's return window?
    pub fn within_return_window(&self, dispatched_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        at <= dispatched_at + self.return_window
    }

    /// R-SLA-5: the latest resolve_by any extension may reach.
    pub fn extension_limit(
        &self,
        received_at: DateTime<Utc>,
        resolve_within: Duration,
    ) -> DateTime<Utc> {
        // R-SLA-5: the later of intake + cap and intake + the category's own
        // resolve time + cap, so that every category (a 5-day one too) can
        // be extended.
        received_at + self.extension_cap.max(resolve_within + self.extension_cap)
    }
}

/// Durations written as "30m", "12h", "5days" in policy files.
mod human_duration {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let std = d.to_std().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&humantime::format_duration(std).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        let std = humantime::parse_duration(&text).map_err(serde::de::Error::custom)?;
        Duration::from_std(std).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    /// Every key `full` has (the policy as the server uses it), `written`
    /// (the profile's text) has too, or the path of the first missing one.
    fn missing_key(full: &toml::Value, written: &toml::Value, path: &str) -> Option<String> {
        let (toml::Value::Table(full), toml::Value::Table(written)) = (full, written) else {
            return None;
        };
        for (key, value) in full {
            let here = format!("{path}{key}");
            // A category's flags read as "no" unless it says otherwise:
            // no appointments, not complex, resolve and arrival clocks from
            // intake.
            let flag = [
                "appointment",
                "complex",
                "resolve_from",
                "arrive_from",
                "supply_loss",
                "description",
            ];
            if path.starts_with("categories.") && flag.contains(&key.as_str()) {
                continue;
            }
            match written.get(key) {
                None => return Some(here),
                Some(w) => {
                    if let Some(m) = missing_key(value, w, &format!("{here}.")) {
                        return Some(m);
                    }
                }
            }
        }
        None
    }

    /// R-ASM-1: both built-in profiles price every item kind; a negative
    /// amount or an unknown kind in a utility's file is refused at start.
    #[test]
    fn r_asm_1_assessment_table_is_complete_and_checked() {
        use crate::domain::assessment::ItemKind;
        for name in ["heating", "water"] {
            let p = Policy::builtin(name).unwrap();
            for k in ItemKind::all() {
                assert!(p.assessment.deduction(k).is_some(), "{name}: {}", k.code());
            }
            assert_eq!(p.assessment.leak_report.amount(300, false), 200);
        }
        let bad = WATER_TOML.replace(
            "[assessment.items.REPEAT_REPAIR]  # [003 §35(六)] repaired again within 3 months\npoints = 2\nunit_yuan = 100",
            "[assessment.items.REPEAT_REPAIR]\npoints = 2\nunit_yuan = -100",
        );
        assert_ne!(bad, WATER_TOML, "the fixture edit applies");
        assert!(Policy::from_toml(&bad).unwrap_err().contains("negative"));
        let unknown = WATER_TOML.replace(
            "[assessment.items.REPEAT_REPAIR]",
            "[assessment.items.NOPE]",
        );
        assert!(
            Policy::from_toml(&unknown)
                .unwrap_err()
                .contains("unknown item kind NOPE")
        );
    }

    /// The built-in profiles spell out every number the server uses: none
    /// is left to a default in the code (so the README's account of the
    /// profiles is true and a utility copying one sees every value). Only a
    /// category's yes/no flags may be left out, meaning "no".
    #[test]
    fn builtins_leave_nothing_to_a_code_default() {
        for (name, text) in [("heating", HEATING_TOML), ("water", WATER_TOML)] {
            let written: toml::Value = toml::from_str(text).unwrap();
            let full = toml::Value::try_from(Policy::builtin(name).unwrap()).unwrap();
            assert_eq!(
                missing_key(&full, &written, ""),
                None,
                "{name}.toml leaves this value to the code"
            );
        }
    }

    #[test]
    fn builtins_load_and_validate() {
        for name in ["heating", "water"] {
            let p = Policy::builtin(name).unwrap();
            assert_eq!(p.profile, name);
            assert!(p.categories.len() > 10);
        }
        assert!(Policy::builtin("gas").is_none());
    }

    /// R-SLA-1: heating priorities and deadlines per category.
    #[test]
    fn r_sla_1_heating_deadlines() {
        let p = Policy::builtin("heating").unwrap();
        let t0 = at(15, 50); // 23:50 in Asia/Shanghai: deadlines are plain UTC arithmetic.
        let cases = [
            (
                "NETWORK_LEAK",
                "EMERGENCY",
                at(16, 20),
                at(15, 50) + Duration::hours(24),
            ),
            (
                "BUILDING_NO_HEAT",
                "EMERGENCY",
                at(16, 20),
                at(15, 50) + Duration::hours(24),
            ),
            (
                "FITTING_DRIP",
                "URGENT",
                t0 + Duration::hours(12),
                t0 + Duration::hours(24),
            ),
            (
                "BLOCKAGE",
                "URGENT",
                t0 + Duration::hours(12),
                t0 + Duration::hours(24),
            ),
            (
                "INDOOR_MEASUREMENT",
                "GENERAL",
                t0 + Duration::hours(24),
                t0 + Duration::days(5),
            ),
        ];
        for (code, prio, arrive, resolve) in cases {
            let c = p.category(code, "category").unwrap();
            assert_eq!(c.priority, prio, "{code}");
            let d = p.intake_deadlines(c, t0, None);
            assert_eq!(d.arrive_by, Some(arrive), "{code}");
            assert_eq!(d.resolve_by, Some(resolve), "{code}");
            assert_eq!(d.accept_by, None);
            assert_eq!(d.revisit_by, None);
        }
    }

    /// R-SLA-1: an air lock is resolved within 3 h of arrival.
    #[test]
    fn r_sla_1_air_lock_clock_starts_at_arrival() {
        let p = Policy::builtin("heating").unwrap();
        let c = p.category("AIR_LOCK", "category").unwrap();
        let d = p.intake_deadlines(c, at(1, 0), None);
        assert_eq!(
            d.resolve_by,
            Some(at(16, 0)),
            "provisional: 12 h arrival + 3 h"
        );
        assert_eq!(
            p.resolve_by_after_arrival(c, at(2, 0), Duration::zero(), None),
            Some(at(5, 0))
        );
        let leak = p.category("NETWORK_LEAK", "category").unwrap();
        assert_eq!(
            p.resolve_by_after_arrival(leak, at(2, 0), Duration::zero(), None),
            None
        );
    }

    /// R-SLA-4: a burst pipe's repair runs from the start of repair, 24 h up
    /// to DN 600 and 48 h above; unknown diameters get the shorter time.
    #[test]
    fn r_sla_4_pipe_burst_by_diameter() {
        let p = Policy::builtin("water").unwrap();
        let c = p.category("PIPE_BURST", "category").unwrap();
        let start = at(2, 0);
        let by = |d| p.resolve_by_after_arrival(c, start, Duration::zero(), d);
        assert_eq!(by(Some(600)), Some(start + Duration::hours(24)));
        assert_eq!(by(Some(601)), Some(start + Duration::hours(48)));
        assert_eq!(by(Some(100)), Some(start + Duration::hours(24)));
        assert_eq!(by(None), Some(start + Duration::hours(24)));
        assert_eq!(
            p.intake_deadlines(c, at(1, 0), None).resolve_by,
            Some(at(1, 40) + Duration::hours(48)),
            "provisional until the repair starts"
        );
        assert_eq!(
            p.intake_deadlines(c, at(1, 0), Some(300)).resolve_by,
            Some(at(1, 40) + Duration::hours(24)),
            "a diameter known at intake sets the provisional time"
        );
    }

    /// R-SLA-6: the caller hears the result within 2 days, complex matters 7.
    #[test]
    fn r_sla_6_feedback_times() {
        for name in ["heating", "water"] {
            let p = Policy::builtin(name).unwrap();
            assert_eq!(p.feedback_by(false, at(1, 0)), at(1, 0) + Duration::days(2));
            assert_eq!(p.feedback_by(true, at(1, 0)), at(1, 0) + Duration::days(7));
            // Every category that may take longer than 2 days is complex.
            for (code, c) in &p.categories {
                if c.resolve_from == ClockStart::Intake && c.resolve_within > p.feedback.within {
                    assert!(c.complex, "{name}/{code} resolves after the feedback time");
                }
            }
        }
    }

    /// R-SLA-2: water levels.
    #[test]
    fn r_sla_2_water_deadlines() {
        let p = Policy::builtin("water").unwrap();
        let t0 = at(8, 0);
        let cases = [
            (
                "EMERGENCY_INCIDENT",
                "L12H",
                Duration::minutes(40),
                Duration::hours(12),
            ),
            (
                "GOVERNMENT_MEDIA_URGENT",
                "L24H",
                Duration::hours(1),
                Duration::hours(24),
            ),
            (
                "METER_FAULT",
                "L36H",
                Duration::hours(12),
                Duration::hours(36),
            ),
            (
                "PUBLIC_PIPE_LEAK",
                "L48H",
                Duration::minutes(40),
                Duration::hours(24),
            ),
            (
                "METER_PIT_LEAK",
                "L48H",
                Duration::minutes(40),
                Duration::hours(48),
            ),
            (
                "MANHOLE_COVER",
                "L48H",
                Duration::hours(4),
                Duration::hours(48),
            ),
            ("LOW_PRESSURE", "L3D", Duration::hours(1), Duration::days(3)),
            (
                "COMPENSATION_CLAIM",
                "L5D",
                Duration::hours(1),
                Duration::days(5),
            ),
        ];
        for (code, prio, arrive, resolve) in cases {
            let c = p.category(code, "category").unwrap();
            assert_eq!(c.priority, prio, "{code}");
            let d = p.intake_deadlines(c, t0, None);
            // R-SLA-2: the hour of the 1 h categories runs from acceptance
            // (the claim sets it), the others' from the call.
            if arrive == Duration::hours(1) {
                assert_eq!(c.arrive_from, ArriveFrom::Acceptance, "{code}");
                assert_eq!(d.arrive_by, None, "{code}");
            } else {
                assert_eq!(c.arrive_from, ArriveFrom::Intake, "{code}");
                assert_eq!(d.arrive_by, Some(t0 + arrive), "{code}");
            }
            assert_eq!(c.arrive_within, arrive, "{code}");
            assert_eq!(d.resolve_by, Some(t0 + resolve), "{code}");
            // R-SLA-2: a crew that cannot make it may agree a time, any
            // category but a burst main (its clock starts with the repair).
            assert!(c.appointment, "{code}");
        }
        assert!(!p.categories["PIPE_BURST"].appointment);
    }

    /// R-SLA-3: 3 min to accept, whatever the source.
    #[test]
    fn r_sla_3_accept_deadline() {
        for name in ["heating", "water"] {
            let p = Policy::builtin(name).unwrap();
            assert_eq!(p.accept_by(at(10, 0)), at(10, 3));
        }
    }

    /// R-TKT-9: revisit within 24 h (water) or 2 days (heating).
    #[test]
    fn r_tkt_9_revisit_deadline() {
        assert_eq!(
            Policy::builtin("water").unwrap().revisit_by(at(10, 0)),
            at(10, 0) + Duration::hours(24)
        );
        assert_eq!(
            Policy::builtin("heating").unwrap().revisit_by(at(10, 0)),
            at(10, 0) + Duration::days(2)
        );
    }

    /// R-TKT-5: return window of 2 h, inclusive.
    #[test]
    fn r_tkt_5_return_window_boundary() {
        let p = Policy::builtin("water").unwrap();
        assert!(p.within_return_window(at(10, 0), at(12, 0)));
        assert!(!p.within_return_window(at(10, 0), at(12, 0) + Duration::seconds(1)));
    }

    #[test]
    fn unknown_category_is_invalid_argument() {
        let p = Policy::builtin("water").unwrap();
        let e = p.category("NETWORK_LEAK", "category").unwrap_err();
        assert_eq!(e.reason(), reason::UNKNOWN_CATEGORY);
    }

    #[test]
    fn own_policy_file_in_toml() {
        let toml_text = r#"
profile = "citywater"
accept_within = "5m"
return_window = "1h"
revisit_within = "12h"
extension_cap = "3days"
checkin_distance_m = 150.0
[categories.LEAK]
priority = "P1"
arrive_within = "20m"
resolve_within = "6h"
"#;
        let p = Policy::from_toml(toml_text).unwrap();
        assert_eq!(p.time, TimeTrust::default());
        let bad = toml_text.replace("\"6h\"", "\"0s\"");
        assert!(Policy::from_toml(&bad).is_err());
        assert!(Policy::from_toml("profile = \"x\"").is_err());
    }
}
