// What the board shows of the tickets it follows: which columns, which
// deadline each card counts down to, which cards a filter keeps. Pure, so
// the page only draws.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { TicketState, TicketType, type Ticket } from "./api.js";

/** The board's columns, in the order work flows; closed and cancelled
 * tickets leave the board. */
export const COLUMNS: TicketState[] = [
  TicketState.NEW,
  TicketState.RETURNED,
  TicketState.DISPATCHED,
  TicketState.CLAIMED,
  TicketState.ON_SITE,
  TicketState.SUPERVISED,
  TicketState.RESOLVED,
  TicketState.SUSPENDED,
];

function at(ts: Timestamp | undefined): number | undefined {
  return ts ? timestampDate(ts).getTime() : undefined;
}

/** The earliest deadline still to be met in the ticket's state (section
 * 3's clocks: those of the call run from receipt, acceptance from dispatch;
 * an appointment stands for the arrival deadline), or the platform's reply
 * deadline when that comes first; none while suspended (its clocks stand
 * still) or closed. */
export function nextDeadline(t: Ticket): number | undefined {
  const arrive = at(t.appointmentTime) ?? at(t.arriveBy);
  const resolve = at(t.resolveBy);
  const byState: Record<number, (number | undefined)[]> = {
    [TicketState.NEW]: [at(t.forwardBy), arrive, resolve],
    [TicketState.RETURNED]: [at(t.forwardBy), arrive, resolve],
    [TicketState.DISPATCHED]: [at(t.acceptBy), arrive, resolve],
    [TicketState.CLAIMED]: [arrive, resolve],
    [TicketState.ON_SITE]: [resolve],
    [TicketState.SUPERVISED]: [at(t.superviseBy), resolve],
    [TicketState.RESOLVED]: [at(t.callbackBy), at(t.revisitBy)],
  };
  const own = byState[t.state];
  if (!own) return undefined;
  const all = [...own, at(t.replyBy)].filter((x): x is number => x !== undefined);
  return all.length ? Math.min(...all) : undefined;
}

/** Red: a recorded breach, or a deadline passed that the monitor has not
 * recorded yet. */
export function isBreached(t: Ticket, now: number): boolean {
  const due = nextDeadline(t);
  return t.breached || (due !== undefined && due <= now);
}

export interface Filter {
  unit: string;
  priority: string;
  type: string;
  category: string;
  breachedOnly: boolean;
  text: string;
}

export const NO_FILTER: Filter = {
  unit: "",
  priority: "",
  type: "",
  category: "",
  breachedOnly: false,
  text: "",
};

const digits = (s: string) => s.replace(/\D/g, "");

export function keeps(f: Filter, t: Ticket, now: number): boolean {
  if (f.unit && t.unit !== f.unit) return false;
  if (f.priority && t.priority !== f.priority) return false;
  if (f.type && TicketType[t.type] !== f.type) return false;
  if (f.category && t.category !== f.category) return false;
  if (f.breachedOnly && !isBreached(t, now)) return false;
  const q = f.text.trim().toLowerCase();
  if (q) {
    const phone = digits(q);
    const hit =
      (phone.length >= 3 && digits(t.callerPhone).includes(phone)) ||
      t.address.toLowerCase().includes(q) ||
      (t.referral?.reference ?? "").toLowerCase().includes(q);
    if (!hit) return false;
  }
  return true;
}

/** Open tickets by column, the earliest deadline first in each. */
export function columns(tickets: Iterable<Ticket>, f: Filter, now: number): Map<TicketState, Ticket[]> {
  const out = new Map<TicketState, Ticket[]>(COLUMNS.map((s) => [s, []]));
  for (const t of tickets) {
    if (keeps(f, t, now)) out.get(t.state)?.push(t);
  }
  const key = (t: Ticket) => nextDeadline(t) ?? Number.MAX_SAFE_INTEGER;
  for (const list of out.values()) list.sort((a, b) => key(a) - key(b));
  return out;
}
