// Supply interruptions (section 6): those awaiting approval, approved and
// in force, each with the reports and notices it owes (its clocks, red
// once breached), the notices sent, and approval for a supervisor
// (R-OUT-3). Kept current by the feed's outage changes.
import { useEffect, useRef, useState } from "preact/hooks";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ChangeEntityType,
  NoticeChannel,
  OutageClock,
  OutageKind,
  OutageState,
  refusal,
  type Api,
  type Lang,
  type Outage,
  type Policy,
} from "./api.js";
import { has, type Who } from "./auth.js";
import { watchChangesAfterSnapshot } from "./feed.js";
import { codeLabel, t, time } from "./i18n.js";

const date = (ts: Timestamp | undefined) => (ts ? timestampDate(ts) : undefined);

/** Awaiting approval first, then approved works, then supply off. */
const SHOWN = [OutageState.AWAITING_APPROVAL, OutageState.APPROVED, OutageState.ACTIVE];

export function Outages({ api, lang, policy, who }: { api: Api; lang: Lang; policy?: Policy; who: Who }) {
  const [outages, setOutages] = useState<Outage[]>([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  // Loads may overlap (changes arrive while one runs): only the newest is shown.
  const loads = useRef(0);
  const load = async () => {
    const mine = ++loads.current;
    try {
      const all: Outage[] = [];
      let pageToken = "";
      do {
        const r = await api.outages.listOutages({ pageSize: 500, pageToken });
        all.push(...r.outages);
        pageToken = r.nextPageToken;
      } while (pageToken);
      if (mine !== loads.current) return;
      setOutages(all.filter((o) => SHOWN.includes(o.state)));
    } catch (e) {
      if (mine === loads.current) setError(refusal(e).message);
    }
  };

  useEffect(() => {
    load();
    const stop = new AbortController();
    watchChangesAfterSnapshot(api, [ChangeEntityType.OUTAGE], stop.signal, () => load());
    return () => stop.abort();
  }, [api]);

  const approve = async (o: Outage) => {
    setBusy(true);
    setError("");
    try {
      await api.outages.approveOutage({
        requestId: crypto.randomUUID(),
        outageId: o.id,
        expectedVersion: o.version,
      });
      await load();
    } catch (e) {
      setError(refusal(e).message);
    } finally {
      setBusy(false);
    }
  };

  const sorted = [...outages].sort((a, b) => SHOWN.indexOf(a.state) - SHOWN.indexOf(b.state));
  return (
    <section class="outages" aria-labelledby="outages-title">
      <h2 id="outages-title">{t(lang, "outages")}</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {sorted.length === 0 && <p>{t(lang, "none")}</p>}
      {sorted.map((o) => (
        <article class="outage" data-outage={o.id} data-state={OutageState[o.state]} aria-label={o.cause}>
          <h3>
            {codeLabel(lang, policy?.outageKinds, OutageKind[o.kind])} · {o.unit} ·{" "}
            <span data-testid="outage-state">{t(lang, OutageState[o.state] as never)}</span>
          </h3>
          <p>
            {o.cause} {o.area?.description && `— ${o.area.description}`}
            {o.households > 0n && ` · ${o.households} ${t(lang, "households")}`}
          </p>
          <dl>
            {o.plannedStartTime && (
              <>
                <dt>{t(lang, "planned")}</dt>
                <dd>
                  {time(date(o.plannedStartTime), lang)} – {time(date(o.plannedEndTime), lang)}
                </dd>
              </>
            )}
            {o.startTime && (
              <>
                <dt>{t(lang, "supplyOff")}</dt>
                <dd>{time(date(o.startTime), lang)}</dd>
              </>
            )}
            {o.expectedRestorationTime && (
              <>
                <dt>{t(lang, "expectedBack")}</dt>
                <dd>{time(date(o.expectedRestorationTime), lang)}</dd>
              </>
            )}
            <dt>{t(lang, "escalation")}</dt>
            <dd>{o.escalationLevel}</dd>
          </dl>
          <table class="trail">
            <caption>{t(lang, "owed")}</caption>
            <thead>
              <tr>
                <th scope="col">{t(lang, "clock")}</th>
                <th scope="col">{t(lang, "deadline")}</th>
                <th scope="col">{t(lang, "met")}</th>
              </tr>
            </thead>
            <tbody>
              {o.clocks.map((c) => (
                <tr class={c.breached ? "breached" : ""} data-clock={OutageClock[c.clock]}>
                  <td>{codeLabel(lang, policy?.outageClocks, OutageClock[c.clock])}</td>
                  <td>{time(date(c.deadline), lang)}</td>
                  <td>
                    {c.metTime ? time(date(c.metTime), lang) : "—"}
                    {c.breached && <span class="flag"> {t(lang, "breached")}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {o.notices.length > 0 && (
            <ul class="notices">
              {o.notices.map((n) => (
                <li>
                  {codeLabel(lang, policy?.noticeChannels, NoticeChannel[n.channel])} ·{" "}
                  {time(date(n.sentTime), lang)} · {n.sentBy} {n.reference}
                </li>
              ))}
            </ul>
          )}
          {o.state === OutageState.AWAITING_APPROVAL && has(who, "supervisor") && (
            <button type="button" disabled={busy} onClick={() => approve(o)}>
              {t(lang, "approveOutage")}
            </button>
          )}
        </article>
      ))}
    </section>
  );
}
