//! PolicyService.GetPolicy: the policy in force with zh-CN and en labels for
//! every category, priority, type, source, clock, state, counterpart and
//! major kind, for every role, so consoles and handhelds never hard-code a
//! name. Both built-in profiles are labelled in Chinese throughout.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::policy_service_client::PolicyServiceClient;
use std::time::Duration;
use tonic::Code;

fn secs(d: &Option<prost_types::Duration>) -> i64 {
    d.as_ref().expect("set").seconds
}

fn zh<'a>(items: &'a [pb::LabeledCode], code: &str) -> &'a str {
    let item = items
        .iter()
        .find(|i| i.code == code)
        .unwrap_or_else(|| panic!("{code} listed"));
    &item.label.as_ref().unwrap().zh_cn
}

/// Every label present in both languages.
fn fully_labelled(what: &str, items: &[pb::LabeledCode]) {
    assert!(!items.is_empty(), "{what}");
    for i in items {
        let l = i
            .label
            .as_ref()
            .unwrap_or_else(|| panic!("{what} {}", i.code));
        assert!(
            !l.zh_cn.trim().is_empty(),
            "{what} {}: no zh-CN label",
            i.code
        );
        assert!(!l.en.trim().is_empty(), "{what} {}: no en label", i.code);
    }
}

async fn get_policy(app: &TestApp, role: Role) -> Result<pb::Policy, tonic::Status> {
    let mut k = PolicyServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("u1", &[role], "north"),
    );
    k.get_policy(pb::GetPolicyRequest {})
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn get_policy_labels_every_code_in_both_profiles() {
    for profile in ["water", "heating"] {
        let app = spawn_app_with_policy(profile).await;
        for role in Role::ALL {
            let p = get_policy(&app, role).await.unwrap();
            assert_eq!(p.profile, profile, "{role:?}");
        }
        let p = get_policy(&app, Role::Crew).await.unwrap();
        assert_eq!(p.time_zone, "Asia/Shanghai");
        let categories: Vec<pb::LabeledCode> = p
            .categories
            .iter()
            .map(|c| pb::LabeledCode {
                code: c.code.clone(),
                label: c.label.clone(),
            })
            .collect();
        fully_labelled("category", &categories);
        fully_labelled("priority", &p.priorities);
        for c in &p.categories {
            assert!(
                p.priorities.iter().any(|x| x.code == c.priority),
                "{}",
                c.code
            );
        }
        fully_labelled("type", &p.ticket_types);
        fully_labelled("source", &p.sources);
        fully_labelled("clock", &p.clocks);
        fully_labelled("state", &p.states);
        fully_labelled("counterpart", &p.counterparts);
        fully_labelled("major kind", &p.major_kinds);
        fully_labelled("outage kind", &p.outage_kinds);
        fully_labelled("notice channel", &p.notice_channels);
        fully_labelled("outage clock", &p.outage_clocks);
        fully_labelled("reward kind", &p.reward_kinds);
        fully_labelled("item status", &p.item_statuses);
        assert_eq!(zh(&p.reward_kinds, "LEAK_REPORT"), "报漏奖励");
        assert_eq!(p.item_statuses.len(), 4);
        assert_eq!(zh(&p.notice_channels, "DIRECTORY_114"), "114查号台");
        assert_eq!(p.ticket_types.len(), 7);
        assert_eq!(p.clocks.len(), 16);
        assert_eq!(p.states.len(), 10);
        assert_eq!(
            p.platform_sources,
            [
                "CITY_HOTLINE",
                "SUPERVISION_HOTLINE",
                "SERVICE_HOTLINE",
                "DIGITAL_CITY",
                "ONLINE_CONDUCT",
                "PROPERTY_OFFICE"
            ]
        );
        assert_eq!(zh(&p.ticket_types, "COMPLAINT"), "投诉");
        assert_eq!(zh(&p.sources, "CITY_HOTLINE"), "12345市长公开电话");
        assert_eq!(zh(&p.clocks, "ACCEPT"), "接单");
        let f = p.feedback.as_ref().unwrap();
        assert_eq!(secs(&f.callback_within), 3600);
        assert_eq!(secs(&f.unit_report_within), 40 * 60);
        assert_eq!(secs(&f.transferred_within), 3 * 86_400);
        assert_eq!(secs(&p.referral_reply_within), 5 * 86_400);
        // R-ASM-1: every item kind priced and labelled (16 ticket clocks, 6
        // outage clocks, 3 others); the seeds' figures.
        assert_eq!(p.assessment_items.len(), 25);
        let items: Vec<pb::LabeledCode> = p
            .assessment_items
            .iter()
            .map(|i| pb::LabeledCode {
                code: i.code.clone(),
                label: i.label.clone(),
            })
            .collect();
        fully_labelled("assessment item", &items);
        let revisit = p
            .assessment_items
            .iter()
            .find(|i| i.code == "BREACH_REVISIT")
            .unwrap();
        assert_eq!(
            (revisit.points, revisit.person_yuan),
            (1, 20),
            "[004 八(六)]"
        );
        let rewards = p.assessment_rewards.as_ref().unwrap();
        assert_eq!(
            (rewards.leak_large_from_mm, rewards.leak_large_external_yuan),
            (300, 200)
        );
        if profile == "water" {
            assert_eq!(zh(&categories, "METER_FAULT"), "水表故障");
            assert_eq!(secs(&p.accept_within), 180);
            let meter = p
                .categories
                .iter()
                .find(|c| c.code == "METER_FAULT")
                .unwrap();
            assert_eq!(
                (meter.priority.as_str(), secs(&meter.arrive_within)),
                ("L36H", 12 * 3600)
            );
        } else {
            assert_eq!(zh(&p.priorities, "EMERGENCY"), "紧急");
            assert_eq!(zh(&p.priorities, "URGENT"), "急");
            assert_eq!(zh(&p.priorities, "GENERAL"), "一般");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn get_policy_needs_a_token() {
    let app = spawn_app().await;
    let mut k = PolicyServiceClient::new(app.channel().await);
    let e = tokio::time::timeout(
        Duration::from_secs(10),
        k.get_policy(pb::GetPolicyRequest {}),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}
