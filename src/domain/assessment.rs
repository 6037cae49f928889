//! Assessment (考核, DOMAIN.md section 8): the kinds of item the record
//! raises against units and staff (R-ASM-1) and the rewards (R-ASM-3), with
//! the policy's table of points and amounts. Amounts are whole yuan.
use crate::domain::outage::OutageClock;
use crate::domain::sla::ClockKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
}
