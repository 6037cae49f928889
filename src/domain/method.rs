//! The API's methods, named once. The permission table (`access::roles`),
//! the idempotency fingerprint, the audit trail and the per-call log all
//! speak of a method by this enum; its wire name is the RPC's name in the
//! proto (`ClaimTicket`), which is also what older stored records hold.

macro_rules! methods {
    ($( $name:ident, )*) => {
        /// One RPC of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $( $name, )*
        }

        impl Method {
            pub const ALL: &[Method] = &[ $( Method::$name, )* ];

            /// The RPC's name as the proto spells it.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Method::$name => stringify!($name), )*
                }
            }

            /// The method of an RPC name (the last segment of a gRPC path).
            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $( stringify!($name) => Some(Method::$name), )*
                    _ => None,
                }
            }
        }
    };
}

methods! {
    // TicketService
    CreateTicket,
    GetTicket,
    ListTickets,
    DispatchTicket,
    ClaimTicket,
    ReturnTicket,
    ScheduleAppointment,
    RecordArrival,
    CompleteRepair,
    RequestExtension,
    DecideExtension,
    RecordRevisit,
    Supervise,
    CancelTicket,
    CorrectTicket,
    ListTicketEvents,
    RecordContact,
    SuspendTicket,
    ResumeTicket,
    RecuseStaff,
    FlagMajor,
    ApproveLongMatter,
    // InspectionService
    StartInspection,
    RecordRoomReading,
    FinishInspection,
    VoidRoomReading,
    AbandonInspection,
    GetInspection,
    ListInspections,
    ListColdHouseholds,
    // ReadingService
    RecordMeterReading,
    RecordMeterExchange,
    ListMeterReadings,
    // ReportService
    GetServiceReport,
    ExportServiceReport,
    // OutageService
    ReportOutage,
    PlanOutage,
    ApproveOutage,
    StartOutage,
    ReviseRestoration,
    RecordNotice,
    RestoreSupply,
    GetOutage,
    ListOutages,
    // PolicyService
    GetPolicy,
    // AssessmentService
    ListAssessmentItems,
    ContestItem,
    DecideContest,
    RecordReward,
    GetAssessmentSheet,
    ExportAssessmentSheet,
    // AttachmentService
    UploadAttachment,
    GetUploadStatus,
    GetAttachment,
    ListAttachments,
    // SyncService
    Push,
    Pull,
    Watch,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(*m));
        }
        assert_eq!(Method::from_name("Nope"), None);
    }
}
