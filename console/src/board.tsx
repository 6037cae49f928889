// The board: the desk's open tickets, live. One Watch of ticket changes
// (from the empty cursor: a snapshot of every ticket the signed-in role may
// see, then each change as it commits) keeps a map of tickets; tombstones
// remove theirs. Masking (R-TKT-13) is the server's: the page shows what
// the feed sends for this role, nothing more.
import { useEffect, useMemo, useState } from "preact/hooks";
import {
  ChangeEntityType,
  TicketState,
  TicketType,
  type Api,
  type Lang,
  type Policy,
  type Ticket,
} from "./api.js";
import { COLUMNS, NO_FILTER, columns, isBreached, nextDeadline, type Filter } from "./board_model.js";
import { watchFeed, type Link } from "./feed.js";
import { categoryLabel, codeLabel, span, t } from "./i18n.js";

function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(id);
  }, [everyMs]);
  return now;
}

export function Board({ api, lang, policy }: { api: Api; lang: Lang; policy?: Policy }) {
  const [tickets, setTickets] = useState(new Map<string, Ticket>());
  const [link, setLink] = useState<Link>("connecting");
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const now = useNow(1000);

  useEffect(() => {
    const stop = new AbortController();
    watchFeed(
      api,
      [ChangeEntityType.TICKET],
      stop.signal,
      (c) => {
        const e = c.entity;
        if (e.case !== "ticket" && e.case !== "tombstone") return;
        setTickets((m) => {
          const next = new Map(m);
          if (e.case === "ticket") next.set(e.value.id, e.value);
          else next.delete(e.value.entityId);
          return next;
        });
      },
      setLink,
      () => setTickets(new Map()),
    );
    return () => stop.abort();
  }, [api]);

  const open = [...tickets.values()];
  const units = useMemo(
    () => [...new Set(open.map((x) => x.unit).filter(Boolean))].sort(),
    [tickets],
  );
  const cols = columns(open, filter, now);
  const set = (k: keyof Filter) => (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    setFilter({ ...filter, [k]: el.type === "checkbox" ? el.checked : el.value });
  };

  return (
    <section aria-labelledby="board-title">
      <h2 id="board-title">
        {t(lang, "board")}{" "}
        <span class={`link link-${link}`} role="status" data-testid="link">
          {t(lang, link === "live" ? "live" : link === "lost" ? "reconnecting" : "connecting")}
        </span>
      </h2>
      <form class="filters" aria-label={t(lang, "filters")} onSubmit={(e) => e.preventDefault()}>
        <Pick label={t(lang, "unit")} any={t(lang, "any")} value={filter.unit} onChange={set("unit")}
          options={units.map((u) => [u, u])} />
        <Pick label={t(lang, "priority")} any={t(lang, "any")} value={filter.priority} onChange={set("priority")}
          options={(policy?.priorities ?? []).map((p) => [p.code, codeLabel(lang, policy?.priorities, p.code)])} />
        <Pick label={t(lang, "type")} any={t(lang, "any")} value={filter.type} onChange={set("type")}
          options={(policy?.ticketTypes ?? []).map((p) => [p.code, codeLabel(lang, policy?.ticketTypes, p.code)])} />
        <Pick label={t(lang, "category")} any={t(lang, "any")} value={filter.category} onChange={set("category")}
          options={(policy?.categories ?? []).map((c) => [c.code, categoryLabel(lang, policy, c.code)])} />
        <label class="check">
          <input type="checkbox" checked={filter.breachedOnly} onChange={set("breachedOnly")} />
          {t(lang, "breachedOnly")}
        </label>
        <label class="grow">
          {t(lang, "search")}
          <input type="search" value={filter.text} onInput={set("text")} />
        </label>
      </form>
      <div class="columns">
        {COLUMNS.map((s) => {
          const list = cols.get(s) ?? [];
          const name = codeLabel(lang, policy?.states, TicketState[s]);
          return (
            <section class="column" aria-label={name} data-state={TicketState[s]}>
              <h3>
                {name} <span class="count">{list.length}</span>
              </h3>
              <ul>
                {list.map((x) => (
                  <Card ticket={x} lang={lang} policy={policy} now={now} />
                ))}
              </ul>
            </section>
          );
        })}
      </div>
    </section>
  );
}

/** A labelled choice among codes, "any" first. */
function Pick(p: {
  label: string;
  any: string;
  value: string;
  options: [string, string][];
  onChange: (e: Event) => void;
}) {
  return (
    <label>
      {p.label}
      <select value={p.value} onChange={p.onChange}>
        <option value="">{p.any}</option>
        {p.options.map(([code, name]) => (
          <option value={code}>{name}</option>
        ))}
      </select>
    </label>
  );
}

/** The ticket's own page. */
const openTicket = (id: string) => {
  window.location.hash = `#ticket/${encodeURIComponent(id)}`;
};

function Card({ ticket: x, lang, policy, now }: { ticket: Ticket; lang: Lang; policy?: Policy; now: number }) {
  const due = nextDeadline(x);
  const red = isBreached(x, now);
  const left = due === undefined ? undefined : due - now;
  return (
    <li
      class={red ? "card breached" : "card"}
      tabIndex={0}
      role="link"
      data-ticket={x.id}
      aria-label={`${categoryLabel(lang, policy, x.category)} ${x.address}`}
      onClick={() => openTicket(x.id)}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          openTicket(x.id);
        }
      }}
    >
      <div class="card-head">
        <span class={`priority priority-${x.priority}`}>
          {codeLabel(lang, policy?.priorities, x.priority)}
        </span>
        <span class="type">{codeLabel(lang, policy?.ticketTypes, TicketType[x.type])}</span>
        {red && <span class="flag">{t(lang, "breached")}</span>}
      </div>
      <div class="category">{categoryLabel(lang, policy, x.category)}</div>
      <div class="address">{x.address}</div>
      <div class="caller">
        {x.callerName} {x.callerPhone} {x.callerMasked && t(lang, "masked")}
      </div>
      <div class="meta">
        {x.unit && <span class="unit">{x.unit}</span>}
        {x.assignee && <span class="assignee">{x.assignee}</span>}
        <span class="deadline" data-testid="deadline">
          {left === undefined
            ? t(lang, "noDeadline")
            : left >= 0
              ? `${t(lang, "due")} ${span(left, lang)}`
              : `${t(lang, "overdue")} ${span(left, lang)}`}
        </span>
      </div>
    </li>
  );
}
