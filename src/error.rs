//! The one application error. Every layer returns it; `grpc::status` turns it
//! into a `tonic::Status` (code + ErrorInfo reason + field violations).
//! Reasons are stable, machine-readable UPPER_SNAKE strings: clients branch on them.

/// The catalogue of refusals: every `ErrorInfo.reason` the server gives,
/// with its gRPC code, what it means and what a user is told in Chinese,
/// in one place (a reason without its Chinese text does not compile). Each reason has
/// exactly one code (`grpc::status` checks it in debug builds, so the test
/// suite catches a reason given with another code), and
/// `docs/reasons.md` lists them all (a test keeps it complete).
macro_rules! catalogue {
    ($( $name:ident: $code:literal, $meaning:literal, $zh:literal; )*) => {
        /// Stable `ErrorInfo.reason` strings: clients branch on them.
        pub mod reason {
            $( pub const $name: &str = stringify!($name); )*
        }

        /// Every reason, its gRPC code and its meaning.
        pub const CATALOGUE: &[Refusal] = &[
            $( Refusal { reason: stringify!($name), code: $code, meaning: $meaning, zh: $zh }, )*
        ];
    };
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub reason: &'static str,
    /// The canonical gRPC code name, e.g. `NOT_FOUND`.
    pub code: &'static str,
    pub meaning: &'static str,
    /// What a user is told, in Chinese (`google.rpc.LocalizedMessage` zh-CN).
    pub zh: &'static str,
}

/// The Chinese text of a reason, for the users' `LocalizedMessage`.
pub fn zh_of(reason: &str) -> Option<&'static str> {
    CATALOGUE.iter().find(|r| r.reason == reason).map(|r| r.zh)
}

/// The gRPC code a reason is given with.
pub fn code_of(reason: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .find(|r| r.reason == reason)
        .map(|r| r.code)
}

catalogue! {
    // Bad input: the request itself is wrong; the field is in BadRequest.
    INVALID_FIELD: "INVALID_ARGUMENT", "A field's value is not valid (not a UUID, an unknown enum value, ...).",
        "字段取值无效。";
    MISSING_FIELD: "INVALID_ARGUMENT", "A required field is empty.",
        "缺少必填字段。";
    OUT_OF_RANGE: "INVALID_ARGUMENT", "A number, time or duration lies outside what the field allows.",
        "数值、时间或时长超出允许范围。";
    OCCURRED_AT_IN_FUTURE: "INVALID_ARGUMENT", "A device time lies further ahead of the server's clock than the policy allows (a broken clock).",
        "设备时间超前服务器时间过多，请校准设备时钟。";
    UNKNOWN_CATEGORY: "INVALID_ARGUMENT", "The category is not one of the active policy profile.",
        "该类别不在当前服务政策中。";
    UNIT_NOT_FOUND: "INVALID_ARGUMENT", "The unit is not registered.",
        "该单位未登记。";
    APPOINTMENT_OUTSIDE_WINDOW: "INVALID_ARGUMENT", "The appointment time lies in the past or after the resolve deadline.",
        "预约时间已过或晚于处理时限。";
    INVALID_PAGE_TOKEN: "INVALID_ARGUMENT", "The page token was not issued by this server for this list.",
        "分页标记无效，请从第一页重新查询。";
    MALFORMED_REQUEST: "INVALID_ARGUMENT", "The body is not a valid message of the method.",
        "请求内容格式不正确。";
    INVALID_TEXT: "INVALID_ARGUMENT", "Text that is not UTF-8 or holds a NUL character.",
        "文本不是有效的 UTF-8 或含有空字符。";
    FIELD_TOO_LONG: "INVALID_ARGUMENT", "A text beyond its field's limit (field_limits.proto).",
        "文本超过该字段的长度上限。";
    TOO_MANY_ITEMS: "INVALID_ARGUMENT", "A repeated field with more items than its limit.",
        "列表项数超过该字段的上限。";
    OUTAGE_KIND_NOT_ALLOWED: "INVALID_ARGUMENT", "ReportOutage takes unplanned kinds, PlanOutage planned ones, each among the profile's `outage.kinds` (R-OUT-1, R-OUT-3).",
        "该停水/停热类型不能以此方式上报。";
    NOT_A_PLATFORM: "INVALID_ARGUMENT", "A referral reference or deadline on a call whose source is not a referring platform (R-TKT-15).",
        "来源不是转办平台，不能填写平台编号或办理时限。";
    RESTORATION_BEFORE_START: "INVALID_ARGUMENT", "An expected restoration or planned end that is not after the start (R-OUT-1, R-OUT-4).",
        "预计恢复时间必须晚于开始时间。";
    ATTACHMENT_TYPE_NOT_ALLOWED: "INVALID_ARGUMENT", "The media type is not one the attachment's kind takes, or the file's first bytes are not of that type (R-REC-1).",
        "文件类型不符合要求：照片为 JPEG/PNG/WebP/HEIC，签名为 PNG/JPEG，文件为 PDF/JPEG/PNG。";
    ATTACHMENT_HASH_MISMATCH: "INVALID_ARGUMENT", "The file's SHA-256 is not the one its header stated; the bytes were dropped: upload it again (R-REC-1).",
        "文件校验值与声明不符，已丢弃，请重新上传。";
    // Refused by a rule: the request is fine, the ticket's or visit's state says no.
    INVALID_TRANSITION: "FAILED_PRECONDITION", "The lifecycle does not allow this step from the current state (R-TKT-3; an outage's, R-OUT-3).",
        "当前状态下不能进行此操作。";
    RETURN_WINDOW_CLOSED: "FAILED_PRECONDITION", "The return window after dispatch has passed, or the crew is already on site (R-TKT-5).",
        "已过退单时限，或已到达现场，不能退单。";
    METER_UNIT_MISMATCH: "FAILED_PRECONDITION", "The meter's readings are recorded in another unit (R-MTR-1).",
        "该表计的读数采用另一计量单位。";
    APPOINTMENT_NOT_ALLOWED: "FAILED_PRECONDITION", "The category does not allow appointments (R-TKT-7).",
        "该类别不允许预约。";
    ARRIVAL_DEADLINE_PASSED: "FAILED_PRECONDITION", "The arrival deadline has passed; an appointment can no longer replace it (R-TKT-7).",
        "到场时限已过，不能再以预约代替。";
    EXTENSION_PENDING: "FAILED_PRECONDITION", "An extension request is already waiting for a decision (R-SLA-5).",
        "已有延期申请等待审批。";
    NO_PENDING_EXTENSION: "FAILED_PRECONDITION", "There is no extension request to decide (R-SLA-5).",
        "没有待审批的延期申请。";
    EXTENSION_TOO_LATE: "FAILED_PRECONDITION", "The resolve deadline has passed; it can no longer be extended (R-SLA-5).",
        "处理时限已过，不能再申请延期。";
    EXTENSION_CAP_EXCEEDED: "FAILED_PRECONDITION", "The extension would pass the policy's cap (R-SLA-5).",
        "延期超过政策允许的上限。";
    CATEGORY_NOT_IN_POLICY: "FAILED_PRECONDITION", "The ticket's category (or the re-measurement category) is not in the active policy profile.",
        "工单类别不在当前服务政策中。";
    INSPECTION_FINISHED: "FAILED_PRECONDITION", "The visit is signed off and takes no more readings.",
        "测温记录已签字结束，不能再录入。";
    READING_VOIDED: "FAILED_PRECONDITION", "The reading is void already (R-TMP-9).",
        "该读数已作废。";
    VISIT_MEASURED: "FAILED_PRECONDITION", "The visit has readings that count: finish it, or void them first if they were a mistake (R-TMP-9).",
        "此次测温已有有效读数，请签字结束；如为误录，请先作废。";
    CURSOR_EXPIRED: "FAILED_PRECONDITION", "The feed cursor is older than the retained change log: start again with an empty cursor.",
        "同步位置已过期，请从头重新同步。";
    MUTATION_GAP: "FAILED_PRECONDITION", "A Push batch does not continue the client's counter; ErrorInfo names expected_mutation_id.",
        "离线操作编号不连续，请从服务器告知的编号继续上传。";
    OUTAGE_NOT_APPROVED: "FAILED_PRECONDITION", "Planned works start only after a supervisor approved them (R-OUT-3).",
        "计划停水/停热尚未批准，不能开始。";
    OUTAGE_ALREADY_APPROVED: "FAILED_PRECONDITION", "The plan is approved already (R-OUT-3).",
        "该计划已批准。";
    OUTAGE_RESTORED: "FAILED_PRECONDITION", "Supply is restored: the outage takes no more revisions or restorations (R-OUT-4).",
        "已恢复供应，不能再修改。";
    ALREADY_RECUSED: "FAILED_PRECONDITION", "The staff member is already kept away from the ticket (R-TKT-13).",
        "该人员已回避此工单。";
    RECUSED_HOLDS_TICKET: "FAILED_PRECONDITION", "The staff member to recuse holds the ticket at work; return it to dispatch first (R-TKT-13).",
        "该人员正在处理此工单，请先退回调度再回避。";
    ALREADY_APPROVED: "FAILED_PRECONDITION", "A supervisor already approved more than 7 days for this matter (R-SLA-6).",
        "主管已批准此事项超过7天办理。";
    NOT_A_COMPLAINT: "FAILED_PRECONDITION", "Only a complaint may be suspended (R-TKT-16).",
        "只有投诉工单可以挂起。";
    SUSPENSION_PENDING: "FAILED_PRECONDITION", "A suspension request is already waiting for a supervisor (R-TKT-16).",
        "已有挂起申请等待主管审批。";
    NOT_A_REFERRAL: "FAILED_PRECONDITION", "A contact with the referrer on a ticket no platform or body referred (R-TKT-15).",
        "此工单不是转办件，无需回复转办平台。";
    NOT_CONTESTABLE: "FAILED_PRECONDITION", "Only a raised deduction may be contested: not a reward, nor one contested, upheld or waived already (R-ASM-2).",
        "只有未申诉的扣分项可以申诉；奖励项和已申诉、已维持或已撤销的项不能申诉。";
    NO_PENDING_CONTEST: "FAILED_PRECONDITION", "The assessment item has no contest waiting for a decision (R-ASM-2).",
        "此考核项没有待裁定的申诉。";
    REWARD_NOT_DUE: "FAILED_PRECONDITION", "The ticket does not earn this reward: praise needs a praise ticket, a leak reward a resolved leak with its pipe diameter (R-ASM-3).",
        "此工单不符合该奖励条件。";
    CATEGORY_FIXED_AT_DISPATCH: "FAILED_PRECONDITION", "The category is corrected until dispatch; a dispatched ticket keeps the deadlines its unit works to.",
        "工单派发后不能再更正类别。";
    ATTACHMENT_CHUNK_GAP: "FAILED_PRECONDITION", "A chunk starts after the bytes the server holds; ErrorInfo names received_bytes (R-REC-1).",
        "上传分片不连续，请从服务器已收到的位置继续上传。";
    ATTACHMENT_INCOMPLETE: "FAILED_PRECONDITION", "The upload stream ended before the file's last byte; ErrorInfo names received_bytes: send the rest (R-REC-1).",
        "文件尚未上传完整，请继续上传剩余部分。";
    // Lost races and stale versions: read again, then retry.
    TICKET_ALREADY_CLAIMED: "ABORTED", "Someone else claimed the ticket since its dispatch (R-TKT-4).",
        "工单已被他人接单。";
    VERSION_MISMATCH: "ABORTED", "The ticket or visit is not at expected_version.",
        "记录已被修改，请刷新后重试。";
    CONCURRENT_MODIFICATION: "ABORTED", "The record kept changing under the request; retry.",
        "记录正被同时修改，请重试。";
    PUSH_RACE: "ABORTED", "Another push of the same client settled this mutation first (answered as its stored outcome).",
        "同一设备的另一次上传已先处理此操作。";
    // Already there.
    REQUEST_ID_REUSED: "ALREADY_EXISTS", "The request_id was used before for a different request (AIP-155).",
        "请求编号已用于另一个请求。";
    MUTATION_ID_REUSED: "ALREADY_EXISTS", "A Push mutation id was used before with another body.",
        "离线操作编号已用于另一个操作。";
    INSPECTION_EXISTS: "ALREADY_EXISTS", "A visit with this id exists already.",
        "该测温记录已存在。";
    READING_EXISTS: "ALREADY_EXISTS", "A reading with this id exists already.",
        "该读数已存在。";
    OUTAGE_EXISTS: "ALREADY_EXISTS", "An outage with this id exists already.",
        "该停水/停热记录已存在。";
    REFERRAL_EXISTS: "ALREADY_EXISTS", "The platform's reference was referred before; ErrorInfo names the existing ticket (R-TKT-15).",
        "该平台编号已转办过。";
    REWARD_EXISTS: "ALREADY_EXISTS", "This reward was recorded for the ticket (and unit and person) before; ErrorInfo names the item (R-ASM-3).",
        "该奖励已记录。";
    ATTACHMENT_ID_REUSED: "ALREADY_EXISTS", "The attachment id names an upload with another header (subject, kind, type, size or hash).",
        "该附件编号已用于另一文件。";
    // Not there, or not for this caller.
    TICKET_NOT_FOUND: "NOT_FOUND", "No such ticket, or none the caller may see (out of scope answers the same).",
        "工单不存在。";
    INSPECTION_NOT_FOUND: "NOT_FOUND", "No such visit, or none the caller may see (out of scope answers the same).",
        "测温记录不存在。";
    READING_NOT_FOUND: "NOT_FOUND", "The reading is not one of the visit's.",
        "该测温读数不属于此次测温。";
    OUTAGE_NOT_FOUND: "NOT_FOUND", "No such outage, or none the caller may see (a crew sees its unit's).",
        "停水/停热记录不存在。";
    ATTACHMENT_NOT_FOUND: "NOT_FOUND", "No such attachment (or its upload is unfinished), or none the caller may see.",
        "附件不存在或尚未上传完成。";
    ITEM_NOT_FOUND: "NOT_FOUND", "No such assessment item, or none the caller may see (staff see their own).",
        "考核项不存在。";
    // Who is calling.
    UNAUTHENTICATED: "UNAUTHENTICATED", "No bearer token.",
        "请先登录。";
    TOKEN_EXPIRED: "UNAUTHENTICATED", "The token has expired.",
        "登录已过期，请重新登录。";
    TOKEN_INVALID: "UNAUTHENTICATED", "The token is not valid (signature, issuer, audience, claims).",
        "登录凭证无效。";
    ROLE_NOT_ALLOWED: "PERMISSION_DENIED", "None of the caller's roles may call this method.",
        "您的角色无权进行此操作。";
    WRONG_UNIT: "PERMISSION_DENIED", "The ticket is not dispatched to the crew member's unit (one he holds elsewhere), or a crew reports an outage for another unit.",
        "此工单不属于您的单位。";
    SIGNATURE_MASKED: "PERMISSION_DENIED", "A signature is a resident's personal data, which the caller's role sees masked (R-TKT-13, R-REC-1).",
        "签名属于住户个人信息，您的角色无权查看。";
    NOT_TICKET_HOLDER: "PERMISSION_DENIED", "Another crew member holds, or was named for, the ticket.",
        "此工单由他人负责。";
    RECUSED: "PERMISSION_DENIED", "A complaint may not be assigned to, or claimed by, the staff member it concerns or one recused for a conflict of interest (R-TKT-13).",
        "此工单与您有关，您需回避。";
    CLIENT_NOT_OWNED: "PERMISSION_DENIED", "The Push client id belongs to another staff member.",
        "该设备编号属于其他人员。";
    NOT_DISPATCH_CENTRE: "PERMISSION_DENIED", "Contests are decided by a dispatch-centre supervisor, never by a unit's head, his own unit's or a peer's (R-ASM-2).",
        "申诉由调度中心主管裁定，单位负责人不能裁定。";
    // The server or its store; retrying later may succeed (every mutation is idempotent).
    STORAGE_FULL: "RESOURCE_EXHAUSTED", "The disk or the database's size limit is full.",
        "存储空间已满，请稍后重试。";
    SERVER_BUSY: "RESOURCE_EXHAUSTED", "The server has as many calls in flight as it takes.",
        "服务器繁忙，请稍后重试。";
    DATABASE_BUSY: "UNAVAILABLE", "Another writer holds a lock too long.",
        "数据库繁忙，请稍后重试。";
    DATABASE_UNAVAILABLE: "UNAVAILABLE", "The database cannot be reached or did not answer in time.",
        "数据库暂时不可用，请稍后重试。";
    DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED", "The call did not finish before its deadline.",
        "请求超时，请重试。";
    INTERNAL: "INTERNAL", "A fault of the server; logged with the call's request id.",
        "服务器内部错误，请联系管理员。";
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
        /// Machine-readable facts (ErrorInfo metadata), e.g. the existing record's id.
        info: Vec<(&'static str, String)>,
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
        if let AppError::FailedPrecondition { info, .. } | AppError::AlreadyExists { info, .. } =
            &mut self
        {
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

    /// The `google.rpc.Code` number this error is answered with (the gRPC
    /// status code; `grpc::status` builds the status from it, and an offline
    /// Push stores it with a refusal).
    pub fn rpc_code(&self) -> i32 {
        match self {
            AppError::InvalidArgument { .. } => 3,
            AppError::DeadlineExceeded { .. } => 4,
            AppError::NotFound { .. } => 5,
            AppError::AlreadyExists { .. } => 6,
            AppError::PermissionDenied { .. } => 7,
            AppError::ResourceExhausted { .. } => 8,
            AppError::FailedPrecondition { .. } => 9,
            AppError::Aborted { .. } => 10,
            AppError::Internal(_) => 13,
            AppError::Unavailable { .. } => 14,
            AppError::Unauthenticated { .. } => 16,
        }
    }

    /// A refusal by a business rule or of bad input: the same request would
    /// be refused again, so an offline queue records it and moves on. The
    /// others (the server or its store failing, an expired token) may pass
    /// later: a Push stops there and the client resends.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            AppError::InvalidArgument { .. }
                | AppError::FailedPrecondition { .. }
                | AppError::Aborted { .. }
                | AppError::NotFound { .. }
                | AppError::AlreadyExists { .. }
                | AppError::PermissionDenied { .. }
        )
    }

    /// The same error again, for each of several callers it answers (a
    /// group commit's failure); an internal error keeps its message, not
    /// its source chain.
    pub fn duplicate(&self) -> AppError {
        use AppError as E;
        match self {
            E::InvalidArgument { reason, violations } => E::InvalidArgument {
                reason,
                violations: violations.clone(),
            },
            E::FailedPrecondition {
                reason,
                subject,
                message,
                info,
            } => E::FailedPrecondition {
                reason,
                subject: subject.clone(),
                message: message.clone(),
                info: info.clone(),
            },
            E::Aborted { reason, message } => E::Aborted {
                reason,
                message: message.clone(),
            },
            E::NotFound { reason, message } => E::NotFound {
                reason,
                message: message.clone(),
            },
            E::AlreadyExists {
                reason,
                message,
                info,
            } => E::AlreadyExists {
                reason,
                message: message.clone(),
                info: info.clone(),
            },
            E::Unauthenticated { reason, message } => E::Unauthenticated {
                reason,
                message: message.clone(),
            },
            E::PermissionDenied { reason, message } => E::PermissionDenied {
                reason,
                message: message.clone(),
            },
            E::Unavailable { reason, message } => E::Unavailable {
                reason,
                message: message.clone(),
            },
            E::DeadlineExceeded { reason, message } => E::DeadlineExceeded {
                reason,
                message: message.clone(),
            },
            E::ResourceExhausted { reason, message } => E::ResourceExhausted {
                reason,
                message: message.clone(),
            },
            E::Internal(e) => E::Internal(anyhow::anyhow!("{e:#}")),
        }
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

#[cfg(test)]
mod catalogue_tests {
    use super::CATALOGUE;

    /// Every reason of the catalogue is in docs/reasons.md, on a row of its
    /// own with its code, and no reason is listed twice.
    #[test]
    fn every_reason_is_documented() {
        let doc = include_str!("../docs/reasons.md");
        for r in CATALOGUE {
            let rows: Vec<&str> = doc
                .lines()
                .filter(|l| l.starts_with(&format!("| `{}` |", r.reason)))
                .collect();
            assert_eq!(
                rows.len(),
                1,
                "{} must be in docs/reasons.md once",
                r.reason
            );
            assert!(
                rows[0].starts_with(&format!("| `{}` | {} |", r.reason, r.code)),
                "docs/reasons.md gives {} another code than {}",
                r.reason,
                r.code
            );
        }
        // Every reason tells users in Chinese (LocalizedMessage zh-CN).
        for r in CATALOGUE {
            assert!(
                r.zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                    && r.zh.ends_with('。'),
                "{} has no Chinese sentence: {:?}",
                r.reason,
                r.zh
            );
        }
        let mut seen = std::collections::HashSet::new();
        for r in CATALOGUE {
            assert!(
                seen.insert(r.reason),
                "{} is in the catalogue twice",
                r.reason
            );
        }
    }
}
