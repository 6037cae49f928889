//! A fuzz test over every RPC (issue 11): random bodies and bodies built
//! from each method's own message descriptor (random values, extreme
//! numbers and times, long, empty and NUL-bearing texts, nested requests),
//! some of them then corrupted, sent as every role. Whatever comes in, the
//! answer is never INTERNAL, UNKNOWN or a reset stream (a panic), and what
//! was stored is whole: every ticket has exactly one audit event per
//! version. A fixed seed makes a run repeatable; FUZZ_ITERATIONS and
//! FUZZ_SEED make a longer hunt (the cargo-fuzz targets in `fuzz/` go
//! deeper into the decoders and the policy parser).
mod common;

use bytes::Bytes;
use common::raw::{RawCodec, as_caller};
use common::*;
use fieldops::domain::Role;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

struct Method {
    path: String,
    input: MessageDescriptor,
    streaming: bool,
}

fn methods(pool: &DescriptorPool) -> Vec<Method> {
    pool.services()
        .filter(|s| s.package_name() == "fieldops.v1")
        .flat_map(|s| {
            s.methods()
                .map(|m| Method {
                    path: format!("/{}/{}", s.full_name(), m.name()),
                    input: m.input(),
                    streaming: m.is_server_streaming(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Ids the generator reuses, so some calls reach a real ticket.
static KNOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn text(rng: &mut StdRng, field: &str) -> String {
    if field.ends_with("_id") && rng.random_bool(0.7) {
        let known = KNOWN.lock().unwrap();
        if !known.is_empty() && rng.random_bool(0.5) {
            return known[rng.random_range(0..known.len())].clone();
        }
        return uuid::Uuid::new_v4().to_string();
    }
    match rng.random_range(0..12) {
        0 => String::new(),
        1 => uuid::Uuid::new_v4().to_string(),
        2 => uuid::Uuid::now_v7().to_string(),
        3 => "BUILDING_NO_HEAT".into(),
        4 => "north".into(),
        5 => "暖".repeat(rng.random_range(250..260)),
        6 => "x".repeat(rng.random_range(3990..4010)),
        7 => "a\0b".into(),
        8 => "\u{202e}\u{feff}🔥".into(),
        9 => "c1".into(),
        10 => "SATISFIED".into(),
        _ => (0..rng.random_range(1..20))
            .map(|_| rng.random_range(b' '..=b'~') as char)
            .collect(),
    }
}

fn int(rng: &mut StdRng) -> i64 {
    *[
        0,
        1,
        -1,
        i64::MIN,
        i64::MAX,
        i32::MIN as i64,
        i32::MAX as i64,
        5000,
        600,
    ]
    .get(rng.random_range(0..12))
    .unwrap_or(&rng.random_range(-1_000_000..1_000_000))
}

fn value(kind: &Kind, field: &str, rng: &mut StdRng, depth: usize) -> Option<Value> {
    Some(match kind {
        Kind::String => Value::String(text(rng, field)),
        Kind::Bytes => Value::Bytes(Bytes::from(text(rng, field))),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(int(rng) as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int(rng)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(int(rng) as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(int(rng) as u64),
        Kind::Float => Value::F32(rng.random_range(-100.0..100.0)),
        Kind::Double => Value::F64(
            *[
                f64::NAN,
                f64::INFINITY,
                -f64::INFINITY,
                0.0,
                1e308,
                39.9,
                116.4,
                -0.0,
            ]
            .get(rng.random_range(0..12))
            .unwrap_or(&rng.random_range(-200.0..200.0)),
        ),
        Kind::Enum(_) => Value::EnumNumber(rng.random_range(-2..24)),
        Kind::Message(m) => {
            if depth > 3 {
                return None;
            }
            Value::Message(message(m, rng, depth + 1))
        }
    })
}

/// A message of `desc` with random fields set.
fn message(desc: &MessageDescriptor, rng: &mut StdRng, depth: usize) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    for f in desc.fields() {
        if f.is_map() || !rng.random_bool(0.6) {
            continue;
        }
        let v = if f.is_list() {
            let n = rng.random_range(0..4);
            Value::List(
                (0..n)
                    .filter_map(|_| value(&f.kind(), f.name(), rng, depth))
                    .collect(),
            )
        } else {
            match value(&f.kind(), f.name(), rng, depth) {
                Some(v) => v,
                None => continue,
            }
        };
        m.set_field(&f, v);
    }
    m
}

fn body(method: &Method, rng: &mut StdRng) -> Bytes {
    match rng.random_range(0..4) {
        0 => (0..rng.random_range(0..64))
            .map(|_| rng.random())
            .collect::<Vec<u8>>()
            .into(),
        1 | 2 => message(&method.input, rng, 0).encode_to_vec().into(),
        _ => {
            let mut b = message(&method.input, rng, 0).encode_to_vec();
            match rng.random_range(0..3) {
                0 if !b.is_empty() => {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
                1 => b.truncate(rng.random_range(0..=b.len())),
                _ => b.extend((0..rng.random_range(1..8)).map(|_| rng.random::<u8>())),
            }
            b.into()
        }
    }
}

const WHO: [(&str, Role, &str); 5] = [
    ("d1", Role::Dispatcher, "hq"),
    ("c1", Role::Crew, "north"),
    ("i1", Role::Inspector, "north"),
    ("s1", Role::Supervisor, "hq"),
    ("b1", Role::Backoffice, "hq"),
];

async fn send(
    channel: &tonic::transport::Channel,
    who: (&str, Role, &str),
    method: &Method,
    body: Bytes,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let req = as_caller(who, body);
    let path = method.path.parse().unwrap();
    if method.streaming {
        let mut stream = grpc
            .server_streaming(req, path, RawCodec)
            .await?
            .into_inner();
        // The first item (or the end) tells how the call was taken.
        match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            Ok(Some(Err(s))) => Err(s),
            _ => Ok(()),
        }
    } else {
        grpc.unary(req, path, RawCodec).await.map(drop)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_garbage_without_internal_errors_or_partial_writes() {
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261202);
    let app = spawn_app().await;
    // Something to aim at: tickets in several states.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut c1 = app.crew("c1", "north").await;
    claim(&mut c1, &t.id).await.unwrap();
    let u = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    KNOWN.lock().unwrap().extend([t.id.clone(), u.id.clone()]);

    let pool = DescriptorPool::decode(fieldops::grpc::FILE_DESCRIPTOR_SET).unwrap();
    let methods = methods(&pool);
    assert!(methods.len() >= 25, "{} methods", methods.len());
    let channel = app.channel().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..iterations {
        let method = &methods[rng.random_range(0..methods.len())];
        let who = WHO[rng.random_range(0..WHO.len())];
        let b = body(method, &mut rng);
        let got = send(&channel, who, method, b.clone()).await;
        let code = got.as_ref().err().map_or(Code::Ok, |s| s.code());
        assert!(
            !matches!(
                code,
                Code::Internal
                    | Code::Unknown
                    | Code::Cancelled
                    | Code::DataLoss
                    | Code::Unimplemented
            ),
            "#{i} (seed {seed}) {} as {}: {got:?}\nbody: {:02x?}",
            method.path,
            who.0,
            &b[..b.len().min(200)]
        );
        *codes.entry(format!("{code:?}")).or_default() += 1;
    }
    println!("{iterations} calls (seed {seed}): {codes:?}");
    assert!(
        codes.len() >= 4,
        "the bodies reached past the first check: {codes:?}"
    );

    // What was stored is whole: one audit event per version of every ticket.
    let mut d = app.dispatcher().await;
    let (tickets, _) = all_tickets(&mut d).await;
    for t in &tickets {
        let n = events(&app, &t.id).await.len() as i64;
        assert_eq!(
            n, t.version,
            "ticket {} has {n} events at version {}",
            t.id, t.version
        );
    }
    let tickets = tickets.len();
    println!("{tickets} tickets, each whole");
    app.stop().await;
}
