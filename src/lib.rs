//! fieldops: a gRPC backend for the people who keep water and heat flowing.
//! See README.md for how to run it and docs/rules.md for the rules.
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod jwks;
pub mod metrics;
pub mod service;
pub mod storage;
pub mod telemetry;
