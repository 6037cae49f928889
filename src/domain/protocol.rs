//! The temperature-measurement protocol (R-TMP-1..9, R-TMP-12): which
//! readings are valid, which rooms are warm enough, and the verdict of a visit.
//! Pure: every function is a function of its inputs. Policy values live in
//! [`TemperatureRules`]; timestamps are UTC and are judged in the policy's
//! time zone.
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// Rule ids carried in [`Violation::rule`].
pub mod rule {
    pub const R_TMP_2: &str = "R-TMP-2";
    pub const R_TMP_3: &str = "R-TMP-3";
    pub const R_TMP_4: &str = "R-TMP-4";
    pub const R_TMP_5: &str = "R-TMP-5";
    pub const R_TMP_6: &str = "R-TMP-6";
    pub const R_TMP_12: &str = "R-TMP-12";
}

/// Stable reasons carried in [`Violation::reason`].
pub mod reason {
    pub const OUTSIDE_MEASUREMENT_WINDOW: &str = "OUTSIDE_MEASUREMENT_WINDOW";
    pub const DOORS_WINDOWS_OPEN: &str = "DOORS_WINDOWS_OPEN";
    pub const SETTLE_TIME_TOO_SHORT: &str = "SETTLE_TIME_TOO_SHORT";
    pub const MEASUREMENT_TOO_SHORT: &str = "MEASUREMENT_TOO_SHORT";
    pub const NOT_AT_ROOM_CENTRE: &str = "NOT_AT_ROOM_CENTRE";
    pub const WRONG_HEIGHT: &str = "WRONG_HEIGHT";
    pub const INSTRUMENT_UNCALIBRATED: &str = "INSTRUMENT_UNCALIBRATED";
}

/// Policy values of the protocol, with the DOMAIN.md defaults. Every field may
/// be omitted from a policy file; durations are written like "15m", times of
/// day like "08:00".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemperatureRules {
    /// R-TMP-1: bedroom or living room not open to a balcony.
    pub living_min_c: f64,
    /// R-TMP-1: hall, kitchen, bathroom, heated balcony.
    pub other_min_c: f64,
    /// R-TMP-1: bedroom or living room open to a balcony (policy value).
    pub open_to_balcony_min_c: f64,
    /// R-TMP-2: earliest local start of a measurement.
    #[serde(with = "hh_mm")]
    pub window_start: NaiveTime,
    /// R-TMP-2: latest local end of a measurement.
    #[serde(with = "hh_mm")]
    pub window_end: NaiveTime,
    /// R-TMP-4: time between entering the dwelling and the first reading.
    #[serde(with = "human_duration")]
    pub settle: Duration,
    /// R-TMP-5: minimum length of one reading.
    #[serde(with = "human_duration")]
    pub min_duration: Duration,
    /// R-TMP-6: height of the thermometer above the floor.
    pub height_m: f64,
    /// R-TMP-6: allowed deviation from `height_m`.
    pub height_tolerance_m: f64,
    /// R-TMP-8: an outdoor temperature strictly below this exempts the utility.
    pub exempt_below_outdoor_c: f64,
    /// R-TMP-7: category of the ticket a resident's objection creates.
    pub remeasure_category: String,
}

impl Default for TemperatureRules {
    fn default() -> Self {
        TemperatureRules {
            living_min_c: 18.0,
            other_min_c: 16.0,
            open_to_balcony_min_c: 16.0,
            window_start: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            window_end: NaiveTime::from_hms_opt(21, 0, 0).expect("valid time"),
            settle: Duration::minutes(15),
            min_duration: Duration::minutes(10),
            height_m: 1.5,
            height_tolerance_m: 0.1,
            exempt_below_outdoor_c: -11.0,
            remeasure_category: "INDOOR_MEASUREMENT".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomType {
    Bedroom,
    LivingRoom,
    Hall,
    Kitchen,
    Bathroom,
    BalconyHeated,
}

impl RoomType {
    pub const ALL: [RoomType; 6] = [
        RoomType::Bedroom,
        RoomType::LivingRoom,
        RoomType::Hall,
        RoomType::Kitchen,
        RoomType::Bathroom,
        RoomType::BalconyHeated,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RoomType::Bedroom => "BEDROOM",
            RoomType::LivingRoom => "LIVING_ROOM",
            RoomType::Hall => "HALL",
            RoomType::Kitchen => "KITCHEN",
            RoomType::Bathroom => "BATHROOM",
            RoomType::BalconyHeated => "BALCONY_HEATED",
        }
    }

    /// The inverse of [`RoomType::as_str`] (exact match).
    pub fn parse(s: &str) -> Option<RoomType> {
        RoomType::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// R-TMP-8: the reasons the utility is not liable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Exemption {
    /// The resident altered the structure or the heating installation.
    StructureAltered,
    /// Unsuitable decoration or insulation.
    UnsuitableDecoration,
    /// Water or power cut, natural disaster.
    SupplyCutOrDisaster,
    /// Planned maintenance, emergency repair or trial run.
    MaintenanceOrTrialRun,
    /// Outdoor temperature below the design load (derived, never observed directly).
    ExtremeCold,
}

impl Exemption {
    pub const ALL: [Exemption; 5] = [
        Exemption::StructureAltered,
        Exemption::UnsuitableDecoration,
        Exemption::SupplyCutOrDisaster,
        Exemption::MaintenanceOrTrialRun,
        Exemption::ExtremeCold,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Exemption::StructureAltered => "STRUCTURE_ALTERED",
            Exemption::UnsuitableDecoration => "UNSUITABLE_DECORATION",
            Exemption::SupplyCutOrDisaster => "SUPPLY_CUT_OR_DISASTER",
            Exemption::MaintenanceOrTrialRun => "MAINTENANCE_OR_TRIAL_RUN",
            Exemption::ExtremeCold => "EXTREME_COLD",
        }
    }

    /// The inverse of [`Exemption::as_str`] (exact match).
    pub fn parse(s: &str) -> Option<Exemption> {
        Exemption::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// Facts of the visit given at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitFacts {
    /// When the inspector entered the dwelling (R-TMP-4).
    pub entered_at: DateTime<Utc>,
    /// R-TMP-3: the inspector's attestation that doors and windows are closed.
    pub doors_windows_closed: bool,
    pub outdoor_temp_c: Option<f64>,
    /// R-TMP-8 observations. `ExtremeCold` is derived from `outdoor_temp_c`
    /// and ignored here.
    pub observed_exemptions: Vec<Exemption>,
    /// R-TMP-12.
    pub thermometer_serial: String,
    /// R-TMP-12: the last day the thermometer may be used.
    pub calibration_due: NaiveDate,
    /// R-OUT-6: the supply interruption in force at the dwelling when the
    /// visit began, found by the server (never typed by hand).
    #[serde(default)]
    pub outage: Option<OutageCitation>,
}

/// R-OUT-6: the outage a visit's exemption cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageCitation {
    pub id: uuid::Uuid,
    /// Repair or maintenance work (检修、抢修) rather than supply cut for
    /// another reason.
    pub maintenance: bool,
}

/// R-TMP-12: a thermometer and the last day it may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub serial: String,
    pub calibration_due: NaiveDate,
}

/// One reading in one room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomMeasurement {
    /// R-TMP-12: the thermometer of this reading when it is not the
    /// visit's (an inspector may change instruments during a visit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<Instrument>,
    pub room_type: RoomType,
    pub open_to_balcony: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub temperature_c: f64,
    pub height_m: f64,
    pub at_room_centre: bool,
}

/// A broken protocol rule: the rule id (e.g. "R-TMP-4"), a stable reason
/// (e.g. "SETTLE_TIME_TOO_SHORT") and a human explanation with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: String,
    pub reason: String,
    pub message: String,
}

impl Violation {
    fn new(rule: &str, reason: &str, message: String) -> Violation {
        Violation {
            rule: rule.to_string(),
            reason: reason.to_string(),
            message,
        }
    }
}

/// R-TMP-9: the verdict of one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomVerdict {
    Compliant,
    NonCompliant,
    /// A protocol rule was broken: the reading is kept but does not count.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomResult {
    pub verdict: RoomVerdict,
    /// R-TMP-1 threshold for the room.
    pub required_c: f64,
    /// Empty unless the verdict is `Invalid`.
    pub violations: Vec<Violation>,
    /// Set when the inspector voided the reading: it no longer counts, and
    /// `verdict` stays what was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided: Option<Void>,
}

/// A reading voided by the inspector who took it (recorded by mistake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Why a visit measured nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoAccessReason {
    ResidentAbsent,
    EntryRefused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoAccess {
    pub reason: NoAccessReason,
    pub note: String,
}

/// R-TMP-9: the verdict of a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VisitVerdict {
    Compliant,
    NonCompliant,
    Exempt,
    DeemedCompliant,
    Inconclusive,
    /// Nothing measured: nobody home, or entry refused (an abandoned visit).
    NoAccess,
}

/// R-TMP-7: what the resident did with the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResidentOutcome {
    Signed,
    SignedWithObjection,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitResult {
    pub verdict: VisitVerdict,
    /// Sorted, deduplicated; includes `ExtremeCold` when it applies.
    pub exemptions: Vec<Exemption>,
    /// Rooms whose verdict is not `Invalid`.
    pub valid_rooms: usize,
    pub non_compliant_rooms: usize,
    /// One sentence saying why this verdict.
    pub explanation: String,
    /// For `NoAccess`: why, and the inspector's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_access: Option<NoAccess>,
}

impl VisitResult {
    /// R-TMP-9 / R-TMP-11: an abandoned visit's result.
    pub fn no_access(no_access: NoAccess) -> VisitResult {
        let why = match no_access.reason {
            NoAccessReason::ResidentAbsent => "nobody was at home",
            NoAccessReason::EntryRefused => "the resident refused entry",
        };
        VisitResult {
            verdict: VisitVerdict::NoAccess,
            exemptions: Vec::new(),
            valid_rooms: 0,
            non_compliant_rooms: 0,
            explanation: format!(
                "Nothing was measured: {why}. The visit counts in no compliance rate (R-TMP-11)."
            ),
            no_access: Some(no_access),
        }
    }
}

/// A value in whole units of 1/scale (e.g. millimetres for metres with
/// scale 1000), so that decimal boundaries compare exactly.
fn fixed(x: f64, scale: f64) -> i64 {
    (x * scale).round() as i64
}

fn centi(x: f64) -> i64 {
    fixed(x, 100.0)
}

fn milli(x: f64) -> i64 {
    fixed(x, 1000.0)
}

/// "15m", "9m 59s" for messages.
fn show(d: Duration) -> String {
    match d.to_std() {
        Ok(std) => humantime::format_duration(std).to_string(),
        Err(_) => format!(
            "-{}",
            humantime::format_duration((-d).to_std().unwrap_or_default())
        ),
    }
}

impl TemperatureRules {
    /// R-TMP-1 threshold for a room.
    pub fn required_c(&self, room_type: RoomType, open_to_balcony: bool) -> f64 {
        match room_type {
            RoomType::Bedroom | RoomType::LivingRoom if open_to_balcony => {
                self.open_to_balcony_min_c
            }
            RoomType::Bedroom | RoomType::LivingRoom => self.living_min_c,
            RoomType::Hall | RoomType::Kitchen | RoomType::Bathroom | RoomType::BalconyHeated => {
                self.other_min_c
            }
        }
    }

    /// R-TMP-2..6, R-TMP-12 checks and R-TMP-1 threshold for one reading.
    /// `tz` is the policy time zone. All violations are listed, in rule order.
    pub fn judge_room(
        &self,
        tz: chrono_tz::Tz,
        visit: &VisitFacts,
        m: &RoomMeasurement,
    ) -> RoomResult {
        let required_c = self.required_c(m.room_type, m.open_to_balcony);
        let mut violations = Vec::new();
        let start = m.started_at.with_timezone(&tz);
        let end = m.ended_at.with_timezone(&tz);

        // R-TMP-2: starts at or after window_start and ends at or before
        // window_end, local time, on one local day.
        if start.time() < self.window_start
            || end.time() > self.window_end
            || start.date_naive() != end.date_naive()
        {
            violations.push(Violation::new(
                rule::R_TMP_2,
                reason::OUTSIDE_MEASUREMENT_WINDOW,
                format!(
                    "measurement ran from {} to {} local time ({tz}); it must start at or after {} \
                     and end at or before {} on the same day",
                    start.format("%Y-%m-%d %H:%M:%S"),
                    end.format("%Y-%m-%d %H:%M:%S"),
                    self.window_start.format("%H:%M"),
                    self.window_end.format("%H:%M"),
                ),
            ));
        }

        // R-TMP-3: doors and windows closed, attested at the start of the visit.
        if !visit.doors_windows_closed {
            violations.push(Violation::new(
                rule::R_TMP_3,
                reason::DOORS_WINDOWS_OPEN,
                "doors and windows were not attested closed at the start of the visit".to_string(),
            ));
        }

        // R-TMP-4: no earlier than `settle` after entering the dwelling.
        let waited = m.started_at - visit.entered_at;
        if waited < self.settle {
            violations.push(Violation::new(
                rule::R_TMP_4,
                reason::SETTLE_TIME_TOO_SHORT,
                format!(
                    "measurement started {} after entering the dwelling; at least {} is required",
                    show(waited),
                    show(self.settle),
                ),
            ));
        }

        // R-TMP-5: lasts at least `min_duration`.
        let lasted = m.ended_at - m.started_at;
        if lasted < self.min_duration {
            violations.push(Violation::new(
                rule::R_TMP_5,
                reason::MEASUREMENT_TOO_SHORT,
                format!(
                    "measurement lasted {}; at least {} is required",
                    show(lasted),
                    show(self.min_duration),
                ),
            ));
        }

        // R-TMP-6: at the centre of the room ...
        if !m.at_room_centre {
            violations.push(Violation::new(
                rule::R_TMP_6,
                reason::NOT_AT_ROOM_CENTRE,
                "measurement was not taken at the centre of the room".to_string(),
            ));
        }
        // R-TMP-6: ... at height_m ± tolerance, compared in whole millimetres.
        if (milli(m.height_m) - milli(self.height_m)).abs() > milli(self.height_tolerance_m) {
            violations.push(Violation::new(
                rule::R_TMP_6,
                reason::WRONG_HEIGHT,
                format!(
                    "thermometer was {} m above the floor; it must be {} m ± {} m",
                    m.height_m, self.height_m, self.height_tolerance_m,
                ),
            ));
        }

        // R-TMP-12: the reading's instrument (its own, else the visit's)
        // within its calibration (due date inclusive, local date).
        let (serial, due) = match &m.instrument {
            Some(i) => (i.serial.as_str(), i.calibration_due),
            None => (visit.thermometer_serial.as_str(), visit.calibration_due),
        };
        if start.date_naive() > due {
            violations.push(Violation::new(
                rule::R_TMP_12,
                reason::INSTRUMENT_UNCALIBRATED,
                format!(
                    "thermometer {serial} was due for calibration on {due}; reading taken on {}",
                    start.date_naive(),
                ),
            ));
        }

        // R-TMP-9 / R-TMP-1: invalid if any rule is broken, else compare in
        // hundredths of a degree.
        let verdict = if !violations.is_empty() {
            RoomVerdict::Invalid
        } else if centi(m.temperature_c) >= centi(required_c) {
            RoomVerdict::Compliant
        } else {
            RoomVerdict::NonCompliant
        };
        RoomResult {
            verdict,
            required_c,
            violations,
            voided: None,
        }
    }

    /// R-TMP-8: observed exemptions plus `ExtremeCold` if the outdoor
    /// temperature is strictly below `exempt_below_outdoor_c` (in hundredths
    /// of a degree). Sorted and deduplicated; an observed `ExtremeCold` is ignored.
    pub fn exemptions(&self, visit: &VisitFacts) -> Vec<Exemption> {
        let mut out: Vec<Exemption> = visit
            .observed_exemptions
            .iter()
            .copied()
            .filter(|e| *e != Exemption::ExtremeCold)
            .collect();
        // R-OUT-6: supply cut in the area, by repair or maintenance work or otherwise.
        if let Some(o) = visit.outage {
            out.push(if o.maintenance {
                Exemption::MaintenanceOrTrialRun
            } else {
                Exemption::SupplyCutOrDisaster
            });
        }
        // R-TMP-8: beyond the design load.
        if let Some(t) = visit.outdoor_temp_c
            && centi(t) < centi(self.exempt_below_outdoor_c)
        {
            out.push(Exemption::ExtremeCold);
        }
        out.sort();
        out.dedup();
        out
    }

    /// R-TMP-9 / R-TMP-7: the visit verdict from its rooms' verdicts and (once
    /// finished) the resident's outcome. Precedence: exemption, refusal to
    /// sign, no valid reading, any cold room, else compliant. `outcome` None
    /// (visit in progress) gives the provisional verdict without the refusal rule.
    pub fn judge_visit(
        &self,
        visit: &VisitFacts,
        rooms: &[RoomVerdict],
        outcome: Option<ResidentOutcome>,
    ) -> VisitResult {
        let exemptions = self.exemptions(visit);
        let valid_rooms = rooms.iter().filter(|v| **v != RoomVerdict::Invalid).count();
        let non_compliant_rooms = rooms
            .iter()
            .filter(|v| **v == RoomVerdict::NonCompliant)
            .count();

        let (verdict, explanation) = if !exemptions.is_empty() {
            // R-TMP-8.
            let names: Vec<&str> = exemptions.iter().map(Exemption::as_str).collect();
            let mut text = format!("The utility is not liable (R-TMP-8): {}", names.join(", "));
            if exemptions.contains(&Exemption::ExtremeCold)
                && let Some(t) = visit.outdoor_temp_c
            {
                text.push_str(&format!(
                    " (outdoor {t} °C is below {} °C)",
                    self.exempt_below_outdoor_c
                ));
            }
            if let Some(o) = visit.outage {
                text.push_str(&format!(" (supply interruption {}, R-OUT-6)", o.id));
            }
            text.push('.');
            (VisitVerdict::Exempt, text)
        } else if outcome == Some(ResidentOutcome::Refused) {
            // R-TMP-7.
            (
                VisitVerdict::DeemedCompliant,
                "The resident refused to sign the record, so the result is deemed compliant (R-TMP-7)."
                    .to_string(),
            )
        } else if valid_rooms == 0 {
            // R-TMP-9.
            (
                VisitVerdict::Inconclusive,
                format!(
                    "No valid reading among {} room measurement(s) (R-TMP-9).",
                    rooms.len()
                ),
            )
        } else if non_compliant_rooms > 0 {
            // R-TMP-9 / R-TMP-1.
            (
                VisitVerdict::NonCompliant,
                format!(
                    "{non_compliant_rooms} of {valid_rooms} valid room reading(s) below the required temperature (R-TMP-1)."
                ),
            )
        } else {
            (
                VisitVerdict::Compliant,
                format!(
                    "All {valid_rooms} valid room reading(s) reach the required temperature (R-TMP-1)."
                ),
            )
        };
        VisitResult {
            verdict,
            exemptions,
            valid_rooms,
            non_compliant_rooms,
            explanation,
            no_access: None,
        }
    }
}

/// chrono::Duration as a humantime string ("15m", "1h 30m").
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

/// chrono::NaiveTime as "08:00" (or "08:00:30" when it has seconds).
mod hh_mm {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        let fmt = if t.second() == 0 && t.nanosecond() == 0 {
            "%H:%M"
        } else {
            "%H:%M:%S"
        };
        s.serialize_str(&t.format(fmt).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
            .map_err(|_| {
                serde::de::Error::custom(format!("invalid time of day {text:?}: expected HH:MM"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    const TZ: chrono_tz::Tz = Shanghai;

    fn rules() -> TemperatureRules {
        TemperatureRules::default()
    }

    /// A UTC instant on 2026-11-22 (Shanghai is UTC+8).
    fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
    }

    /// Entered at 10:00 local (02:00 UTC).
    fn visit() -> VisitFacts {
        VisitFacts {
            entered_at: utc(2, 0, 0),
            doors_windows_closed: true,
            outdoor_temp_c: Some(-5.0),
            observed_exemptions: vec![],
            outage: None,
            thermometer_serial: "TH-0042".to_string(),
            calibration_due: NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
        }
    }

    /// A valid bedroom reading at 10:20..10:30 local, 20 °C.
    fn reading() -> RoomMeasurement {
        RoomMeasurement {
            instrument: None,
            room_type: RoomType::Bedroom,
            open_to_balcony: false,
            started_at: utc(2, 20, 0),
            ended_at: utc(2, 30, 0),
            temperature_c: 20.0,
            height_m: 1.5,
            at_room_centre: true,
        }
    }

    fn reasons(r: &RoomResult) -> Vec<&str> {
        r.violations.iter().map(|v| v.reason.as_str()).collect()
    }

    fn judge(v: &VisitFacts, m: &RoomMeasurement) -> RoomResult {
        rules().judge_room(TZ, v, m)
    }

    #[test]
    fn a_valid_reading_is_compliant() {
        let r = judge(&visit(), &reading());
        assert_eq!(r.verdict, RoomVerdict::Compliant);
        assert_eq!(r.required_c, 18.0);
        assert!(r.violations.is_empty());
    }

    #[test]
    fn r_tmp_4_settle_boundary() {
        let v = visit();
        let mut m = reading();
        m.started_at = v.entered_at + Duration::seconds(14 * 60 + 59);
        m.ended_at = m.started_at + Duration::minutes(10);
        let r = judge(&v, &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::SETTLE_TIME_TOO_SHORT]);
        assert_eq!(r.violations[0].rule, "R-TMP-4");
        assert!(r.violations[0].message.contains("14m 59s"), "{r:?}");
        assert!(r.violations[0].message.contains("15m"), "{r:?}");

        m.started_at = v.entered_at + Duration::minutes(15);
        m.ended_at = m.started_at + Duration::minutes(10);
        assert_eq!(judge(&v, &m).verdict, RoomVerdict::Compliant);
    }

    #[test]
    fn r_tmp_4_reading_before_entering_is_invalid() {
        let v = visit();
        let mut m = reading();
        m.started_at = v.entered_at - Duration::minutes(5);
        m.ended_at = m.started_at + Duration::minutes(10);
        let r = judge(&v, &m);
        assert_eq!(reasons(&r), vec![reason::SETTLE_TIME_TOO_SHORT]);
    }

    #[test]
    fn r_tmp_5_duration_boundary() {
        let mut m = reading();
        m.ended_at = m.started_at + Duration::seconds(9 * 60 + 59);
        let r = judge(&visit(), &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::MEASUREMENT_TOO_SHORT]);
        assert_eq!(r.violations[0].rule, "R-TMP-5");
        assert!(r.violations[0].message.contains("9m 59s"), "{r:?}");

        m.ended_at = m.started_at + Duration::minutes(10);
        assert_eq!(judge(&visit(), &m).verdict, RoomVerdict::Compliant);
    }

    #[test]
    fn r_tmp_5_end_before_start_is_too_short() {
        let mut m = reading();
        m.ended_at = m.started_at - Duration::minutes(1);
        let r = judge(&visit(), &m);
        assert!(
            reasons(&r).contains(&reason::MEASUREMENT_TOO_SHORT),
            "{r:?}"
        );
    }

    /// A visit entered early enough that R-TMP-4 never interferes.
    fn early_visit() -> VisitFacts {
        VisitFacts {
            entered_at: utc(0, 0, 0) - Duration::hours(2),
            ..visit()
        }
    }

    #[test]
    fn r_tmp_2_start_boundary_in_shanghai() {
        let v = early_visit();
        let mut m = reading();
        // 07:59..08:09 local = 23:59 (previous day)..00:09 UTC.
        m.started_at = utc(0, 0, 0) - Duration::minutes(1);
        m.ended_at = utc(0, 9, 0);
        let r = judge(&v, &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::OUTSIDE_MEASUREMENT_WINDOW]);
        assert_eq!(r.violations[0].rule, "R-TMP-2");

        // 08:00..08:10 local = 00:00..00:10 UTC.
        m.started_at = utc(0, 0, 0);
        m.ended_at = utc(0, 10, 0);
        assert_eq!(judge(&v, &m).verdict, RoomVerdict::Compliant);
    }

    #[test]
    fn r_tmp_2_across_midnight_utc() {
        let v = early_visit();
        let mut m = reading();
        // 23:50 UTC..00:05 UTC = 07:50..08:05 local: starts too early.
        m.started_at = utc(0, 0, 0) - Duration::minutes(10);
        m.ended_at = utc(0, 5, 0);
        let r = judge(&v, &m);
        assert_eq!(reasons(&r), vec![reason::OUTSIDE_MEASUREMENT_WINDOW]);
        assert!(r.violations[0].message.contains("07:50"), "{r:?}");
    }

    #[test]
    fn r_tmp_2_end_boundary_in_shanghai() {
        let v = visit();
        let mut m = reading();
        // 20:50..21:00 local = 12:50..13:00 UTC.
        m.started_at = utc(12, 50, 0);
        m.ended_at = utc(13, 0, 0);
        assert_eq!(judge(&v, &m).verdict, RoomVerdict::Compliant);

        // 20:51..21:01 local.
        m.started_at = utc(12, 51, 0);
        m.ended_at = utc(13, 1, 0);
        let r = judge(&v, &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::OUTSIDE_MEASUREMENT_WINDOW]);
    }

    #[test]
    fn r_tmp_2_must_end_on_the_same_local_day() {
        let v = visit();
        let mut m = reading();
        // 20:55 local to 08:05 local the next day.
        m.started_at = utc(12, 55, 0);
        m.ended_at = utc(0, 5, 0) + Duration::days(1);
        let r = judge(&v, &m);
        assert_eq!(reasons(&r), vec![reason::OUTSIDE_MEASUREMENT_WINDOW]);
    }

    #[test]
    fn r_tmp_3_doors_open_invalidates_every_reading() {
        let v = VisitFacts {
            doors_windows_closed: false,
            ..visit()
        };
        for room_type in RoomType::ALL {
            let m = RoomMeasurement {
                room_type,
                ..reading()
            };
            let r = judge(&v, &m);
            assert_eq!(r.verdict, RoomVerdict::Invalid);
            assert_eq!(reasons(&r), vec![reason::DOORS_WINDOWS_OPEN]);
            assert_eq!(r.violations[0].rule, "R-TMP-3");
        }
    }

    #[test]
    fn r_tmp_6_height_boundaries() {
        for (h, ok) in [
            (1.39, false),
            (1.4, true),
            (1.5, true),
            (1.6, true),
            (1.61, false),
        ] {
            let m = RoomMeasurement {
                height_m: h,
                ..reading()
            };
            let r = judge(&visit(), &m);
            if ok {
                assert_eq!(r.verdict, RoomVerdict::Compliant, "{h}: {r:?}");
            } else {
                assert_eq!(reasons(&r), vec![reason::WRONG_HEIGHT], "{h}");
                assert_eq!(r.violations[0].rule, "R-TMP-6");
                assert!(r.violations[0].message.contains(&h.to_string()));
            }
        }
        // Computed heights carry float noise: 1.5 + 0.1 = 1.6000000000000001.
        let m = RoomMeasurement {
            height_m: 1.5 + 0.1,
            ..reading()
        };
        assert_eq!(judge(&visit(), &m).verdict, RoomVerdict::Compliant);
        let m = RoomMeasurement {
            height_m: 1.5 - 0.1,
            ..reading()
        };
        assert_eq!(judge(&visit(), &m).verdict, RoomVerdict::Compliant);
    }

    #[test]
    fn r_tmp_6_not_at_room_centre() {
        let m = RoomMeasurement {
            at_room_centre: false,
            ..reading()
        };
        let r = judge(&visit(), &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::NOT_AT_ROOM_CENTRE]);
        assert_eq!(r.violations[0].rule, "R-TMP-6");
    }

    #[test]
    fn r_tmp_12_calibration_due_boundary() {
        // The reading is on 2026-11-22 local.
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let v = VisitFacts {
            calibration_due: today,
            ..visit()
        };
        assert_eq!(judge(&v, &reading()).verdict, RoomVerdict::Compliant);

        let v = VisitFacts {
            calibration_due: today.pred_opt().unwrap(),
            ..visit()
        };
        let r = judge(&v, &reading());
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(reasons(&r), vec![reason::INSTRUMENT_UNCALIBRATED]);
        assert_eq!(r.violations[0].rule, "R-TMP-12");
        assert!(r.violations[0].message.contains("TH-0042"));
    }

    /// R-TMP-12: a reading that names its own thermometer is judged by
    /// that one's due date, not the visit's, at the edge and a day past it.
    #[test]
    fn r_tmp_12_a_reading_names_its_own_instrument() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let own = |due| RoomMeasurement {
            instrument: Some(Instrument {
                serial: "TH-0777".into(),
                calibration_due: due,
            }),
            ..reading()
        };
        let expired_visit = VisitFacts {
            calibration_due: today.pred_opt().unwrap(),
            ..visit()
        };
        assert_eq!(
            judge(&expired_visit, &own(today)).verdict,
            RoomVerdict::Compliant,
            "its own thermometer, due today, is valid"
        );
        let r = judge(&visit(), &own(today.pred_opt().unwrap()));
        assert_eq!(reasons(&r), vec![reason::INSTRUMENT_UNCALIBRATED]);
        assert!(r.violations[0].message.contains("TH-0777"));
    }

    #[test]
    fn r_tmp_12_uses_the_local_date() {
        // New York is UTC-5 in November: the local date can be a day behind UTC.
        let ny = chrono_tz::America::New_York;
        let due = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        // 2026-11-22 01:00 UTC = 2026-11-21 20:00 local: due today, valid
        // (judged by the UTC date it would be past due).
        let v = VisitFacts {
            entered_at: utc(0, 0, 0),
            calibration_due: due,
            ..visit()
        };
        let m = RoomMeasurement {
            started_at: utc(1, 0, 0),
            ended_at: utc(1, 10, 0),
            ..reading()
        };
        assert_eq!(
            rules().judge_room(ny, &v, &m).verdict,
            RoomVerdict::Compliant
        );
        // 2026-11-22 14:00 UTC = 09:00 local on the 22nd: past due.
        let v = VisitFacts {
            entered_at: utc(13, 0, 0),
            calibration_due: due,
            ..visit()
        };
        let m = RoomMeasurement {
            started_at: utc(14, 0, 0),
            ended_at: utc(14, 10, 0),
            ..reading()
        };
        assert_eq!(
            reasons(&rules().judge_room(ny, &v, &m)),
            vec![reason::INSTRUMENT_UNCALIBRATED]
        );
    }

    #[test]
    fn r_tmp_1_bedroom_boundary() {
        for (t, expected) in [
            (17.9, RoomVerdict::NonCompliant),
            (17.99, RoomVerdict::NonCompliant),
            (18.0, RoomVerdict::Compliant),
            (17.0 + 1.0, RoomVerdict::Compliant),
        ] {
            let m = RoomMeasurement {
                temperature_c: t,
                ..reading()
            };
            let r = judge(&visit(), &m);
            assert_eq!(r.verdict, expected, "{t}");
            assert_eq!(r.required_c, 18.0);
        }
        // Float noise just below 18: 18.1 - 0.1 = 17.999999999999996.
        let m = RoomMeasurement {
            temperature_c: 18.1 - 0.1,
            ..reading()
        };
        assert_eq!(judge(&visit(), &m).verdict, RoomVerdict::Compliant);
    }

    #[test]
    fn r_tmp_1_kitchen_boundary() {
        for (t, expected) in [
            (15.9, RoomVerdict::NonCompliant),
            (16.0, RoomVerdict::Compliant),
        ] {
            let m = RoomMeasurement {
                room_type: RoomType::Kitchen,
                temperature_c: t,
                ..reading()
            };
            let r = judge(&visit(), &m);
            assert_eq!(r.verdict, expected, "{t}");
            assert_eq!(r.required_c, 16.0);
        }
    }

    #[test]
    fn r_tmp_1_open_to_balcony_judged_at_16() {
        for room_type in [RoomType::Bedroom, RoomType::LivingRoom] {
            for (t, expected) in [
                (15.9, RoomVerdict::NonCompliant),
                (16.0, RoomVerdict::Compliant),
            ] {
                let m = RoomMeasurement {
                    room_type,
                    open_to_balcony: true,
                    temperature_c: t,
                    ..reading()
                };
                let r = judge(&visit(), &m);
                assert_eq!(r.required_c, 16.0);
                assert_eq!(r.verdict, expected, "{room_type:?} {t}");
            }
        }
    }

    #[test]
    fn r_tmp_1_required_by_room_type() {
        let r = rules();
        for open in [false, true] {
            assert_eq!(r.required_c(RoomType::Hall, open), 16.0);
            assert_eq!(r.required_c(RoomType::Kitchen, open), 16.0);
            assert_eq!(r.required_c(RoomType::Bathroom, open), 16.0);
            assert_eq!(r.required_c(RoomType::BalconyHeated, open), 16.0);
        }
        assert_eq!(r.required_c(RoomType::Bedroom, false), 18.0);
        assert_eq!(r.required_c(RoomType::LivingRoom, false), 18.0);
        assert_eq!(r.required_c(RoomType::Bedroom, true), 16.0);
        assert_eq!(r.required_c(RoomType::LivingRoom, true), 16.0);
        // Policy values are used, not constants.
        let custom = TemperatureRules {
            living_min_c: 20.0,
            other_min_c: 17.0,
            open_to_balcony_min_c: 18.5,
            ..rules()
        };
        assert_eq!(custom.required_c(RoomType::Bedroom, false), 20.0);
        assert_eq!(custom.required_c(RoomType::LivingRoom, true), 18.5);
        assert_eq!(custom.required_c(RoomType::Kitchen, true), 17.0);
    }

    #[test]
    fn r_tmp_9_multiple_violations_all_listed() {
        let v = VisitFacts {
            doors_windows_closed: false,
            calibration_due: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ..visit()
        };
        // 07:55 local, 2 min after entering, 5 min long, off-centre, at 1 m, very cold.
        let m = RoomMeasurement {
            instrument: None,
            room_type: RoomType::LivingRoom,
            open_to_balcony: false,
            started_at: utc(0, 0, 0) - Duration::minutes(5),
            ended_at: utc(0, 0, 0),
            temperature_c: 10.0,
            height_m: 1.0,
            at_room_centre: false,
        };
        let v = VisitFacts {
            entered_at: m.started_at - Duration::minutes(2),
            ..v
        };
        let r = judge(&v, &m);
        assert_eq!(r.verdict, RoomVerdict::Invalid);
        assert_eq!(
            reasons(&r),
            vec![
                reason::OUTSIDE_MEASUREMENT_WINDOW,
                reason::DOORS_WINDOWS_OPEN,
                reason::SETTLE_TIME_TOO_SHORT,
                reason::MEASUREMENT_TOO_SHORT,
                reason::NOT_AT_ROOM_CENTRE,
                reason::WRONG_HEIGHT,
                reason::INSTRUMENT_UNCALIBRATED,
            ]
        );
        let rules_: Vec<&str> = r.violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(
            rules_,
            vec![
                "R-TMP-2", "R-TMP-3", "R-TMP-4", "R-TMP-5", "R-TMP-6", "R-TMP-6", "R-TMP-12"
            ]
        );
    }

    #[test]
    fn r_tmp_8_outdoor_boundary() {
        let r = rules();
        let at = |t: f64| VisitFacts {
            outdoor_temp_c: Some(t),
            ..visit()
        };
        assert!(r.exemptions(&at(-11.0)).is_empty());
        assert!(r.exemptions(&at(-10.0)).is_empty());
        assert_eq!(r.exemptions(&at(-11.1)), vec![Exemption::ExtremeCold]);
        assert_eq!(r.exemptions(&at(-20.0)), vec![Exemption::ExtremeCold]);
        // Float noise around -11: -10.9 - 0.1 = -11.000000000000002.
        assert!(r.exemptions(&at(-10.9 - 0.1)).is_empty());
        let unknown = VisitFacts {
            outdoor_temp_c: None,
            ..visit()
        };
        assert!(r.exemptions(&unknown).is_empty());

        let res = r.judge_visit(&at(-11.1), &[RoomVerdict::NonCompliant], None);
        assert_eq!(res.verdict, VisitVerdict::Exempt);
        assert_eq!(res.exemptions, vec![Exemption::ExtremeCold]);
        assert!(res.explanation.contains("EXTREME_COLD"), "{res:?}");
        assert!(res.explanation.contains("-11.1"), "{res:?}");

        let res = r.judge_visit(&at(-11.0), &[RoomVerdict::NonCompliant], None);
        assert_eq!(res.verdict, VisitVerdict::NonCompliant);
    }

    #[test]
    fn r_tmp_8_observed_extreme_cold_is_ignored() {
        let v = VisitFacts {
            outdoor_temp_c: Some(0.0),
            observed_exemptions: vec![Exemption::ExtremeCold],
            ..visit()
        };
        assert!(rules().exemptions(&v).is_empty());
        let res = rules().judge_visit(&v, &[RoomVerdict::Compliant], None);
        assert_eq!(res.verdict, VisitVerdict::Compliant);
    }

    #[test]
    fn r_tmp_8_each_observed_exemption_gives_exempt() {
        for e in [
            Exemption::StructureAltered,
            Exemption::UnsuitableDecoration,
            Exemption::SupplyCutOrDisaster,
            Exemption::MaintenanceOrTrialRun,
        ] {
            let v = VisitFacts {
                observed_exemptions: vec![e],
                ..visit()
            };
            for outcome in [
                None,
                Some(ResidentOutcome::Signed),
                Some(ResidentOutcome::Refused),
            ] {
                let res = rules().judge_visit(&v, &[RoomVerdict::NonCompliant], outcome);
                assert_eq!(res.verdict, VisitVerdict::Exempt, "{e:?} {outcome:?}");
                assert_eq!(res.exemptions, vec![e]);
                assert!(res.explanation.contains(e.as_str()), "{res:?}");
            }
        }
    }

    #[test]
    fn r_tmp_8_exemptions_sorted_and_deduplicated() {
        let v = VisitFacts {
            outdoor_temp_c: Some(-15.0),
            observed_exemptions: vec![
                Exemption::MaintenanceOrTrialRun,
                Exemption::StructureAltered,
                Exemption::MaintenanceOrTrialRun,
            ],
            ..visit()
        };
        assert_eq!(
            rules().exemptions(&v),
            vec![
                Exemption::StructureAltered,
                Exemption::MaintenanceOrTrialRun,
                Exemption::ExtremeCold,
            ]
        );
    }

    #[test]
    fn r_tmp_7_refused_gives_deemed_compliant() {
        let res = rules().judge_visit(
            &visit(),
            &[RoomVerdict::NonCompliant, RoomVerdict::Invalid],
            Some(ResidentOutcome::Refused),
        );
        assert_eq!(res.verdict, VisitVerdict::DeemedCompliant);
        assert_eq!(res.valid_rooms, 1);
        assert_eq!(res.non_compliant_rooms, 1);
        assert!(res.explanation.contains("R-TMP-7"));
        // Even with no valid reading.
        let res = rules().judge_visit(
            &visit(),
            &[RoomVerdict::Invalid],
            Some(ResidentOutcome::Refused),
        );
        assert_eq!(res.verdict, VisitVerdict::DeemedCompliant);
        // Provisional (no outcome yet): the rooms decide.
        let res = rules().judge_visit(&visit(), &[RoomVerdict::NonCompliant], None);
        assert_eq!(res.verdict, VisitVerdict::NonCompliant);
    }

    #[test]
    fn r_tmp_7_signing_does_not_change_the_verdict() {
        for outcome in [
            None,
            Some(ResidentOutcome::Signed),
            Some(ResidentOutcome::SignedWithObjection),
        ] {
            let res = rules().judge_visit(
                &visit(),
                &[RoomVerdict::Compliant, RoomVerdict::NonCompliant],
                outcome,
            );
            assert_eq!(res.verdict, VisitVerdict::NonCompliant, "{outcome:?}");
            let res = rules().judge_visit(&visit(), &[RoomVerdict::Compliant], outcome);
            assert_eq!(res.verdict, VisitVerdict::Compliant, "{outcome:?}");
        }
    }

    #[test]
    fn r_tmp_9_only_invalid_rooms_is_inconclusive() {
        for outcome in [None, Some(ResidentOutcome::Signed)] {
            let res = rules().judge_visit(
                &visit(),
                &[RoomVerdict::Invalid, RoomVerdict::Invalid],
                outcome,
            );
            assert_eq!(res.verdict, VisitVerdict::Inconclusive);
            assert_eq!(res.valid_rooms, 0);
            assert_eq!(res.non_compliant_rooms, 0);
        }
        let res = rules().judge_visit(&visit(), &[], None);
        assert_eq!(res.verdict, VisitVerdict::Inconclusive);
    }

    #[test]
    fn r_tmp_9_visit_counts_and_verdicts() {
        let res = rules().judge_visit(
            &visit(),
            &[
                RoomVerdict::Compliant,
                RoomVerdict::Invalid,
                RoomVerdict::NonCompliant,
                RoomVerdict::NonCompliant,
            ],
            Some(ResidentOutcome::SignedWithObjection),
        );
        assert_eq!(res.verdict, VisitVerdict::NonCompliant);
        assert_eq!(res.valid_rooms, 3);
        assert_eq!(res.non_compliant_rooms, 2);
        assert!(res.exemptions.is_empty());
        assert!(res.explanation.contains("2 of 3"), "{res:?}");

        let res = rules().judge_visit(
            &visit(),
            &[RoomVerdict::Compliant, RoomVerdict::Invalid],
            None,
        );
        assert_eq!(res.verdict, VisitVerdict::Compliant);
        assert_eq!(res.valid_rooms, 1);
    }

    #[test]
    fn enums_round_trip_through_their_names() {
        for r in RoomType::ALL {
            assert_eq!(RoomType::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        for e in Exemption::ALL {
            assert_eq!(Exemption::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        assert_eq!(RoomType::parse("bedroom"), None);
        assert_eq!(RoomType::parse("GARAGE"), None);
        assert_eq!(Exemption::parse(""), None);
        assert_eq!(
            serde_json::to_string(&VisitVerdict::DeemedCompliant).unwrap(),
            "\"DEEMED_COMPLIANT\""
        );
        assert_eq!(
            serde_json::to_string(&ResidentOutcome::SignedWithObjection).unwrap(),
            "\"SIGNED_WITH_OBJECTION\""
        );
        assert_eq!(
            serde_json::to_string(&RoomVerdict::NonCompliant).unwrap(),
            "\"NON_COMPLIANT\""
        );
    }

    #[test]
    fn rules_defaults_round_trip_through_toml() {
        let d = TemperatureRules::default();
        let text = toml::to_string(&d).unwrap();
        assert!(text.contains("settle = \"15m\""), "{text}");
        assert!(text.contains("min_duration = \"10m\""), "{text}");
        assert!(text.contains("window_start = \"08:00\""), "{text}");
        assert!(text.contains("window_end = \"21:00\""), "{text}");
        let back: TemperatureRules = toml::from_str(&text).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn rules_empty_toml_gives_defaults() {
        let r: TemperatureRules = toml::from_str("").unwrap();
        assert_eq!(r, TemperatureRules::default());
        assert_eq!(r.living_min_c, 18.0);
        assert_eq!(r.other_min_c, 16.0);
        assert_eq!(r.open_to_balcony_min_c, 16.0);
        assert_eq!(r.window_start, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        assert_eq!(r.window_end, NaiveTime::from_hms_opt(21, 0, 0).unwrap());
        assert_eq!(r.settle, Duration::minutes(15));
        assert_eq!(r.min_duration, Duration::minutes(10));
        assert_eq!(r.height_m, 1.5);
        assert_eq!(r.height_tolerance_m, 0.1);
        assert_eq!(r.exempt_below_outdoor_c, -11.0);
        assert_eq!(r.remeasure_category, "INDOOR_MEASUREMENT");
    }

    #[test]
    fn rules_partial_toml_overrides_only_given_fields() {
        let r: TemperatureRules = toml::from_str(
            "living_min_c = 20.0\nsettle = \"20m\"\nwindow_start = \"07:30\"\nwindow_end = \"21:30:15\"\n",
        )
        .unwrap();
        assert_eq!(r.living_min_c, 20.0);
        assert_eq!(r.settle, Duration::minutes(20));
        assert_eq!(r.window_start, NaiveTime::from_hms_opt(7, 30, 0).unwrap());
        assert_eq!(r.window_end, NaiveTime::from_hms_opt(21, 30, 15).unwrap());
        assert_eq!(r.other_min_c, 16.0);
        let text = toml::to_string(&r).unwrap();
        assert!(text.contains("window_end = \"21:30:15\""), "{text}");
        assert_eq!(toml::from_str::<TemperatureRules>(&text).unwrap(), r);
    }

    #[test]
    fn rules_unknown_key_is_rejected() {
        let e = toml::from_str::<TemperatureRules>("living_min = 18.0\n").unwrap_err();
        assert!(e.to_string().contains("living_min"), "{e}");
    }

    #[test]
    fn rules_bad_values_are_rejected() {
        assert!(toml::from_str::<TemperatureRules>("settle = \"soon\"\n").is_err());
        assert!(toml::from_str::<TemperatureRules>("window_start = \"8am\"\n").is_err());
        assert!(toml::from_str::<TemperatureRules>("window_end = \"25:00\"\n").is_err());
    }
}
