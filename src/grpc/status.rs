//! The one mapping from `AppError` to a gRPC status: code, message, and the
//! `google.rpc` details (ErrorInfo with a stable reason always; BadRequest
//! field violations, each with its reason, for bad input;
//! PreconditionFailure for refused transitions; LocalizedMessage in the
//! call's language: the catalogue's Chinese text, or the English message).
//! Internal errors are logged with their cause here and reach the client
//! only as "internal error".
use super::guard::call_language;
use super::language::Language;
use crate::error::{AppError, code_of, zh_of};
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, LocalizedMessage, StatusExt};

pub const ERROR_DOMAIN: &str = "fieldops.v1";

/// Outside a call (a stream's later items) errors speak the users' language.
const FALLBACK: Language = Language::ZhCn;

impl From<AppError> for Status {
    fn from(e: AppError) -> Status {
        localized(e, call_language().unwrap_or(FALLBACK))
    }
}

/// What a person is told of `e` in `lang`: the reason's Chinese text (with
/// the fields it names), or the English message ("internal error" for a
/// fault, whose cause stays in the log).
fn people_text(e: &AppError, lang: Language) -> String {
    let internal = matches!(e, AppError::Internal(_));
    match lang {
        Language::En if internal => "internal error".into(),
        Language::En => match e {
            // As the zh-CN text: what is wrong, then the fields it names.
            AppError::InvalidArgument { violations, .. } => {
                let what: Vec<&str> = violations.iter().map(|v| v.description.as_str()).collect();
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                format!("{} (field: {})", what.join("; "), fields.join(", "))
            }
            _ => e.to_string(),
        },
        Language::ZhCn => {
            let zh = zh_of(e.reason()).unwrap_or("请求未能完成。");
            match e {
                AppError::InvalidArgument { violations, .. } => {
                    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                    format!("{zh}（字段：{}）", fields.join("、"))
                }
                _ => zh.to_string(),
            }
        }
    }
}

/// `e` as a status whose LocalizedMessage speaks `lang`.
pub fn localized(e: AppError, lang: Language) -> Status {
    let mut details = ErrorDetails::new();
    details.set_localized_message(lang.tag(), people_text(&e, lang));
    let metadata: HashMap<String, String> = match &e {
        AppError::FailedPrecondition { info, .. } | AppError::AlreadyExists { info, .. } => info
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        _ => HashMap::new(),
    };
    details.set_error_info(e.reason(), ERROR_DOMAIN, metadata);
    match &e {
        AppError::InvalidArgument {
            violations, reason, ..
        } => {
            let zh = zh_of(reason).unwrap_or_default();
            let fields: Vec<FieldViolation> = violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                    reason: reason.to_string(),
                    localized_message: Some(match lang {
                        Language::ZhCn => LocalizedMessage::new(lang.tag(), zh),
                        Language::En => LocalizedMessage::new(lang.tag(), &v.description),
                    }),
                })
                .collect();
            details.set_bad_request(fields);
        }
        AppError::FailedPrecondition {
            reason,
            subject,
            message,
            ..
        } => {
            details.add_precondition_failure_violation(*reason, subject.clone(), message.clone());
        }
        _ => {}
    }
    let code = Code::from(e.rpc_code());
    // One reason, one code: a reason given with another code than the
    // catalogue's is a bug the test suite catches here.
    debug_assert_eq!(
        code_of(e.reason()),
        Some(code_name(code)),
        "reason {} given with code {code:?}",
        e.reason()
    );
    if let AppError::Internal(cause) = &e {
        tracing::error!(error = ?cause, "internal error");
        return Status::with_error_details(Code::Internal, "internal error", details);
    }
    Status::with_error_details(code, e.to_string(), details)
}

/// The canonical name of a gRPC code, as the catalogue of refusals writes it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::reason;

    #[test]
    fn bad_input_carries_reason_and_field() {
        let s: Status =
            AppError::invalid("location.latitude", reason::OUT_OF_RANGE, "too far north").into();
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = s.get_error_details();
        assert_eq!(d.error_info().unwrap().reason, reason::OUT_OF_RANGE);
        assert_eq!(
            d.bad_request().unwrap().field_violations[0].field,
            "location.latitude"
        );
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let s: Status = AppError::internal(anyhow::anyhow!("SELECT * FROM secret failed")).into();
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
        assert_eq!(
            s.get_error_details().error_info().unwrap().reason,
            reason::INTERNAL
        );
    }
}
