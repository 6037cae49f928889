//! Who is calling: the authenticated staff member or machine client (DOMAIN.md section 1).
use serde::{Deserialize, Serialize};
use std::fmt;

/// JWT `roles` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Dispatcher,
    Crew,
    Inspector,
    Supervisor,
    Backoffice,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Dispatcher,
        Role::Crew,
        Role::Inspector,
        Role::Supervisor,
        Role::Backoffice,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dispatcher => "dispatcher",
            Role::Crew => "crew",
            Role::Inspector => "inspector",
            Role::Supervisor => "supervisor",
            Role::Backoffice => "backoffice",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller. Built only from a verified token, so `sub` and
/// `unit` are non-empty and `roles` has at least one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub roles: Vec<Role>,
    pub unit: String,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The first of `allowed` that the caller holds: the role he acts in.
    pub fn acting_as(&self, allowed: &[Role]) -> Option<Role> {
        allowed.iter().copied().find(|r| self.has(*r))
    }
}
