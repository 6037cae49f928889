//! The README's walk-through as a program: against a running `fieldops serve`
//! (same data directory, so the same JWT secret), a dispatcher creates and
//! dispatches a ticket, crew member c1 of unit north claims it, checks in and
//! completes the repair, the dispatcher records the call-back, and the audit
//! trail is printed.
//!
//! cargo run --release --example walkthrough [-- http://127.0.0.1:50051]
use fieldops::auth::{Issuer, load_or_create_secret};
use fieldops::domain::Role;
use fieldops::grpc::pb::{self, ticket_service_client::TicketServiceClient};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let data_dir = std::env::var("FIELDOPS_DATA_DIR").unwrap_or_else(|_| "./data".into());
    let secret = load_or_create_secret(std::path::Path::new(&data_dir))?;
    let issuer = Issuer::new(&secret, "fieldops", "fieldops");
    let channel = Channel::from_shared(url.clone())?.connect().await?;
    let client_for = |sub: &str, role: Role, unit: &str| -> anyhow::Result<_> {
        let token = issuer.issue(sub, &[role], unit, chrono::Duration::hours(1))?;
        let value: MetadataValue<_> = format!("Bearer {token}").parse()?;
        Ok(TicketServiceClient::with_interceptor(
            channel.clone(),
            move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("authorization", value.clone());
                Ok(req)
            },
        ))
    };
    let mut dispatcher = client_for("d1", Role::Dispatcher, "hq")?;
    let mut crew = client_for("c1", Role::Crew, "north")?;
    let here = pb::GeoPoint {
        latitude: 39.9042,
        longitude: 116.4074,
    };

    let t = dispatcher
        .create_ticket(pb::CreateTicketRequest {
            request_id: request_id(),
            category: "BUILDING_NO_HEAT".into(),
            caller_name: "张三".into(),
            caller_phone: "13812345678".into(),
            address: "1 Heping Rd, Building 3".into(),
            location: Some(here),
            content: "the whole stairwell is cold".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let arrive_by = t
        .arrive_by
        .map(|a| chrono::DateTime::from_timestamp(a.seconds, 0).unwrap_or_default());
    println!(
        "created   {} {:?} priority {} (arrive by {:?})",
        t.id,
        t.state(),
        t.priority,
        arrive_by
    );
    let step =
        |name: &str, t: &pb::Ticket| println!("{name:<9} {} {:?} v{}", t.id, t.state(), t.version);

    let t = dispatcher
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: request_id(),
            ticket_id: t.id,
            unit: "north".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    step("dispatch", &t);
    let t = crew
        .claim_ticket(pb::ClaimTicketRequest {
            request_id: request_id(),
            ticket_id: t.id,
            device_id: "handheld-7".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    step("claim", &t);
    let t = crew
        .record_arrival(pb::RecordArrivalRequest {
            request_id: request_id(),
            ticket_id: t.id,
            location: Some(here),
            accuracy_m: 12.0,
            device_id: "handheld-7".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    step("arrive", &t);
    let t = crew
        .complete_repair(pb::CompleteRepairRequest {
            request_id: request_id(),
            ticket_id: t.id,
            resolution: Some(pb::Resolution {
                code: "VALVE_REOPENED".into(),
                notes: "riser valve was closed after maintenance".into(),
                cause: pb::FaultParty::Utility as i32,
                customer_acknowledged: true,
                ..Default::default()
            }),
            device_id: "handheld-7".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    step("complete", &t);
    let t = dispatcher
        .record_revisit(pb::RecordRevisitRequest {
            request_id: request_id(),
            ticket_id: t.id,
            outcome: pb::RevisitOutcome::Satisfied as i32,
            notes: "warm again".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    step("revisit", &t);

    let events = dispatcher
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: t.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .events;
    println!("audit trail of {}:", t.id);
    for e in events {
        println!(
            "  #{:<4} v{} {:<10} {:?} -> {:?} by {} ({})",
            e.sequence,
            e.ticket_version,
            e.kind,
            e.from_state(),
            e.to_state(),
            e.actor_sub,
            e.actor_role
        );
    }
    Ok(())
}
