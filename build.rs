//! Compiles `proto/` with protox (pure Rust, no system protoc) and writes the
//! file descriptor set that server reflection serves.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/fieldops/v1/common.proto",
        "proto/fieldops/v1/ticket_service.proto",
        "proto/fieldops/v1/inspection_service.proto",
        "proto/fieldops/v1/reading_service.proto",
        "proto/fieldops/v1/sync_service.proto",
        "proto/fieldops/v1/report_service.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out.join("fieldops_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    // The load benchmark's echo baseline (benches/load.rs): a separate
    // package, not part of the served descriptor set.
    let echo = protox::compile(["benches/proto/echo.proto"], ["benches/proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(echo)?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=benches/proto");
    Ok(())
}
