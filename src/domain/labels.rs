//! How people call the API's fixed values, in Chinese and English, for
//! GetPolicy: consoles and handhelds show these instead of codes. Category
//! and priority labels belong to the policy profile (a utility renames its
//! own); the values below are the API's own. Each table is an exhaustive
//! match, so a new value does not compile without its labels.
use crate::domain::TicketState;
use crate::domain::assessment::{ItemKind, ItemStatus, RewardKind};
use crate::domain::outage::{NoticeChannel, OutageClock, OutageKind};
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{Counterpart, MajorKind, SourceChannel, TicketType};

/// (zh-CN, en).
pub type Pair = (&'static str, &'static str);

pub fn ticket_type(t: TicketType) -> Pair {
    match t {
        TicketType::Consultation => ("咨询", "Consultation"),
        TicketType::HelpEmergency => ("紧急求助", "Emergency help request"),
        TicketType::HelpGeneral => ("一般求助", "General help request"),
        TicketType::Complaint => ("投诉", "Complaint"),
        TicketType::CriticismSuggestion => ("批评建议", "Criticism or suggestion"),
        TicketType::MediaExposure => ("媒体曝光", "Media exposure"),
        TicketType::Praise => ("表扬", "Praise"),
    }
}

pub fn source(s: SourceChannel) -> Pair {
    use SourceChannel as S;
    match s {
        S::Hotline => ("服务热线", "Own hotline"),
        S::WalkIn => ("来访", "Walk-in"),
        S::Letter => ("来信", "Letter"),
        S::Online => ("网站、微信", "Online"),
        S::CityHotline => ("12345市长公开电话", "City hotline 12345"),
        S::SupervisionHotline => ("12319监督服务热线", "Supervision hotline 12319"),
        S::Media => ("媒体", "Media"),
        S::Government => ("政府转办", "Government referral"),
        S::Inspection => ("测温异议", "Objection at a measurement"),
        S::ServiceHotline => ("8901890便民热线", "Service hotline 8901890"),
        S::DigitalCity => ("数字城管", "Digital city management"),
        S::OnlineConduct => ("网上行风", "Online conduct review"),
        S::PropertyOffice => ("物业办公室", "Property management office"),
        S::CrewFinding => ("巡查发现", "Found by a crew"),
    }
}

pub fn clock(k: ClockKind) -> Pair {
    use ClockKind as K;
    match k {
        K::Accept => ("接单", "Accept"),
        K::Arrive => ("到达现场", "Arrive on site"),
        K::Resolve => ("办结", "Resolve"),
        K::Revisit => ("回访", "Call-back"),
        K::Feedback => ("反馈结果", "Tell the caller the result"),
        K::Supervision => ("督办", "Supervision notice"),
        K::Forward => ("转交调度", "Forward to dispatch"),
        K::Callback => ("首问回复投诉人", "Call the caller back"),
        K::UnitReport => (
            "办理单位反馈首问人",
            "Unit reports to the first-responsible person",
        ),
        K::Result => ("反馈办理结果", "Tell the result"),
        K::CallerUpdate => ("向投诉人反馈", "Update the caller"),
        K::ReferrerUpdate => ("向转件单位反馈", "Update the referring body"),
        K::Reply => ("平台回复", "Reply on the platform"),
        K::Leadership => ("向领导汇报", "Report to the leadership"),
        K::Instruction => ("批示时限", "Leader's deadline"),
        K::LongMatter => ("超7日审批", "Approval beyond 7 days"),
    }
}

pub fn state(s: TicketState) -> Pair {
    use TicketState as S;
    match s {
        S::New => ("新建", "New"),
        S::Dispatched => ("已派单", "Dispatched"),
        S::Claimed => ("已接单", "Claimed"),
        S::OnSite => ("已到场", "On site"),
        S::Resolved => ("已处理", "Resolved"),
        S::Closed => ("已办结", "Closed"),
        S::Returned => ("已退回", "Returned"),
        S::Supervised => ("督办中", "Under supervision"),
        S::Cancelled => ("已作废", "Cancelled"),
        S::Suspended => ("已挂起", "Suspended"),
    }
}

pub fn counterpart(c: Counterpart) -> Pair {
    match c {
        Counterpart::Caller => ("投诉人", "Caller"),
        Counterpart::Referrer => ("转件单位", "Referring body"),
        Counterpart::Leadership => ("领导", "Leadership"),
        Counterpart::FirstResponsible => ("首问责任人", "First-responsible person"),
    }
}

pub fn major_kind(k: MajorKind) -> Pair {
    match k {
        MajorKind::PetitionBypassingLevels => ("越级上访", "Petition bypassing levels"),
        MajorKind::GroupPetition => ("集体上访", "Group petition"),
        MajorKind::MajorHelpRequest => ("重大求助", "Major help request"),
        MajorKind::ForeignRelated => ("涉外投诉", "Foreign-related complaint"),
    }
}

pub fn outage_clock(c: OutageClock) -> Pair {
    match c {
        OutageClock::DispatchReport => ("报告调度中心", "Report to dispatch"),
        OutageClock::CityHotline => ("报告12345", "Report to 12345"),
        OutageClock::SupervisionHotline => ("通报12319", "Report to 12319"),
        OutageClock::PublicNotice => ("停水通知", "Public notice"),
        OutageClock::PublicNoticeReminder => ("再次通知", "Notice reminder"),
        OutageClock::Restoration => ("恢复供应", "Restoration"),
    }
}

/// R-ASM-3: a reward kind's label.
pub fn reward_kind(k: RewardKind) -> Pair {
    match k {
        RewardKind::PraiseMedia => ("省市新闻媒体表扬", "Praise by city or provincial media"),
        RewardKind::PraiseAuthority => ("市、局通报表扬", "Praise in a city or bureau notice"),
        RewardKind::PraiseNational => (
            "省级以上政府或国家级媒体表扬",
            "Praise by provincial government or national media",
        ),
        RewardKind::LeakReport => ("报漏奖励", "Leak report reward"),
    }
}

/// R-ASM-2: an item status's label.
pub fn item_status(s: ItemStatus) -> Pair {
    match s {
        ItemStatus::Raised => ("已记录", "Raised"),
        ItemStatus::Contested => ("申诉中", "Contested"),
        ItemStatus::Upheld => ("申诉驳回", "Upheld"),
        ItemStatus::Waived => ("已撤销", "Waived"),
    }
}

/// R-ASM-1: an item kind's label (owned: breaches are named after their clock).
pub fn item_kind(k: ItemKind) -> (String, String) {
    match k {
        ItemKind::Breach(c) => {
            let (zh, en) = clock(c);
            (format!("{zh}超时"), format!("{en}: late"))
        }
        ItemKind::OutageBreach(c) => {
            let (zh, en) = outage_clock(c);
            (
                format!("停水{zh}超时"),
                format!("Outage {}: late", en.to_lowercase()),
            )
        }
        ItemKind::RepeatRepair => (
            "三个月内重复维修".into(),
            "Repeat repair within 90 days".into(),
        ),
        ItemKind::EscalatedComplaint => (
            "投诉升级至政府或媒体".into(),
            "Complaint escalated to government or media".into(),
        ),
        ItemKind::RepeatComplaint => ("用户两次以上投诉".into(), "Two or more complaints".into()),
    }
}

pub fn outage_kind(k: OutageKind) -> Pair {
    match k {
        OutageKind::EmergencyRepair => ("抢修停水", "Emergency repair"),
        OutageKind::Fault => ("故障停水", "Fault"),
        OutageKind::PlannedWorks => ("计划停水", "Planned works"),
        OutageKind::PressureReduction => ("降压供水", "Pressure reduction"),
        OutageKind::ArrearsShutOff => ("欠费停水", "Shut-off for arrears"),
        OutageKind::WaterQualityShutOff => ("水质停水", "Water-quality shut-off"),
        OutageKind::HeatCutOff => ("停热", "Heat cut-off"),
    }
}

pub fn notice_channel(c: NoticeChannel) -> Pair {
    match c {
        NoticeChannel::Dispatch => ("调度中心", "Dispatch centre"),
        NoticeChannel::CityHotline => ("12345市长公开电话", "City hotline 12345"),
        NoticeChannel::SupervisionHotline => ("12319监督服务热线", "Supervision hotline 12319"),
        NoticeChannel::Press => ("报纸", "Press"),
        NoticeChannel::TvRadio => ("电视、广播", "TV and radio"),
        NoticeChannel::Sms => ("短信", "SMS"),
        NoticeChannel::Posters => ("张贴通知", "Posters"),
        NoticeChannel::Online => ("网站、微信、微博", "Website, WeChat, Weibo"),
        NoticeChannel::Directory114 => ("114查号台", "Directory 114"),
        NoticeChannel::FireBrigade119 => ("119消防队", "Fire brigade 119"),
    }
}
