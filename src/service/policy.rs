//! GetPolicy: the policy in force, for every role (consoles and handhelds
//! show its labels instead of codes).
use crate::domain::access;
use crate::domain::{Caller, Method, Policy};
use crate::error::AppResult;
use chrono_tz::Tz;
use std::sync::Arc;

#[derive(Clone)]
pub struct PolicyService {
    policy: Arc<Policy>,
    tz: Tz,
}

impl PolicyService {
    pub fn new(policy: Arc<Policy>, tz: Tz) -> PolicyService {
        PolicyService { policy, tz }
    }

    /// The policy in force and the time zone of its local-time rules.
    pub fn get(&self, caller: &Caller) -> AppResult<(&Policy, Tz)> {
        access::authorize(caller, Method::GetPolicy)?;
        Ok((&self.policy, self.tz))
    }
}
