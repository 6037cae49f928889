// Every supervision notice (督办, R-TKT-10) a ticket was put under, read
// from its audit trail: a supervisor's notice is a SUPERVISED event (its
// text and deadline in the details); an automatic one (too many redos, a
// repeated complaint, a promise not kept) rides on the event that caused
// it, as `details.supervision`. The ticket itself carries only the latest.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { TicketEvent } from "./api.js";

export interface NoticeRecord {
  /** MANUAL, REDO, REPEAT_COMPLAINT or BROKEN_PROMISE. */
  trigger: string;
  notice: string;
  issuedBy: string;
  issuedAt?: Date;
  deadline?: Date;
}

const when = (v: unknown) => (typeof v === "string" && v ? new Date(v) : undefined);
const text = (v: unknown) => (typeof v === "string" ? v : "");

export function noticesOf(events: TicketEvent[]): NoticeRecord[] {
  const out: NoticeRecord[] = [];
  for (const e of events) {
    let d: Record<string, unknown>;
    try {
      d = JSON.parse(e.detailsJson || "{}");
    } catch {
      continue;
    }
    if (e.kind === "SUPERVISED") {
      out.push({
        trigger: "MANUAL",
        notice: text(d.notice),
        issuedBy: e.actorSub,
        issuedAt: e.receiveTime ? timestampDate(e.receiveTime) : undefined,
        deadline: when(d.supervise_by),
      });
      continue;
    }
    const s = d.supervision as Record<string, unknown> | null | undefined;
    if (s && typeof s === "object") {
      out.push({
        trigger: text(s.trigger),
        notice: text(s.notice),
        issuedBy: text(s.issued_by),
        issuedAt: when(s.issued_at),
        deadline: when(s.deadline),
      });
    }
  }
  return out;
}
