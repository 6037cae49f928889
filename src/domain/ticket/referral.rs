//! R-TKT-15: a call referred by another platform (12345, 12319, 8901890,
//! 数字城管, 网上行风, the property office) carries the platform's own
//! reference and deadline; the utility replies on the platform before it.
use super::*;

/// The referral as recorded at intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The platform's own reference of the matter (its work-order number);
    /// empty when the platform gave none. Unique per platform.
    pub reference: String,
    /// The platform's reply deadline, or the policy's default.
    pub deadline: DateTime<Utc>,
    /// True when the platform named the deadline (false: the policy's default).
    pub deadline_from_platform: bool,
}

/// The referral fields of an intake, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewReferral {
    pub reference: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// A reference is a platform's work-order number: letters, digits and the
/// separators platforms use, nothing that could hide a second value.
fn reference_is_well_formed(r: &str) -> bool {
    r.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | '#'))
}

impl Referral {
    /// R-TKT-15: the referral of a call from `source` received at
    /// `received_at`, or None for a source that is not a platform. A
    /// reference or deadline on a call from elsewhere is refused: it would
    /// promise a reply nobody expects.
    pub fn at_intake(
        policy: &Policy,
        source: SourceChannel,
        received_at: DateTime<Utc>,
        input: Option<NewReferral>,
    ) -> AppResult<Option<Referral>> {
        let input = input.unwrap_or_default();
        let reference = input.reference.trim().to_string();
        if !source.is_platform() {
            if !reference.is_empty() || input.deadline.is_some() {
                return Err(AppError::invalid(
                    "referral",
                    reason::NOT_A_PLATFORM,
                    format!(
                        "source {} is not a referring platform; a referral needs one of \
                         CITY_HOTLINE, SUPERVISION_HOTLINE, SERVICE_HOTLINE, DIGITAL_CITY, \
                         ONLINE_CONDUCT, PROPERTY_OFFICE",
                        source.as_str()
                    ),
                ));
            }
            return Ok(None);
        }
        let mut errors = Vec::new();
        if !reference_is_well_formed(&reference) {
            errors.push(AppError::invalid(
                "referral.reference",
                reason::INVALID_FIELD,
                "referral.reference may hold letters, digits and - _ / . # only",
            ));
        }
        let rules = &policy.referral;
        if let Some(d) = input.deadline {
            if d <= received_at {
                errors.push(AppError::invalid(
                    "referral.deadline",
                    reason::OUT_OF_RANGE,
                    "referral.deadline must be after the call",
                ));
            } else if d > received_at + rules.max_deadline {
                errors.push(AppError::invalid(
                    "referral.deadline",
                    reason::OUT_OF_RANGE,
                    format!(
                        "referral.deadline may be at most {} days after the call",
                        rules.max_deadline.num_days()
                    ),
                ));
            }
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        Ok(Some(Referral {
            reference,
            deadline: input.deadline.unwrap_or(received_at + rules.reply_within),
            deadline_from_platform: input.deadline.is_some(),
        }))
    }
}
