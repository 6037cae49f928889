//! Meter readings and exchanges (R-MTR-1, R-MTR-2).
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MeterUnit {
    CubicMetre,
    Gigajoule,
    KilowattHour,
}

impl MeterUnit {
    pub const ALL: [MeterUnit; 3] = [
        MeterUnit::CubicMetre,
        MeterUnit::Gigajoule,
        MeterUnit::KilowattHour,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MeterUnit::CubicMetre => "CUBIC_METRE",
            MeterUnit::Gigajoule => "GIGAJOULE",
            MeterUnit::KilowattHour => "KILOWATT_HOUR",
        }
    }

    pub fn parse(s: &str) -> Option<MeterUnit> {
        MeterUnit::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterReading {
    pub id: Uuid,
    pub version: i64,
    /// The metering point: it keeps its id when the device is exchanged.
    pub meter_id: String,
    pub value: f64,
    pub unit: MeterUnit,
    pub read_at: DateTime<Utc>,
    pub inspector: String,
    pub rollback: bool,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterExchange {
    pub id: Uuid,
    pub meter_id: String,
    pub old_serial: String,
    pub new_serial: String,
    pub old_final_value: f64,
    pub new_initial_value: f64,
    pub unit: MeterUnit,
    pub exchanged_at: DateTime<Utc>,
    pub reader_present: bool,
    pub customer_present: bool,
    pub flagged: bool,
    pub inspector: String,
    pub received_at: DateTime<Utc>,
}

/// R-MTR-1: a meter reads in one unit, the one its readings and exchanges
/// were recorded in (`established`); a reading or an exchange in another
/// is refused, since a register read in m³ and in GJ cannot be compared
/// for a rollback. The first record of a meter sets its unit.
pub fn check_unit(
    meter_id: &str,
    established: Option<MeterUnit>,
    given: MeterUnit,
) -> AppResult<()> {
    match established {
        Some(unit) if unit != given => Err(AppError::precondition(
            reason::METER_UNIT_MISMATCH,
            format!("meters/{meter_id}"),
            format!(
                "meter {} reads in METER_UNIT_{}; a value in METER_UNIT_{} is refused",
                crate::error::echo(meter_id),
                unit.as_str(),
                given.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// R-MTR-2: an exchange needs both the meter reader and the customer present.
pub fn exchange_flagged(reader_present: bool, customer_present: bool) -> bool {
    !(reader_present && customer_present)
}

/// R-MTR-1: which readings of one meter are rollbacks. A reading is a
/// rollback when its value is lower than the reading before it (by read
/// time) and no exchange lies between the two (after the earlier, at or
/// before the later). Computed over the whole history so that readings and
/// exchanges arriving out of order (offline handhelds) end up flagged the
/// same as if they had arrived in order.
pub fn rollback_flags(
    readings: &[(Uuid, DateTime<Utc>, f64)],
    exchanges: &[DateTime<Utc>],
) -> HashMap<Uuid, bool> {
    let mut sorted: Vec<_> = readings.to_vec();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut flags = HashMap::with_capacity(sorted.len());
    let mut previous: Option<(DateTime<Utc>, f64)> = None;
    for (id, at, value) in sorted {
        let rollback = match previous {
            Some((prev_at, prev_value)) => {
                value < prev_value && !exchanges.iter().any(|x| *x > prev_at && *x <= at)
            }
            None => false,
        };
        flags.insert(id, rollback);
        previous = Some((at, value));
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_mtr_1_a_meter_reads_in_one_unit() {
        use MeterUnit::*;
        assert!(
            check_unit("M-1", None, Gigajoule).is_ok(),
            "the first record sets it"
        );
        assert!(check_unit("M-1", Some(CubicMetre), CubicMetre).is_ok());
        let e = check_unit("M-1", Some(CubicMetre), Gigajoule).unwrap_err();
        assert_eq!(e.reason(), reason::METER_UNIT_MISMATCH);
        assert!(check_unit("M-1", Some(Gigajoule), KilowattHour).is_err());
    }
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn r_mtr_1_lower_value_is_a_rollback() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let f = rollback_flags(&[(a, t(0), 100.0), (b, t(1), 99.5), (c, t(2), 120.0)], &[]);
        assert!(!f[&a]);
        assert!(f[&b]);
        assert!(!f[&c], "compared with the reading just before");
    }

    #[test]
    fn r_mtr_1_exchange_between_unflags() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let f = rollback_flags(&[(a, t(0), 100.0), (b, t(2), 3.0)], &[t(1)]);
        assert!(!f[&b]);
        // An exchange outside the interval does not help.
        let f = rollback_flags(&[(a, t(0), 100.0), (b, t(2), 3.0)], &[t(3)]);
        assert!(f[&b]);
        // Out-of-order arrival gives the same answer.
        let f = rollback_flags(&[(b, t(2), 3.0), (a, t(0), 100.0)], &[t(1)]);
        assert!(!f[&b]);
    }

    #[test]
    fn r_mtr_2_both_witnesses_needed() {
        assert!(!exchange_flagged(true, true));
        assert!(exchange_flagged(true, false));
        assert!(exchange_flagged(false, true));
        assert!(exchange_flagged(false, false));
    }
}
