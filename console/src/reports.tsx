// Reports (section 8): the service report of a unit (or all) for a week,
// month or season, drawn as bars (on-time rates per clock, tickets by
// category, room-temperature compliance against its 98 % target), and the
// month's assessment sheet (R-ASM-4) with its CSV, as the server exports it.
import { useEffect, useState } from "preact/hooks";
import {
  PeriodKind,
  refusal,
  type Api,
  type AssessmentSheet,
  type ClockFigure,
  type Lang,
  type Policy,
  type ServiceReport,
} from "./api.js";
import { categoryLabel, codeLabel, t, type Word } from "./i18n.js";

/** Today's date in the utility's time zone (the server counts periods in
 * it), "YYYY-MM-DD"; the browser's own zone until the policy is known. */
const today = (timeZone?: string) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());

const pct = (r: number | undefined) => (r === undefined ? "—" : `${(r * 100).toFixed(1)}%`);

function Bar(p: { label: string; value: number; max: number; text: string; target?: number; testid?: string }) {
  const w = p.max > 0 ? Math.max(0, Math.min(1, p.value / p.max)) * 100 : 0;
  return (
    <div class="bar" data-testid={p.testid}>
      <span class="bar-label">{p.label}</span>
      <span class="bar-track" role="img" aria-label={`${p.label} ${p.text}`}>
        <span class="bar-fill" style={{ width: `${w}%` }} />
        {p.target !== undefined && <span class="bar-target" style={{ left: `${p.target * 100}%` }} />}
      </span>
      <span class="bar-text">{p.text}</span>
    </div>
  );
}

const CLOCKS: [Word, (r: ServiceReport) => ClockFigure | undefined][] = [
  ["acceptBy", (r) => r.accept],
  ["arriveBy", (r) => r.arrive],
  ["resolveBy", (r) => r.resolve],
  ["revisitBy", (r) => r.revisit],
  ["feedbackBy", (r) => r.feedback],
  ["superviseBy", (r) => r.supervision],
];

export function Reports({ api, lang, policy }: { api: Api; lang: Lang; policy?: Policy }) {
  const [unit, setUnit] = useState("");
  const [kind, setKind] = useState<PeriodKind>(PeriodKind.MONTH);
  const [anchor, setAnchor] = useState(today(policy?.timeZone));
  const [anchorEdited, setAnchorEdited] = useState(false);
  useEffect(() => {
    if (policy && !anchorEdited) setAnchor(today(policy.timeZone));
  }, [policy]);
  const [report, setReport] = useState<ServiceReport>();
  const [sheet, setSheet] = useState<AssessmentSheet>();
  const [csv, setCsv] = useState<{ url: string; name: string }>();
  const [error, setError] = useState("");

  const period = (k: PeriodKind) => ({
    period: { case: "calendar" as const, value: { kind: k, anchorDate: anchor } },
  });

  const show = async () => {
    setError("");
    try {
      const [r, s] = await Promise.all([
        api.reports.getServiceReport({ unit, period: period(kind) }),
        // The sheet is monthly (R-ASM-4): the month of the anchor date.
        api.assessments.getAssessmentSheet({ unit, period: period(PeriodKind.MONTH) }),
      ]);
      setReport(r);
      setSheet(s);
      const parts: Uint8Array[] = [];
      for await (const chunk of api.assessments.exportAssessmentSheet({ unit, period: period(PeriodKind.MONTH) })) {
        parts.push(chunk.data);
      }
      if (csv) URL.revokeObjectURL(csv.url);
      const blob = new Blob(parts as BlobPart[], { type: "text/csv;charset=utf-8" });
      setCsv({ url: URL.createObjectURL(blob), name: `assessment-${unit || "all"}-${anchor.slice(0, 7)}.csv` });
    } catch (e) {
      setError(refusal(e).message);
    }
  };

  const maxCategory = Math.max(1, ...(report?.byCategory ?? []).map((c) => Number(c.count)));
  const temp = report?.temperature;
  return (
    <section class="reports" aria-labelledby="reports-title">
      <h2 id="reports-title">{t(lang, "reports")}</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          show();
        }}
      >
        <label>
          {t(lang, "unit")}
          <input value={unit} placeholder={t(lang, "any")} onInput={(e) => setUnit(e.currentTarget.value)} />
        </label>
        <label>
          {t(lang, "period")}
          <select value={kind} onChange={(e) => setKind(Number(e.currentTarget.value) as PeriodKind)}>
            <option value={PeriodKind.WEEK}>{t(lang, "week")}</option>
            <option value={PeriodKind.MONTH}>{t(lang, "month")}</option>
            <option value={PeriodKind.SEASON}>{t(lang, "season")}</option>
          </select>
        </label>
        <label>
          {t(lang, "anchorDate")}
          <input
            type="date"
            value={anchor}
            onInput={(e) => {
              setAnchorEdited(true);
              setAnchor(e.currentTarget.value);
            }}
          />
        </label>
        <button type="submit">{t(lang, "show")}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {report && (
        <div class="panels">
          <section aria-labelledby="totals-title">
            <h3 id="totals-title">{t(lang, "totals")}</h3>
            <dl>
              <dt>{t(lang, "ticketsReceived")}</dt>
              <dd data-testid="tickets">{String(report.tickets)}</dd>
              <dt>{t(lang, "cancelledCount")}</dt>
              <dd>{String(report.cancelled)}</dd>
              <dt>{t(lang, "resolvedCount")}</dt>
              <dd>{String(report.resolved)}</dd>
              <dt>{t(lang, "revisitRate")}</dt>
              <dd>{pct(report.revisitRate)}</dd>
              <dt>{t(lang, "satisfactionRate")}</dt>
              <dd>{pct(report.satisfactionRate)}</dd>
            </dl>
          </section>
          <section aria-labelledby="clocks-title">
            <h3 id="clocks-title">{t(lang, "onTime")}</h3>
            {CLOCKS.map(([w, f]) => {
              const c = f(report);
              const n = Number((c?.onTime ?? 0n) + (c?.late ?? 0n));
              return (
                <Bar
                  label={t(lang, w)}
                  value={c?.onTimeRate ?? 0}
                  max={1}
                  text={`${pct(c?.onTimeRate)} (${String(c?.onTime ?? 0n)}/${n})`}
                />
              );
            })}
          </section>
          <section aria-labelledby="categories-title">
            <h3 id="categories-title">{t(lang, "byCategory")}</h3>
            {report.byCategory.map((c) => (
              <Bar
                testid={`category-${c.key}`}
                label={categoryLabel(lang, policy, c.key)}
                value={Number(c.count)}
                max={maxCategory}
                text={String(c.count)}
              />
            ))}
          </section>
          {temp && (
            <section aria-labelledby="temperature-title">
              <h3 id="temperature-title">{t(lang, "temperature")}</h3>
              <Bar
                testid="compliance"
                label={t(lang, "complianceRate")}
                value={temp.complianceRate ?? 0}
                max={1}
                target={temp.target}
                text={`${pct(temp.complianceRate)} / ${t(lang, "target")} ${pct(temp.target)}`}
              />
              <p>
                {t(lang, "visits")} {String(temp.visits)} · {t(lang, "coldHouseholds")} {String(temp.coldHouseholds)}
              </p>
            </section>
          )}
        </div>
      )}
      {sheet && (
        <section aria-labelledby="sheet-title">
          <h3 id="sheet-title">
            {t(lang, "sheet")}{" "}
            {csv && (
              <a href={csv.url} download={csv.name} data-testid="csv">
                {t(lang, "downloadCsv")}
              </a>
            )}
          </h3>
          <table class="trail">
            <thead>
              <tr>
                <th scope="col">{t(lang, "unit")}</th>
                <th scope="col">{t(lang, "person")}</th>
                <th scope="col">{t(lang, "items")}</th>
                <th scope="col">{t(lang, "points")}</th>
                <th scope="col">{t(lang, "deducted")}</th>
                <th scope="col">{t(lang, "rewardYuan")}</th>
                <th scope="col">{t(lang, "net")}</th>
              </tr>
            </thead>
            <tbody>
              {[...sheet.units, ...sheet.persons].map((l) => (
                <tr>
                  <td>{l.unit}</td>
                  <td>{l.person}</td>
                  <td>{String(l.items)}</td>
                  <td>{String(l.points)}</td>
                  <td>{String(l.deductedYuan)}</td>
                  <td>{String(l.rewardYuan)}</td>
                  <td>{String(l.netYuan)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </section>
  );
}
