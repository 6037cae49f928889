//! R-TKT-17 major matters (呈办): a petition that bypasses levels, a group
//! petition, a major help request or a foreign-related complaint is
//! reported to the leadership at once (the flag is on the change feed every
//! supervisor follows), gets a named responsible person and the leader's
//! instruction with its deadline, and is tracked until resolved: the
//! leadership hears daily and the caller and the referring body every 3
//! days [000 四.8(4)]; one not resolved by the leader's deadline needs a
//! written report before it (a contact with the leadership in writing).
use super::*;

wire_enum! {
    /// Why a matter is major.
    MajorKind {
        /// 越级上访.
        PetitionBypassingLevels = "PETITION_BYPASSING_LEVELS",
        /// 集体上访.
        GroupPetition = "GROUP_PETITION",
        /// 重大求助.
        MajorHelpRequest = "MAJOR_HELP_REQUEST",
        /// 涉外投诉.
        ForeignRelated = "FOREIGN_RELATED",
    }
}

/// The major flag as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Major {
    pub kind: MajorKind,
    /// The staff member answerable for it (专办人员).
    pub responsible: String,
    /// The leader's instruction (批示), once given.
    pub instruction: String,
    pub instruction_deadline: Option<DateTime<Utc>>,
    pub flagged_by: String,
    pub flagged_at: DateTime<Utc>,
}

/// A major flag as the caller gives it, before validation.
#[derive(Debug, Clone)]
pub struct NewMajor {
    pub kind: Option<MajorKind>,
    pub responsible: String,
    pub instruction: String,
    pub instruction_deadline: Option<DateTime<Utc>>,
}

impl NewMajor {
    /// The field errors of this flag, under `prefix` (e.g. `major.`).
    fn violations(&self, now: DateTime<Utc>, prefix: &str) -> Vec<AppError> {
        let mut errors = Vec::new();
        if self.kind.is_none() {
            errors.push(AppError::missing(format!("{prefix}kind")));
        }
        if let Err(e) = required_text(&self.responsible, &format!("{prefix}responsible")) {
            errors.push(e);
        }
        if self.instruction_deadline.is_some_and(|d| d <= now) {
            let field = format!("{prefix}instruction_deadline");
            errors.push(AppError::invalid(
                &field,
                reason::OUT_OF_RANGE,
                format!("{field} must be in the future"),
            ));
        }
        errors
    }
}

impl Ticket {
    /// R-TKT-17: the field errors of an intake's major flag.
    pub(super) fn major_at_intake(ctx: &Ctx, input: Option<&NewMajor>) -> Vec<AppError> {
        input.map_or_else(Vec::new, |m| m.violations(ctx.now, "major."))
    }

    /// Set the flag and start (or restart) its clocks from `now`.
    pub(super) fn set_major(
        &mut self,
        policy: &Policy,
        m: &NewMajor,
        by: &str,
        now: DateTime<Utc>,
    ) {
        let f = &policy.feedback;
        let first = self.major.is_none();
        // An update keeps who flagged it and when.
        let (flagged_by, flagged_at) = self.major.as_ref().map_or((by.to_string(), now), |x| {
            (x.flagged_by.clone(), x.flagged_at)
        });
        self.major = Some(Major {
            kind: m.kind.expect("validated"),
            responsible: m.responsible.trim().to_string(),
            instruction: m.instruction.trim().to_string(),
            instruction_deadline: m.instruction_deadline,
            flagged_by,
            flagged_at,
        });
        let d = &mut self.deadlines.follow_up;
        d.instruction_by = m.instruction_deadline;
        if first {
            d.leadership_by = Some(now + f.leadership_every);
            d.caller_update_by = Some(now + f.major_contact_every);
            if self.referral.is_some() || self.source.is_platform() {
                d.referrer_update_by = Some(now + f.major_contact_every);
            }
        }
    }

    /// R-TKT-17: flag a recorded ticket as major, or update the flag (the
    /// leader's instruction usually comes after the report). Dispatch or a
    /// supervisor; while the matter is open.
    pub fn flag_major(&self, ctx: &Ctx, input: &NewMajor) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::FlagMajor)?;
        let state = self.next_state(Action::FlagMajor)?;
        if let Some(e) = AppError::from_violations(input.violations(ctx.now, "major.")) {
            return Err(e);
        }
        let mut next = self.clone();
        next.state = state;
        let kind = if self.major.is_some() {
            "MAJOR_UPDATED"
        } else {
            "MAJOR_FLAGGED"
        };
        next.set_major(ctx.policy, input, &ctx.caller.sub, ctx.now);
        let details = json!({ "major": next.major });
        Ok(self.changed(next, ctx, kind, role, EventTime::server(ctx.now), details))
    }
}
