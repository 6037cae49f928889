//! The server's request decoding: the field-limit walk over the raw body
//! (grpc::limits) and prost's decode of the same bytes. Neither may panic
//! or hang on any input.
#![no_main]
use fieldops::grpc::{limits, pb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let name = match which % 6 {
        0 => "fieldops.v1.PushRequest",
        1 => "fieldops.v1.CreateTicketRequest",
        2 => "fieldops.v1.CompleteRepairRequest",
        3 => "fieldops.v1.RecordRoomReadingRequest",
        4 => "fieldops.v1.StartInspectionRequest",
        _ => "fieldops.v1.PullRequest",
    };
    let _ = limits::check(name, body);
    let _ = match which % 6 {
        0 => pb::PushRequest::decode(body).is_ok(),
        1 => pb::CreateTicketRequest::decode(body).is_ok(),
        2 => pb::CompleteRepairRequest::decode(body).is_ok(),
        3 => pb::RecordRoomReadingRequest::decode(body).is_ok(),
        4 => pb::StartInspectionRequest::decode(body).is_ok(),
        _ => pb::PullRequest::decode(body).is_ok(),
    };
});
