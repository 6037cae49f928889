//! The one application error. Every layer returns it; `grpc::status` turns it
//! into a `tonic::Status` (code + ErrorInfo reason + field violations).
//! Reasons are stable, machine-readable UPPER_SNAKE strings: clients branch on them.

/// Stable `ErrorInfo.reason` strings, in one place.
pub mod reason {
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    pub const MISSING_FIELD: &str = "MISSING_FIELD";
    pub const UNKNOWN_CATEGORY: &str = "UNKNOWN_CATEGORY";
    pub const OUT_OF_RANGE: &str = "OUT_OF_RANGE";
    pub const OCCURRED_AT_IN_FUTURE: &str = "OCCURRED_AT_IN_FUTURE";
    pub const INVALID_PAGE_TOKEN: &str = "INVALID_PAGE_TOKEN";
    /// The body is not a valid message of the method (INVALID_ARGUMENT).
    pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";
    /// Text that is not UTF-8 or holds a NUL character (INVALID_ARGUMENT).
    pub const INVALID_TEXT: &str = "INVALID_TEXT";
    /// A string beyond its field's limit (INVALID_ARGUMENT).
    pub const FIELD_TOO_LONG: &str = "FIELD_TOO_LONG";
    /// A repeated field with more items than its limit (INVALID_ARGUMENT).
    pub const TOO_MANY_ITEMS: &str = "TOO_MANY_ITEMS";
    pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
    pub const TICKET_ALREADY_CLAIMED: &str = "TICKET_ALREADY_CLAIMED";
    pub const TICKET_NOT_FOUND: &str = "TICKET_NOT_FOUND";
    pub const UNIT_NOT_FOUND: &str = "UNIT_NOT_FOUND";
    pub const VERSION_MISMATCH: &str = "VERSION_MISMATCH";
    pub const CONCURRENT_MODIFICATION: &str = "CONCURRENT_MODIFICATION";
    pub const REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";
    pub const RETURN_WINDOW_CLOSED: &str = "RETURN_WINDOW_CLOSED";
    pub const APPOINTMENT_NOT_ALLOWED: &str = "APPOINTMENT_NOT_ALLOWED";
    pub const APPOINTMENT_OUTSIDE_WINDOW: &str = "APPOINTMENT_OUTSIDE_WINDOW";
    pub const EXTENSION_PENDING: &str = "EXTENSION_PENDING";
    pub const NO_PENDING_EXTENSION: &str = "NO_PENDING_EXTENSION";
    pub const EXTENSION_TOO_LATE: &str = "EXTENSION_TOO_LATE";
    pub const EXTENSION_CAP_EXCEEDED: &str = "EXTENSION_CAP_EXCEEDED";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
    pub const ROLE_NOT_ALLOWED: &str = "ROLE_NOT_ALLOWED";
    pub const WRONG_UNIT: &str = "WRONG_UNIT";
    pub const NOT_TICKET_HOLDER: &str = "NOT_TICKET_HOLDER";
    pub const RECUSED: &str = "RECUSED";
    pub const INTERNAL: &str = "INTERNAL";
    /// The disk or the database's size limit is full (RESOURCE_EXHAUSTED).
    pub const STORAGE_FULL: &str = "STORAGE_FULL";
    /// Another writer holds a lock (UNAVAILABLE; retry).
    pub const DATABASE_BUSY: &str = "DATABASE_BUSY";
    /// The database cannot be reached or did not answer in time (UNAVAILABLE; retry).
    pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";
    /// The call did not finish before its deadline (DEADLINE_EXCEEDED).
    pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
    /// The server has as many calls in flight as it takes (RESOURCE_EXHAUSTED; retry).
    pub const SERVER_BUSY: &str = "SERVER_BUSY";
}

/// How an error message quotes a client's input: at most the first 32
/// characters, so an error never carries a large input back (its metadata
/// would outgrow what clients accept).
pub fn echo(input: &str) -> String {
    const SHOWN: usize = 32;
    match input.char_indices().nth(SHOWN) {
        None => format!("{input:?}"),
        Some((cut, _)) => format!("{:?}…", &input[..cut]),
    }
}

/// One bad field of a request: its path (e.g. `location.latitude`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: INVALID_ARGUMENT with BadRequest field violations.
    #[error("invalid argument: {}", .violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidArgument {
        reason: &'static str,
        violations: Vec<FieldViolation>,
    },
    /// A rule of the state machine or policy says no: FAILED_PRECONDITION with a PreconditionFailure.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        subject: String,
        message: String,
        /// Machine-readable facts for the client (ErrorInfo metadata).
        info: Vec<(&'static str, String)>,
    },
    /// A lost race or a version mismatch.
    #[error("{message}")]
    Aborted {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    NotFound {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    AlreadyExists {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    Unauthenticated {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
    /// The database is overloaded or gone; retrying later may succeed.
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
    /// The call's deadline passed before it finished.
    #[error("{message}")]
    DeadlineExceeded {
        reason: &'static str,
        message: String,
    },
    /// Out of space: retrying later may succeed once space is freed.
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
    },
    /// Anything unexpected. Logged with its cause; the client sees only "internal error".
    #[error("internal error: {0:#}")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(
        field: impl Into<String>,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Self {
        AppError::InvalidArgument {
            reason,
            violations: vec![FieldViolation {
                field: field.into(),
                description: description.into(),
            }],
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        let field = field.into();
        let description = format!("{field} is required");
        Self::invalid(field, reason::MISSING_FIELD, description)
    }

    pub fn precondition(
        reason: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AppError::FailedPrecondition {
            reason,
            subject: subject.into(),
            message: message.into(),
            info: Vec::new(),
        }
    }

    /// Add a fact a client acts on to the error's ErrorInfo metadata (e.g.
    /// the mutation id a Push must continue from).
    pub fn with_info(mut self, key: &'static str, value: impl ToString) -> Self {
        if let AppError::FailedPrecondition { info, .. } = &mut self {
            info.push((key, value.to_string()));
        }
        self
    }

    pub fn denied(reason: &'static str, message: impl Into<String>) -> Self {
        AppError::PermissionDenied {
            reason,
            message: message.into(),
        }
    }

    pub fn aborted(reason: &'static str, message: impl Into<String>) -> Self {
        AppError::Aborted {
            reason,
            message: message.into(),
        }
    }

    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        AppError::NotFound {
            reason,
            message: message.into(),
        }
    }

    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        AppError::Unauthenticated {
            reason,
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }

    /// The stable reason of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            AppError::InvalidArgument { reason, .. }
            | AppError::FailedPrecondition { reason, .. }
            | AppError::Aborted { reason, .. }
            | AppError::NotFound { reason, .. }
            | AppError::AlreadyExists { reason, .. }
            | AppError::Unauthenticated { reason, .. }
            | AppError::PermissionDenied { reason, .. }
            | AppError::Unavailable { reason, .. }
            | AppError::DeadlineExceeded { reason, .. }
            | AppError::ResourceExhausted { reason, .. } => reason,
            AppError::Internal(_) => reason::INTERNAL,
        }
    }

    /// Collect several field violations into one error (None if there were none).
    pub fn from_violations(mut errors: Vec<AppError>) -> Option<AppError> {
        if errors.is_empty() {
            return None;
        }
        let first_reason = errors[0].reason();
        let mut violations = Vec::new();
        for e in errors.drain(..) {
            match e {
                AppError::InvalidArgument { violations: v, .. } => violations.extend(v),
                other => return Some(other),
            }
        }
        Some(AppError::InvalidArgument {
            reason: first_reason,
            violations,
        })
    }
}

#[cfg(test)]
mod echo_tests {
    #[test]
    fn echo_keeps_a_short_prefix() {
        assert_eq!(super::echo("NO_HEAT"), "\"NO_HEAT\"");
        let long = "热".repeat(5000);
        let e = super::echo(&long);
        assert!(e.chars().count() <= 36, "{e}");
        assert!(e.ends_with('…'));
    }
}
