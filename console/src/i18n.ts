// The console's own words, in Chinese (the default) and English. Codes of
// the API and the policy (categories, priorities, states...) are named by
// the policy's labels (GetPolicy), never here.
import type { Label, Policy } from "./api.js";
import type { Lang } from "./api.js";

const words = {
  title: ["调度台", "Dispatch console"],
  signIn: ["登录", "Sign in"],
  signOut: ["退出", "Sign out"],
  token: ["访问令牌（JWT）", "Access token (JWT)"],
  tokenHelp: [
    "粘贴 `fieldops token` 生成的令牌；只保存在本标签页中。",
    "Paste a token made by `fieldops token`; it is kept in this tab only.",
  ],
  language: ["语言", "Language"],
  board: ["工单看板", "Ticket board"],
  filters: ["筛选", "Filters"],
  unit: ["单位", "Unit"],
  priority: ["优先级", "Priority"],
  type: ["类型", "Type"],
  category: ["类别", "Category"],
  any: ["全部", "Any"],
  breachedOnly: ["仅超时", "Breached only"],
  search: ["搜索（电话 / 地址 / 平台编号）", "Search (phone / address / platform reference)"],
  live: ["实时", "Live"],
  connecting: ["连接中…", "Connecting…"],
  reconnecting: ["连接中断，正在重连…", "Connection lost, reconnecting…"],
  none: ["无", "None"],
  due: ["剩余", "Due in"],
  overdue: ["已超时", "Overdue by"],
  breached: ["超时", "Breached"],
  noDeadline: ["无时限", "No deadline"],
  tickets: ["张工单", "tickets"],
  masked: ["（已脱敏）", "(masked)"],
  intake: ["受理", "Intake"],
  newTicket: ["新建工单", "New ticket"],
  source: ["来源", "Source"],
  callerName: ["来电人姓名", "Caller's name"],
  callerPhone: ["来电号码", "Caller's phone"],
  callerOrganisation: ["来电单位", "Caller's organisation"],
  address: ["地址", "Address"],
  district: ["区", "District"],
  content: ["诉求内容", "What the caller reports"],
  receivedAt: ["来电时间（留空为现在）", "Time of the call (empty: now)"],
  reference: ["平台编号", "Platform reference"],
  referralDeadline: ["平台答复期限", "Platform's reply deadline"],
  timeLimitTold: ["已告知办理时限", "Caller told the time limit"],
  create: ["创建工单", "Create ticket"],
  created: ["已创建工单", "Ticket created"],
  outageHere: ["该地址有正在进行的停水/停热：", "A supply interruption is in force at this address:"],
  dispatch: ["派单", "Dispatch"],
  assignee: ["指定人员（可选）", "Crew member (optional)"],
  dispatched: ["已派单至", "Dispatched to"],
  cancel: ["撤销工单", "Cancel ticket"],
  cancelReason: ["撤销原因", "Reason for cancelling"],
  cancelled: ["已撤销", "Cancelled"],
  another: ["再建一单", "Record another"],
  choose: ["请选择", "Choose"],
  ticket: ["工单", "Ticket"],
  back: ["返回看板", "Back to the board"],
  summary: ["概要", "Summary"],
  state: ["状态", "State"],
  caller: ["来电人", "Caller"],
  received: ["来电时间", "Received"],
  escalation: ["升级级别", "Escalation level"],
  supervisions: ["督办次数", "Supervision notices"],
  latestNotice: ["最近督办", "Latest supervision notice"],
  deadlines: ["时限", "Deadlines"],
  extension: ["延期申请", "Extension request"],
  extendBy: ["延期时长", "Extend by"],
  why: ["申请原因", "Reason"],
  requestedBy: ["申请人", "Requested by"],
  decidedBy: ["审批人", "Decided by"],
  note: ["审批意见", "Note"],
  approve: ["批准", "Approve"],
  refuse: ["驳回", "Refuse"],
  PENDING: ["待审批", "Pending"],
  APPROVED: ["已批准", "Approved"],
  REFUSED: ["已驳回", "Refused"],
  longMatter: ["超 7 日办理审批（R-SLA-6）", "Approval to take longer than 7 days (R-SLA-6)"],
  longMatterNote: ["原因及预计办结时间", "Why, and until when"],
  approved: ["已批准", "Approved"],
  trail: ["办理记录", "Audit trail"],
  when: ["服务器时间", "Server time"],
  deviceTime: ["设备时间", "Device time"],
  untrusted: ["设备时间不可信", "Device time not trusted"],
  event: ["事件", "Event"],
  actor: ["操作人", "Actor"],
  role: ["角色", "Role"],
  change: ["状态变化", "State change"],
  forwardBy: ["转派时限", "Forward by"],
  acceptBy: ["接单时限", "Accept by"],
  arriveBy: ["到场时限", "Arrive by"],
  appointmentTime: ["预约时间", "Appointment"],
  resolveBy: ["办结时限", "Resolve by"],
  revisitBy: ["回访时限", "Call back by"],
  callbackBy: ["回复来电人时限", "Answer the caller by"],
  feedbackBy: ["反馈时限", "Feedback by"],
  replyBy: ["平台答复时限", "Platform reply by"],
  superviseBy: ["督办时限", "Supervision deadline"],
  longMatterBy: ["超期审批时限", "Long-matter approval by"],
  outages: ["停水/停热", "Supply interruptions"],
  households: ["户", "households"],
  planned: ["计划时间", "Planned"],
  supplyOff: ["停供时间", "Supply off since"],
  expectedBack: ["预计恢复", "Expected back"],
  owed: ["应报告/通知事项", "Reports and notices due"],
  clock: ["事项", "What"],
  deadline: ["期限", "Deadline"],
  met: ["完成时间", "Done"],
  approveOutage: ["批准计划", "Approve the plan"],
  AWAITING_APPROVAL: ["待审批", "Awaiting approval"],
  ACTIVE: ["停供中", "Supply off"],
  RESTORED: ["已恢复", "Restored"],
  reports: ["报表", "Reports"],
  period: ["周期", "Period"],
  week: ["周", "Week"],
  month: ["月", "Month"],
  season: ["供暖季", "Season"],
  anchorDate: ["所在日期", "A date in the period"],
  show: ["查询", "Show"],
  totals: ["总览", "Totals"],
  ticketsReceived: ["受理工单", "Tickets received"],
  cancelledCount: ["撤销", "Cancelled"],
  resolvedCount: ["办结", "Resolved"],
  revisitRate: ["回访率", "Call-back rate"],
  satisfactionRate: ["满意率", "Satisfaction"],
  onTime: ["按时率", "On time"],
  byCategory: ["按类别", "By category"],
  temperature: ["室温达标", "Room temperature"],
  complianceRate: ["达标率", "Compliance"],
  target: ["目标", "target"],
  visits: ["测温户次", "Visits"],
  coldHouseholds: ["不热户", "Cold households"],
  sheet: ["考核表", "Assessment sheet"],
  downloadCsv: ["下载 CSV", "Download CSV"],
  person: ["人员", "Person"],
  items: ["扣分项", "Items"],
  points: ["扣分", "Points"],
  deducted: ["扣款（元）", "Deducted (yuan)"],
  rewardYuan: ["奖励（元）", "Rewards (yuan)"],
  net: ["合计（元）", "Net (yuan)"],
  callBack: ["回访", "Call-back"],
  outcome: ["回访结果", "Outcome"],
  SATISFIED: ["满意（结单）", "Satisfied (closes)"],
  NOT_SATISFIED_UNIT_FAULT: ["不满意：单位原因（督办返工）", "Not satisfied: the unit's fault (redo)"],
  NOT_SATISFIED_OTHER: ["不满意：其他原因（结单）", "Not satisfied: other reasons (closes)"],
  notes: ["回访记录", "Notes"],
  record: ["记录", "Record"],
  contact: ["联系记录", "Contact"],
  counterpart: ["联系对象", "With"],
  contactSummary: ["联系内容", "What was said"],
  toldResult: ["已告知办理结果", "Told the result"],
  notFound: ["找不到该工单（或无权查看）。", "No such ticket (or not yours to see)."],
  notices: ["督办记录", "Supervision notices"],
  issuedAt: ["下达时间", "Issued"],
  issuedBy: ["督办人", "Issued by"],
  trigger: ["起因", "Why"],
  notice: ["督办内容", "Notice"],
  MANUAL: ["人工督办", "By a supervisor"],
  REDO: ["返工超限", "Too many redos"],
  REPEAT_COMPLAINT: ["重复投诉", "Repeated complaint"],
  BROKEN_PROMISE: ["承诺未兑现", "A promise not kept"],
  evidence: ["附件与证据", "Evidence"],
  noEvidence: ["暂无附件。", "Nothing attached."],
  file: ["文件", "File"],
  kind: ["种类", "Kind"],
  size: ["大小", "Size"],
  uploadedBy: ["上传人", "Uploaded by"],
  takenAt: ["拍摄/签署时间", "Taken or signed"],
  caption: ["说明", "Caption"],
  download: ["下载", "Download"],
  ATTACHMENT_KIND_PHOTO: ["照片", "Photo"],
  ATTACHMENT_KIND_SIGNATURE: ["签名", "Signature"],
  ATTACHMENT_KIND_DOCUMENT: ["文件", "Document"],
  seal: ["防篡改校验", "Seal"],
  chainIntact: ["审计链完整：每条记录与其封存值一致，且依次相连。", "The trail is intact: every entry matches its seal and follows the one before."],
  chainUnchecked: ["服务器未校验本审计链的封存值。", "The server did not check this trail's seals."],
  chainBroken: ["审计链异常，首个问题记录：", "The trail is broken; the first entry in question:"],
  SEAL_CHECK_UNSPECIFIED: ["未校验", "not checked"],
  SEAL_CHECK_INTACT: ["✓ 完整", "✓ intact"],
  SEAL_CHECK_BEFORE_CHAIN: ["启用前记录", "from before sealing"],
  SEAL_CHECK_ALTERED: ["⚠ 内容被改动", "⚠ altered"],
  SEAL_CHECK_UNLINKED: ["⚠ 前序记录缺失", "⚠ an entry before it is missing"],
  SEAL_CHECK_UNSEALED: ["⚠ 封存值被移除", "⚠ its seal was removed"],
} as const;

export type Word = keyof typeof words;

export function t(lang: Lang, w: Word): string {
  return words[w][lang === "zh" ? 0 : 1];
}

export function label(lang: Lang, l: Label | undefined, code: string): string {
  if (!l) return code;
  return (lang === "zh" ? l.zhCn : l.en) || code;
}

/** The label of a code among the policy's labelled codes. */
export function codeLabel(
  lang: Lang,
  list: { code: string; label?: Label }[] | undefined,
  code: string,
): string {
  return label(lang, list?.find((c) => c.code === code)?.label, code);
}

export function categoryLabel(lang: Lang, p: Policy | undefined, code: string): string {
  return codeLabel(lang, p?.categories, code);
}

/** A time as the desk reads it: the utility's wall clock (the browser's). */
export function time(d: Date | undefined, lang: Lang): string {
  if (!d) return "";
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

/** "1 h 05 min", "3 min", "2 d 4 h": a remaining or overdue span. */
export function span(ms: number, lang: Lang): string {
  const m = Math.floor(Math.abs(ms) / 60000);
  const [d, h, min] = [Math.floor(m / 1440), Math.floor((m % 1440) / 60), m % 60];
  const u = lang === "zh" ? { d: "天", h: "小时", m: "分" } : { d: " d", h: " h", m: " min" };
  if (d > 0) return `${d}${u.d} ${h}${u.h}`;
  if (h > 0) return `${h}${u.h} ${String(min).padStart(2, "0")}${u.m}`;
  return `${min}${u.m}`;
}
