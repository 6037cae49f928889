//! Thin tonic handlers: decode and validate the request, call the service,
//! encode the answer. Errors become `Status` in exactly one place (`status`).
pub mod assessment;
pub mod attachments;
pub mod auth;
pub mod codec;
pub mod console;
pub mod convert;
pub mod guard;
pub mod http1;
pub mod inspections;
pub mod language;
pub mod limits;
pub mod mutation;
pub mod outages;
pub mod policy;
pub mod readings;
pub mod reports;
pub mod status;
pub mod sync;
pub mod tickets;
pub mod transport;
mod watch;
pub mod wire;

/// Generated protobuf types and service stubs of `fieldops.v1`.
#[allow(clippy::large_enum_variant)] // oneofs of whole resources, as the API defines them
pub mod pb {
    tonic::include_proto!("fieldops.v1");
}

/// The encoded file descriptor set, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fieldops_descriptor.bin"));
