//! Use cases: each runs in one transaction, is idempotent by request id, and
//! asks the domain what the change is.
pub mod assessment;
pub mod attachments;
pub mod clock;
pub mod command;
pub mod feed_change;
pub mod feed_head;
pub mod feed_window;
pub mod idempotency;
pub mod inspections;
pub mod latest_tickets;
pub mod maintenance;
pub mod meters;
pub mod monitor;
pub mod outages;
pub mod paging;
pub mod policy;
pub mod reports;
pub mod retention;
pub mod sync;
pub mod tickets;
pub mod trail;

pub use assessment::AssessmentService;
pub use attachments::AttachmentService;
pub use clock::{Clock, ManualClock, SystemClock};
pub use idempotency::RequestMeta;
pub use inspections::InspectionService;
pub use meters::MeterService;
pub use monitor::DeadlineMonitor;
pub use outages::OutageService;
pub use reports::ReportService;
pub use sync::SyncService;
pub use tickets::TicketService;
