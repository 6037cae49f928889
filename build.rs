//! Compiles `proto/` with protox (pure Rust, no system protoc) and writes the
//! file descriptor set that server reflection serves.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/fieldops/v1/common.proto",
        "proto/fieldops/v1/field_limits.proto",
        "proto/fieldops/v1/ticket_service.proto",
        "proto/fieldops/v1/inspection_service.proto",
        "proto/fieldops/v1/reading_service.proto",
        "proto/fieldops/v1/sync_service.proto",
        "proto/fieldops/v1/report_service.proto",
        "proto/fieldops/v1/outage_service.proto",
        "proto/fieldops/v1/policy_service.proto",
        "proto/fieldops/v1/assessment_service.proto",
        "proto/fieldops/v1/attachment_service.proto",
    ];
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).open_files(files)?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself, so the fields' custom options (the request
    // limits of field_limits.proto) survive for the server to read.
    std::fs::write(
        out.join("fieldops_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();
    // Requests are decoded by the server's own codec (grpc/codec.rs):
    // malformed bodies and fields beyond their limits are INVALID_ARGUMENT.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::grpc::codec::Codec")
        // Attachments' bytes as `Bytes`: sliced, never copied.
        .bytes(".fieldops.v1.AttachmentChunk.data")
        .bytes(".fieldops.v1.AttachmentContent.data")
        .compile_fds(fds.clone())?;
    sync_server_with_encoded_changes(fds, &out)?;
    // The load benchmark's echo baseline (benches/load.rs): a separate
    // package, not part of the served descriptor set.
    let echo = protox::compile(["benches/proto/echo.proto"], ["benches/proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(echo)?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=benches/proto");
    Ok(())
}

/// A second SyncService server whose Pull and Watch replies carry changes
/// already encoded (`src/grpc/wire.rs`), so the change feed encodes each
/// change once per view instead of once per reader. Same wire format, same
/// descriptor; every other type is the one in `grpc::pb`. Only the service
/// is generated: the message definitions are dropped from this copy.
fn sync_server_with_encoded_changes(
    mut fds: prost_types::FileDescriptorSet,
    out: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    for file in &mut fds.file {
        file.message_type.clear();
        file.enum_type.clear();
        if file.name() != "fieldops/v1/sync_service.proto" {
            file.service.clear();
        }
    }
    let dir = out.join("sync_wire");
    std::fs::create_dir_all(&dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(&dir)
        .codec_path("crate::grpc::codec::Codec")
        .extern_path(".fieldops.v1", "crate::grpc::pb")
        .extern_path(
            ".fieldops.v1.PullResponse",
            "crate::grpc::wire::PullResponse",
        )
        .extern_path(
            ".fieldops.v1.WatchResponse",
            "crate::grpc::wire::WatchResponse",
        )
        .compile_fds(fds)?;
    Ok(())
}
