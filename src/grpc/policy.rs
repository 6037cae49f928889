//! PolicyService handler: the policy in force with the labels of every
//! code, as `domain::labels` and the profile give them.
use super::auth::caller;
use super::convert::duration;
use super::pb::{self, policy_service_server::PolicyService as Api};
use crate::domain::assessment::{AssessmentRules, ItemKind, ItemStatus, Reward, RewardKind};
use crate::domain::labels;
use crate::domain::outage::{NoticeChannel, OutageClock};
use crate::domain::policy::{ArriveFrom, ClockStart, Label};
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{Counterpart, MajorKind, SourceChannel, TicketType};
use crate::domain::{Policy, TicketState};
use crate::service::policy::PolicyService;
use tonic::{Request, Response, Status};

pub struct PolicyApi {
    svc: PolicyService,
}

impl PolicyApi {
    pub fn new(svc: PolicyService) -> PolicyApi {
        PolicyApi { svc }
    }
}

fn label((zh_cn, en): (&str, &str)) -> Option<pb::Label> {
    Some(pb::Label {
        zh_cn: zh_cn.into(),
        en: en.into(),
    })
}

fn coded(code: &str, pair: (&str, &str)) -> pb::LabeledCode {
    pb::LabeledCode {
        code: code.into(),
        label: label(pair),
    }
}

fn clock_start(s: ClockStart) -> &'static str {
    match s {
        ClockStart::Intake => "intake",
        ClockStart::Arrival => "arrival",
        ClockStart::PipeRepair => "pipe_repair",
    }
}

pub fn policy_pb(p: &Policy, time_zone: &str) -> pb::Policy {
    let f = &p.feedback;
    let no_label = Label::default();
    pb::Policy {
        profile: p.profile.clone(),
        time_zone: time_zone.into(),
        categories: p
            .categories
            .iter()
            .map(|(code, c)| pb::Category {
                code: code.clone(),
                label: label((&c.label_zh, &c.description)),
                priority: c.priority.clone(),
                arrive_within: Some(duration(c.arrive_within)),
                resolve_within: Some(duration(c.resolve_within)),
                resolve_from: clock_start(c.resolve_from).into(),
                appointment: c.appointment,
                complex: c.complex,
                supply_loss: c.supply_loss,
                arrive_from: match c.arrive_from {
                    ArriveFrom::Intake => "intake",
                    ArriveFrom::Acceptance => "acceptance",
                }
                .into(),
            })
            .collect(),
        priorities: {
            let mut codes: Vec<&String> = p.categories.values().map(|c| &c.priority).collect();
            codes.sort();
            codes.dedup();
            codes
                .into_iter()
                .map(|code| {
                    let l = p.priority_labels.get(code).unwrap_or(&no_label);
                    coded(code, (&l.zh_cn, &l.en))
                })
                .collect()
        },
        ticket_types: TicketType::ALL
            .iter()
            .map(|t| coded(t.as_str(), labels::ticket_type(*t)))
            .collect(),
        sources: SourceChannel::ALL
            .iter()
            .map(|s| coded(s.as_str(), labels::source(*s)))
            .collect(),
        platform_sources: SourceChannel::ALL
            .iter()
            .filter(|s| s.is_platform())
            .map(|s| s.as_str().to_string())
            .collect(),
        clocks: ClockKind::ALL
            .iter()
            .map(|k| {
                let code = serde_json::to_value(k).expect("serializable");
                coded(code.as_str().unwrap_or_default(), labels::clock(*k))
            })
            .collect(),
        states: TicketState::ALL
            .iter()
            .map(|s| coded(s.as_str(), labels::state(*s)))
            .collect(),
        counterparts: Counterpart::ALL
            .iter()
            .map(|c| coded(c.as_str(), labels::counterpart(*c)))
            .collect(),
        major_kinds: MajorKind::ALL
            .iter()
            .map(|k| coded(k.as_str(), labels::major_kind(*k)))
            .collect(),
        accept_within: Some(duration(p.accept_within)),
        return_window: Some(duration(p.return_window)),
        revisit_within: Some(duration(p.revisit_within)),
        forward_within: Some(duration(p.forward_within)),
        extension_cap: Some(duration(p.extension_cap)),
        feedback: Some(pb::FeedbackRules {
            within: Some(duration(f.within)),
            complex_within: Some(duration(f.complex_within)),
            callback_within: Some(duration(f.callback_within)),
            unit_report_within: Some(duration(f.unit_report_within)),
            result_within: Some(duration(f.result_within)),
            transferred_within: Some(duration(f.transferred_within)),
            leadership_every: Some(duration(f.leadership_every)),
            major_contact_every: Some(duration(f.major_contact_every)),
            long_matter_after: Some(duration(f.long_matter_after)),
        }),
        referral_reply_within: Some(duration(p.referral.reply_within)),
        assessment_items: ItemKind::all()
            .into_iter()
            .filter_map(|k| {
                let d = p.assessment.deduction(k)?;
                let (zh, en) = labels::item_kind(k);
                Some(pb::AssessmentItemKind {
                    code: k.code(),
                    label: label((&zh, &en)),
                    points: d.points,
                    unit_yuan: d.unit_yuan,
                    person_yuan: d.person_yuan,
                })
            })
            .collect(),
        assessment_rewards: Some(rewards(&p.assessment)),
        outage_kinds: p
            .outage
            .kinds
            .iter()
            .map(|k| coded(k.as_str(), labels::outage_kind(*k)))
            .collect(),
        notice_channels: NoticeChannel::ALL
            .iter()
            .map(|c| coded(c.as_str(), labels::notice_channel(*c)))
            .collect(),
        outage_clocks: OutageClock::ALL
            .iter()
            .map(|c| coded(c.as_str(), labels::outage_clock(*c)))
            .collect(),
        reward_kinds: RewardKind::ALL
            .iter()
            .map(|k| coded(k.as_str(), labels::reward_kind(*k)))
            .collect(),
        item_statuses: ItemStatus::ALL
            .iter()
            .map(|st| coded(st.as_str(), labels::item_status(*st)))
            .collect(),
    }
}

fn rewards(a: &AssessmentRules) -> pb::AssessmentRewards {
    let amounts = |r: Reward| {
        Some(pb::RewardAmounts {
            unit_yuan: r.unit_yuan,
            person_yuan: r.person_yuan,
        })
    };
    let l = &a.leak_report;
    pb::AssessmentRewards {
        praise_media: amounts(a.praise_media),
        praise_authority: amounts(a.praise_authority),
        praise_national: amounts(a.praise_national),
        leak_large_from_mm: l.large_from_mm,
        leak_small_internal_yuan: l.small_internal_yuan,
        leak_small_external_yuan: l.small_external_yuan,
        leak_large_internal_yuan: l.large_internal_yuan,
        leak_large_external_yuan: l.large_external_yuan,
    }
}

#[tonic::async_trait]
impl Api for PolicyApi {
    async fn get_policy(
        &self,
        req: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let who = caller(&req)?;
        let (policy, tz) = self.svc.get(&who)?;
        Ok(Response::new(policy_pb(policy, tz.name())))
    }
}
