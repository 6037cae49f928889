// Intake: record a call (R-TKT-1's fields, the type, a platform's
// reference and deadline), see a supply interruption in force at the
// address (R-OUT-5), then dispatch the new ticket to a unit (and a crew
// member) or cancel it. A refusal shows the server's Chinese (or English)
// message beside the field it names.
import { useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  SourceChannel,
  TicketState,
  TicketType,
  refusal,
  type Api,
  type Lang,
  type Outage,
  type Policy,
  type Ticket,
} from "./api.js";
import { categoryLabel, codeLabel, t, type Word } from "./i18n.js";

type Errors = Record<string, string>;

const EMPTY = {
  category: "",
  type: "",
  source: "HOTLINE",
  caller_name: "",
  caller_phone: "",
  caller_organisation: "",
  address: "",
  district: "",
  content: "",
  received_at: "",
  "referral.reference": "",
  "referral.deadline": "",
  time_limit_told: false,
};
type Form = typeof EMPTY;

/** A refusal's messages by the field they name (proto field paths), and
 * the whole message under "" when it names none. */
function errorsOf(e: unknown): Errors {
  const r = refusal(e);
  const out: Errors = {};
  for (const f of r.fields) out[f.field] = f.message;
  if (r.fields.length === 0) out[""] = r.message;
  return out;
}

function Field(p: {
  name: string;
  word: Word;
  lang: Lang;
  errors: Errors;
  children: (id: string, describedBy: string | undefined) => preact.ComponentChildren;
}) {
  const id = `f-${p.name.replace(".", "-")}`;
  const err = p.errors[p.name];
  return (
    <div class={err ? "field invalid" : "field"}>
      <label for={id}>{t(p.lang, p.word)}</label>
      {p.children(id, err ? `${id}-error` : undefined)}
      {err && (
        <span id={`${id}-error`} class="field-error" role="alert" data-field={p.name}>
          {err}
        </span>
      )}
    </div>
  );
}

const when = (local: string) => (local ? timestampFromDate(new Date(local)) : undefined);

export function Intake({ api, lang, policy }: { api: Api; lang: Lang; policy?: Policy }) {
  const [form, setForm] = useState<Form>(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const [ticket, setTicket] = useState<Ticket>();
  const [outages, setOutages] = useState<Outage[]>([]);
  const [unit, setUnit] = useState("");
  const [assignee, setAssignee] = useState("");
  const [why, setWhy] = useState("");
  const [busy, setBusy] = useState(false);

  const set = (k: keyof Form) => (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [k]: el.type === "checkbox" ? el.checked : el.value });
  };
  const platform = policy?.platformSources.includes(form.source) ?? false;

  // R-OUT-5: an interruption in force here explains a "no water / no heat" call.
  const lookUpOutages = async () => {
    if (!form.address.trim()) return setOutages([]);
    try {
      const r = await api.outages.listOutages({ address: form.address.trim(), pageSize: 5 });
      setOutages(r.outages);
    } catch {
      setOutages([]);
    }
  };

  const run = async (call: () => Promise<Ticket>) => {
    setBusy(true);
    setErrors({});
    try {
      setTicket(await call());
    } catch (e) {
      setErrors(errorsOf(e));
    } finally {
      setBusy(false);
    }
  };

  const create = () =>
    run(() =>
      api.tickets.createTicket({
        requestId: crypto.randomUUID(),
        category: form.category,
        type: form.type ? TicketType[form.type as keyof typeof TicketType] : TicketType.UNSPECIFIED,
        source: SourceChannel[form.source as keyof typeof SourceChannel] ?? SourceChannel.UNSPECIFIED,
        callerName: form.caller_name,
        callerPhone: form.caller_phone,
        callerOrganisation: form.caller_organisation,
        address: form.address,
        district: form.district,
        content: form.content,
        receivedAt: when(form.received_at),
        referral: platform
          ? { reference: form["referral.reference"], deadline: when(form["referral.deadline"]) }
          : undefined,
        timeLimitTold: form.time_limit_told,
      }),
    );

  if (ticket) {
    const waiting = ticket.state === TicketState.NEW || ticket.state === TicketState.RETURNED;
    const finished = ticket.state === TicketState.CLOSED || ticket.state === TicketState.CANCELLED;
    return (
      <section class="intake" aria-labelledby="intake-title">
        <h2 id="intake-title">{t(lang, "created")}</h2>
        <p class="ticket-ref" data-ticket={ticket.id}>
          {categoryLabel(lang, policy, ticket.category)} · {ticket.address} ·{" "}
          <span data-testid="ticket-state">{codeLabel(lang, policy?.states, TicketState[ticket.state])}</span>
          {ticket.unit && ` · ${t(lang, "dispatched")} ${ticket.unit}`}
        </p>
        {errors[""] && <p class="error" role="alert">{errors[""]}</p>}
        {waiting && (
          <form
            class="row"
            aria-label={t(lang, "dispatch")}
            onSubmit={(e) => {
              e.preventDefault();
              run(() =>
                api.tickets.dispatchTicket({
                  requestId: crypto.randomUUID(),
                  ticketId: ticket.id,
                  unit,
                  assignee,
                  expectedVersion: ticket.version,
                }),
              );
            }}
          >
            <Field name="unit" word="unit" lang={lang} errors={errors}>
              {(id, d) => (
                <input id={id} name="unit" value={unit} aria-describedby={d} onInput={(e) => setUnit(e.currentTarget.value)} />
              )}
            </Field>
            <Field name="assignee" word="assignee" lang={lang} errors={errors}>
              {(id, d) => (
                <input id={id} name="assignee" value={assignee} aria-describedby={d} onInput={(e) => setAssignee(e.currentTarget.value)} />
              )}
            </Field>
            <button type="submit" disabled={busy}>{t(lang, "dispatch")}</button>
          </form>
        )}
        {!finished && (
          <form
            class="row"
            aria-label={t(lang, "cancel")}
            onSubmit={(e) => {
              e.preventDefault();
              run(() =>
                api.tickets.cancelTicket({
                  requestId: crypto.randomUUID(),
                  ticketId: ticket.id,
                  reason: why,
                  expectedVersion: ticket.version,
                }),
              );
            }}
          >
            <Field name="reason" word="cancelReason" lang={lang} errors={errors}>
              {(id, d) => (
                <input id={id} name="reason" value={why} aria-describedby={d} onInput={(e) => setWhy(e.currentTarget.value)} />
              )}
            </Field>
            <button type="submit" class="secondary" disabled={busy}>{t(lang, "cancel")}</button>
          </form>
        )}
        <button
          type="button"
          class="secondary"
          onClick={() => {
            setTicket(undefined);
            setForm(EMPTY);
            setErrors({});
            setOutages([]);
          }}
        >
          {t(lang, "another")}
        </button>
      </section>
    );
  }

  const text = (name: keyof Form, word: Word, type = "text") => (
    <Field name={name} word={word} lang={lang} errors={errors}>
      {(id, d) => (
        <input
          id={id}
          name={name}
          type={type}
          value={form[name] as string}
          aria-invalid={errors[name] ? "true" : undefined}
          aria-describedby={d}
          onInput={set(name)}
          onBlur={name === "address" ? lookUpOutages : undefined}
        />
      )}
    </Field>
  );
  const choice = (name: keyof Form, word: Word, options: [string, string][]) => (
    <Field name={name} word={word} lang={lang} errors={errors}>
      {(id, d) => (
        <select id={id} name={name} value={form[name] as string} aria-describedby={d} onChange={set(name)}>
          <option value="">{t(lang, "choose")}</option>
          {options.map(([code, name]) => (
            <option value={code}>{name}</option>
          ))}
        </select>
      )}
    </Field>
  );

  return (
    <section class="intake" aria-labelledby="intake-title">
      <h2 id="intake-title">{t(lang, "newTicket")}</h2>
      {errors[""] && <p class="error" role="alert">{errors[""]}</p>}
      <form
        class="grid"
        onSubmit={(e) => {
          e.preventDefault();
          create();
        }}
      >
        {choice("category", "category", (policy?.categories ?? []).map((c) => [c.code, categoryLabel(lang, policy, c.code)]))}
        {choice("type", "type", (policy?.ticketTypes ?? []).map((c) => [c.code, codeLabel(lang, policy?.ticketTypes, c.code)]))}
        {choice("source", "source", (policy?.sources ?? []).map((c) => [c.code, codeLabel(lang, policy?.sources, c.code)]))}
        {text("caller_name", "callerName")}
        {text("caller_phone", "callerPhone", "tel")}
        {text("caller_organisation", "callerOrganisation")}
        {text("address", "address")}
        {text("district", "district")}
        {outages.length > 0 && (
          <p class="warning wide" role="status" data-testid="outage-here">
            {t(lang, "outageHere")}{" "}
            {outages.map((o) => `${o.cause || o.id} (${o.unit})`).join("；")}
          </p>
        )}
        <Field name="content" word="content" lang={lang} errors={errors}>
          {(id, d) => (
            <textarea id={id} name="content" rows={3} value={form.content} aria-describedby={d} onInput={set("content")} />
          )}
        </Field>
        {text("received_at", "receivedAt", "datetime-local")}
        {platform && text("referral.reference", "reference")}
        {platform && text("referral.deadline", "referralDeadline", "datetime-local")}
        <label class="check">
          <input type="checkbox" name="time_limit_told" checked={form.time_limit_told} onChange={set("time_limit_told")} />
          {t(lang, "timeLimitTold")}
        </label>
        <div class="wide">
          <button type="submit" disabled={busy}>{t(lang, "create")}</button>
        </div>
      </form>
    </section>
  );
}
