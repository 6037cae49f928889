//! Pure rules and types of the utility's field service (DOMAIN.md). No I/O,
//! no gRPC, no database: everything here is a function of its inputs.

pub mod access;
pub mod area;
pub mod assessment;
pub mod attachment;
pub mod caller;
pub mod chain;
pub mod geo;
pub mod inspection;
pub mod labels;
pub mod meter;
pub mod method;
pub mod outage;
pub mod policy;
pub mod protocol;
pub mod report;
pub mod retention;
pub mod sla;
pub mod state;
pub mod supervision;
pub mod ticket;
pub mod time;
pub mod wire_enum;

pub use caller::{Caller, Role};
pub use method::Method;
pub use policy::Policy;
pub use state::TicketState;
pub use ticket::Ticket;
