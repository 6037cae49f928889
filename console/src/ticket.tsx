// One ticket: everything the signed-in role may see of it (the API masks
// the rest), its deadlines, escalation and supervision, the extension
// request a dispatcher decides (R-SLA-5), the long-matter approval a
// supervisor gives (R-SLA-6), every supervision notice (R-TKT-10), its
// evidence (R-REC-1), and its audit trail (R-TKT-12): who, in which role,
// device and server time, untrusted device times flagged, and each entry's
// seal as the server checked it against the ticket's chain (R-REC-2).
// Kept current by the same feed as the board.
import { useEffect, useRef, useState } from "preact/hooks";
import { durationMs, timestampDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ChangeEntityType,
  Counterpart,
  ExtensionState,
  RevisitOutcome,
  SealCheck,
  TicketState,
  TicketType,
  refusal,
  type Api,
  type Lang,
  type Policy,
  type Ticket,
  type TicketEvent,
} from "./api.js";
import { Attachments } from "./attachments.js";
import { has, type Who } from "./auth.js";
import { watchChangesAfterSnapshot } from "./feed.js";
import { noticesOf } from "./notices.js";
import { categoryLabel, codeLabel, span, t, time, type Word } from "./i18n.js";

const date = (ts: Timestamp | undefined) => (ts ? timestampDate(ts) : undefined);
const dur = (d: Duration | undefined) => (d ? durationMs(d) : 0);

const TRIGGERS = { MANUAL: 1, REDO: 1, REPEAT_COMPLAINT: 1, BROKEN_PROMISE: 1 };

const DEADLINES: [Word, (x: Ticket) => Timestamp | undefined][] = [
  ["forwardBy", (x) => x.forwardBy],
  ["acceptBy", (x) => x.acceptBy],
  ["arriveBy", (x) => x.arriveBy],
  ["appointmentTime", (x) => x.appointmentTime],
  ["resolveBy", (x) => x.resolveBy],
  ["superviseBy", (x) => x.superviseBy],
  ["callbackBy", (x) => x.callbackBy],
  ["revisitBy", (x) => x.revisitBy],
  ["feedbackBy", (x) => x.feedbackBy],
  ["replyBy", (x) => x.replyBy],
  ["longMatterBy", (x) => x.longMatterBy],
];

/** Every event of the ticket's trail, page by page: the seal line speaks
 * for the whole trail, so the page reads all of it. */
async function wholeTrail(api: Api, ticketId: string): Promise<TicketEvent[]> {
  const all: TicketEvent[] = [];
  let pageToken = "";
  do {
    const page = await api.tickets.listTicketEvents({ ticketId, pageSize: 500, pageToken });
    all.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

export function TicketPage(p: { api: Api; lang: Lang; policy?: Policy; who: Who; id: string }) {
  const { api, lang, policy, who, id } = p;
  const [ticket, setTicket] = useState<Ticket>();
  const [events, setEvents] = useState<TicketEvent[]>([]);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(RevisitOutcome.SATISFIED);
  const [notes, setNotes] = useState("");
  const [counterpart, setCounterpart] = useState(Counterpart.CALLER);
  const [summary, setSummary] = useState("");
  const [told, setTold] = useState(false);
  const [reloads, setReloads] = useState(0);

  // Loads may overlap (a change arrives while one runs): only the newest is shown.
  const loads = useRef(0);
  const load = async () => {
    const mine = ++loads.current;
    try {
      const [x, trail] = await Promise.all([api.tickets.getTicket({ ticketId: id }), wholeTrail(api, id)]);
      if (mine !== loads.current) return;
      setTicket(x);
      setEvents(trail);
      setReloads((n) => n + 1);
      setError("");
    } catch (e) {
      if (mine !== loads.current) return;
      setTicket(undefined);
      setError(refusal(e).message || t(lang, "notFound"));
    }
  };

  useEffect(() => {
    load();
    // Changes of this ticket (a claim on a handheld, a breach) reload it;
    // the snapshot before the first checkpoint is what `load` just read.
    const stop = new AbortController();
    watchChangesAfterSnapshot(api, [ChangeEntityType.TICKET], stop.signal, (c) => {
      const e = c.entity;
      const ours = (e.case === "ticket" && e.value.id === id) || (e.case === "tombstone" && e.value.entityId === id);
      if (ours) load();
    });
    return () => stop.abort();
  }, [api, id]);

  const act = async (call: () => Promise<Ticket>) => {
    setBusy(true);
    setError("");
    try {
      setTicket(await call());
      setNote("");
      setNotes("");
      setSummary("");
      setTold(false);
      load();
    } catch (e) {
      setError(refusal(e).message);
    } finally {
      setBusy(false);
    }
  };

  if (!ticket) {
    return (
      <section aria-labelledby="ticket-title">
        <h2 id="ticket-title">{t(lang, "ticket")}</h2>
        {error && <p class="error" role="alert">{error}</p>}
        <a href="#board">{t(lang, "back")}</a>
      </section>
    );
  }
  const x = ticket;
  const ext = x.extension;
  const pending = ext?.state === ExtensionState.PENDING;
  const notices = noticesOf(events);
  // The first entry whose seal does not hold (R-REC-2), if any.
  const sealHolds = (e: TicketEvent) => e.seal !== SealCheck.ALTERED && e.seal !== SealCheck.UNLINKED && e.seal !== SealCheck.UNSEALED;
  const broken = events.find((e) => !sealHolds(e));
  // A server that does not check seals says so by leaving them unset.
  const unchecked = events.some((e) => e.seal === SealCheck.UNSPECIFIED);
  const row = (w: Word, v: preact.ComponentChildren) => (
    <>
      <dt>{t(lang, w)}</dt>
      <dd>{v}</dd>
    </>
  );

  return (
    <section class="ticket" aria-labelledby="ticket-title" data-ticket={x.id}>
      <a href="#board">{t(lang, "back")}</a>
      <h2 id="ticket-title">
        {categoryLabel(lang, policy, x.category)} <small>{x.id}</small>
      </h2>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="panels">
        <section aria-labelledby="summary-title">
          <h3 id="summary-title">{t(lang, "summary")}</h3>
          <dl>
            {row("state", <span data-testid="state">{codeLabel(lang, policy?.states, TicketState[x.state])}</span>)}
            {row("priority", codeLabel(lang, policy?.priorities, x.priority))}
            {row("type", codeLabel(lang, policy?.ticketTypes, TicketType[x.type]))}
            {row("unit", `${x.unit}${x.assignee ? ` / ${x.assignee}` : ""}`)}
            {row(
              "caller",
              <span data-testid="caller">
                {x.callerName} {x.callerPhone} {x.callerMasked && t(lang, "masked")}
              </span>,
            )}
            {row("address", x.address)}
            {row("content", x.content)}
            {row("received", time(date(x.receivedAt), lang))}
            {x.referral && row("reference", x.referral.reference)}
            {row("escalation", <span class={x.breached ? "flag" : ""}>{x.escalationLevel}{x.breached && ` · ${t(lang, "breached")}`}</span>)}
            {row("supervisions", x.supervisionCount)}
            {x.supervision && row("latestNotice", `${x.supervision.notice} (${x.supervision.issuedBy}, ${time(date(x.supervision.deadline), lang)})`)}
          </dl>
        </section>
        <section aria-labelledby="deadlines-title">
          <h3 id="deadlines-title">{t(lang, "deadlines")}</h3>
          <dl>
            {DEADLINES.filter(([, f]) => f(x)).map(([w, f]) => row(w, time(date(f(x)), lang)))}
          </dl>
        </section>
        {ext && (
          <section aria-labelledby="extension-title" data-testid="extension">
            <h3 id="extension-title">{t(lang, "extension")}</h3>
            <dl>
              {row("state", <span data-testid="extension-state">{t(lang, ExtensionState[ext.state] as Word)}</span>)}
              {row("why", ext.reason)}
              {row("extendBy", span(dur(ext.extendBy), lang))}
              {row("requestedBy", ext.requestedBy)}
              {ext.decidedBy && row("decidedBy", `${ext.decidedBy} ${ext.decisionNote}`)}
            </dl>
            {pending && has(who, "dispatcher") && (
              <form class="row" aria-label={t(lang, "extension")} onSubmit={(e) => e.preventDefault()}>
                <label>
                  {t(lang, "note")}
                  <input value={note} onInput={(e) => setNote(e.currentTarget.value)} />
                </label>
                {([true, false] as const).map((approve) => (
                  <button
                    type="button"
                    class={approve ? "" : "secondary"}
                    disabled={busy}
                    onClick={() =>
                      act(() =>
                        api.tickets.decideExtension({
                          requestId: crypto.randomUUID(),
                          ticketId: x.id,
                          approve,
                          note,
                          expectedVersion: x.version,
                        }),
                      )
                    }
                  >
                    {t(lang, approve ? "approve" : "refuse")}
                  </button>
                ))}
              </form>
            )}
          </section>
        )}
        {x.longMatterBy && has(who, "supervisor") && (
          <section aria-labelledby="long-title">
            <h3 id="long-title">{t(lang, "longMatter")}</h3>
            {x.longMatter ? (
              <p>
                {t(lang, "approved")}: {x.longMatter.approvedBy} {x.longMatter.note}
              </p>
            ) : (
              <form
                class="row"
                onSubmit={(e) => {
                  e.preventDefault();
                  act(() =>
                    api.tickets.approveLongMatter({
                      requestId: crypto.randomUUID(),
                      ticketId: x.id,
                      note,
                      expectedVersion: x.version,
                    }),
                  );
                }}
              >
                <label>
                  {t(lang, "longMatterNote")}
                  <input value={note} onInput={(e) => setNote(e.currentTarget.value)} />
                </label>
                <button type="submit" disabled={busy}>{t(lang, "approve")}</button>
              </form>
            )}
          </section>
        )}
        {x.state === TicketState.RESOLVED && has(who, "dispatcher") && (
          <section aria-labelledby="callback-title">
            <h3 id="callback-title">{t(lang, "callBack")}</h3>
            <form
              class="stack"
              onSubmit={(e) => {
                e.preventDefault();
                act(() =>
                  api.tickets.recordRevisit({
                    requestId: crypto.randomUUID(),
                    ticketId: x.id,
                    outcome,
                    notes,
                    expectedVersion: x.version,
                  }),
                );
              }}
            >
              <label>
                {t(lang, "outcome")}
                <select value={outcome} onChange={(e) => setOutcome(Number(e.currentTarget.value))}>
                  {[RevisitOutcome.SATISFIED, RevisitOutcome.NOT_SATISFIED_UNIT_FAULT, RevisitOutcome.NOT_SATISFIED_OTHER].map((o) => (
                    <option value={o}>{t(lang, RevisitOutcome[o] as Word)}</option>
                  ))}
                </select>
              </label>
              <label>
                {t(lang, "notes")}
                <input value={notes} onInput={(e) => setNotes(e.currentTarget.value)} />
              </label>
              <button type="submit" disabled={busy}>{t(lang, "record")}</button>
            </form>
          </section>
        )}
        {x.state !== TicketState.CLOSED && x.state !== TicketState.CANCELLED && (
          <section aria-labelledby="contact-title">
            <h3 id="contact-title">{t(lang, "contact")}</h3>
            <form
              class="stack"
              onSubmit={(e) => {
                e.preventDefault();
                act(() =>
                  api.tickets.recordContact({
                    requestId: crypto.randomUUID(),
                    ticketId: x.id,
                    counterpart,
                    summary,
                    result: told,
                  }),
                );
              }}
            >
              <label>
                {t(lang, "counterpart")}
                <select value={counterpart} onChange={(e) => setCounterpart(Number(e.currentTarget.value))}>
                  {[Counterpart.CALLER, Counterpart.REFERRER, Counterpart.LEADERSHIP, Counterpart.FIRST_RESPONSIBLE].map((c) => (
                    <option value={c}>{codeLabel(lang, policy?.counterparts, Counterpart[c])}</option>
                  ))}
                </select>
              </label>
              <label>
                {t(lang, "contactSummary")}
                <input value={summary} onInput={(e) => setSummary(e.currentTarget.value)} />
              </label>
              <label class="check">
                <input type="checkbox" checked={told} onChange={(e) => setTold(e.currentTarget.checked)} />
                {t(lang, "toldResult")}
              </label>
              <button type="submit" disabled={busy}>{t(lang, "record")}</button>
            </form>
          </section>
        )}
      </div>
      {notices.length > 0 && (
        <section aria-labelledby="notices-title">
          <h3 id="notices-title">{t(lang, "notices")}</h3>
          <table class="notices">
            <thead>
              <tr>
                <th scope="col">{t(lang, "issuedAt")}</th>
                <th scope="col">{t(lang, "trigger")}</th>
                <th scope="col">{t(lang, "notice")}</th>
                <th scope="col">{t(lang, "issuedBy")}</th>
                <th scope="col">{t(lang, "deadline")}</th>
              </tr>
            </thead>
            <tbody>
              {notices.map((n) => (
                <tr data-trigger={n.trigger}>
                  <td>{time(n.issuedAt, lang)}</td>
                  <td>{n.trigger in TRIGGERS ? t(lang, n.trigger as Word) : n.trigger}</td>
                  <td>{n.notice}</td>
                  <td>{n.issuedBy}</td>
                  <td>{time(n.deadline, lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <Attachments api={api} lang={lang} ticketId={x.id} reload={reloads} />
      <section aria-labelledby="trail-title">
        <h3 id="trail-title">{t(lang, "trail")}</h3>
        {events.length > 0 && (
          <p class={broken ? "error" : unchecked ? "" : "ok"} data-testid="chain" data-intact={broken || unchecked ? "false" : "true"}>
            {broken
              ? `${t(lang, "chainBroken")} #${broken.sequence} ${broken.kind}`
              : unchecked
                ? t(lang, "chainUnchecked")
                : t(lang, "chainIntact")}
          </p>
        )}
        <table class="trail">
          <thead>
            <tr>
              <th scope="col">{t(lang, "when")}</th>
              <th scope="col">{t(lang, "deviceTime")}</th>
              <th scope="col">{t(lang, "event")}</th>
              <th scope="col">{t(lang, "actor")}</th>
              <th scope="col">{t(lang, "role")}</th>
              <th scope="col">{t(lang, "change")}</th>
              <th scope="col">{t(lang, "seal")}</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr data-kind={e.kind} class={e.timeUntrusted ? "untrusted" : ""}>
                <td>{time(date(e.receiveTime), lang)}</td>
                <td>
                  {time(date(e.occurredAt), lang)}
                  {e.timeUntrusted && <span class="flag" title={t(lang, "untrusted")}> ⚠ {t(lang, "untrusted")}</span>}
                </td>
                <td>{e.kind}</td>
                <td>{e.actorSub}</td>
                <td>{e.actorRole}</td>
                <td>
                  {e.fromState ? codeLabel(lang, policy?.states, TicketState[e.fromState]) : ""} →{" "}
                  {codeLabel(lang, policy?.states, TicketState[e.toState])}
                </td>
                <td data-seal={SealCheck[e.seal]} class={sealHolds(e) ? "" : "flag"}>
                  <span title={e.hash}>{t(lang, `SEAL_CHECK_${SealCheck[e.seal]}` as Word)}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </section>
  );
}
