//! R-RPT-2: the service report broken down by district and type, with the
//! referral replies (R-TKT-15), suspensions (R-TKT-16), the feedback ladder
//! (R-SLA-6) and major matters (R-TKT-17), over a small fixture reasoned
//! ticket by ticket; and the district search of ListTickets.
mod common;

use chrono::Duration;
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use pb::report_period::Period;
use pb::report_service_client::ReportServiceClient;

fn call(district: &str, t: pb::TicketType) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        district: district.into(),
        r#type: t as i32,
        ..create_req("METER_FAULT")
    }
}

fn referral(
    district: &str,
    reference: &str,
    deadline: chrono::DateTime<chrono::Utc>,
) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        source: pb::SourceChannel::CityHotline as i32,
        referral: Some(pb::ReferralIntake {
            reference: reference.into(),
            deadline: Some(ts(deadline)),
        }),
        ..call(district, pb::TicketType::Complaint)
    }
}

async fn contact(k: &mut Client, id: &str, counterpart: pb::Counterpart, result: bool) {
    k.record_contact(pb::RecordContactRequest {
        request_id: rid(),
        ticket_id: id.into(),
        counterpart: counterpart as i32,
        summary: "told".into(),
        result,
        ..Default::default()
    })
    .await
    .unwrap();
}

fn figure(c: &Option<pb::ClockFigure>) -> (i64, i64) {
    let c = c.expect("present");
    (c.on_time, c.late)
}

#[tokio::test]
async fn r_rpt_2_districts_referrals_suspensions_ladder_and_major_matters() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let mut s = app.supervisor().await;
    let t0 = app.now();
    let chaoyang = "朝阳区";
    // T1: a referral from Chaoyang, replied a day before its deadline;
    // suspended twice and resumed.
    let t1 = d
        .create_ticket(referral(chaoyang, "GD-R1", t0 + Duration::days(2)))
        .await
        .unwrap()
        .into_inner();
    // T2: a referral from Chaoyang replied an hour after its deadline.
    let t2 = d
        .create_ticket(referral(chaoyang, "GD-R2", t0 + Duration::days(1)))
        .await
        .unwrap()
        .into_inner();
    // T3: a consultation from Haidian, called back within the hour, major.
    let t3 = d
        .create_ticket(pb::CreateTicketRequest {
            major: Some(pb::Major {
                kind: pb::MajorKind::GroupPetition as i32,
                responsible: "s1".into(),
                ..Default::default()
            }),
            ..call("海淀区", pb::TicketType::Consultation)
        })
        .await
        .unwrap()
        .into_inner();
    // T4: no district known. T5: Haidian, cancelled: counted nowhere but `cancelled`.
    d.create_ticket(call("", pb::TicketType::HelpGeneral))
        .await
        .unwrap();
    let t5 = d
        .create_ticket(call("海淀区", pb::TicketType::HelpGeneral))
        .await
        .unwrap()
        .into_inner();
    d.cancel_ticket(pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t5.id.clone(),
        reason: "duplicate".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    for _ in 0..2 {
        s.suspend_ticket(pb::SuspendTicketRequest {
            request_id: rid(),
            ticket_id: t1.id.clone(),
            reason: "unreasonable".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        s.resume_ticket(pb::ResumeTicketRequest {
            request_id: rid(),
            ticket_id: t1.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    app.clock.set(t0 + Duration::minutes(30));
    contact(&mut d, &t3.id, pb::Counterpart::Caller, false).await;
    app.clock.set(t0 + Duration::days(1));
    contact(&mut d, &t1.id, pb::Counterpart::Referrer, true).await;
    app.clock.set(t0 + Duration::days(1) + Duration::hours(1));
    contact(&mut d, &t2.id, pb::Counterpart::Referrer, true).await;

    let mut r = ReportServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("s1", &[Role::Supervisor], "hq"),
    );
    let period = Some(pb::ReportPeriod {
        period: Some(Period::Range(pb::TimeRange {
            start_time: Some(ts(t0 - Duration::hours(1))),
            end_time: Some(ts(t0 + Duration::hours(1))),
        })),
    });
    let rep = r
        .get_service_report(pb::GetServiceReportRequest {
            unit: String::new(),
            period,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rep.tickets, rep.cancelled), (4, 1));
    let districts: Vec<_> = rep
        .by_district
        .iter()
        .map(|c| (c.key.as_str(), c.count))
        .collect();
    assert_eq!(districts, [(chaoyang, 2), ("海淀区", 1)]);
    let types: Vec<_> = rep
        .by_type
        .iter()
        .map(|c| (c.key.as_str(), c.count))
        .collect();
    assert_eq!(
        types,
        [("COMPLAINT", 2), ("CONSULTATION", 1), ("HELP_GENERAL", 1)]
    );
    assert_eq!(rep.referrals, 2);
    assert_eq!(figure(&rep.reply), (1, 1), "one reply in time, one late");
    assert_eq!((rep.suspended_tickets, rep.suspensions), (1, 2));
    assert_eq!(figure(&rep.callback), (1, 0));
    assert_eq!(rep.major_matters, 1);

    // The district search finds exactly Chaoyang's two.
    let found = d
        .list_tickets(pb::ListTicketsRequest {
            district: chaoyang.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let mut ids: Vec<_> = found.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    let mut want = vec![t1.id.clone(), t2.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(found[0].district, chaoyang);
}
