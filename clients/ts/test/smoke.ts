// Smoke test of the generated client against a running fieldops server, over
// grpc-web (HTTP/1.1). Env: FIELDOPS_URL (e.g. http://127.0.0.1:50051) and
// FIELDOPS_TOKEN (a dispatcher's JWT). Exits non-zero on the first failure.

import { randomUUID } from "node:crypto";

import {
  Code,
  createFieldopsClient,
  errorDetails,
  SourceChannel,
  type Ticket,
} from "../src/index.js";

const url = process.env.FIELDOPS_URL;
const token = process.env.FIELDOPS_TOKEN;
if (!url || !token) {
  console.error("smoke: set FIELDOPS_URL and FIELDOPS_TOKEN");
  process.exit(2);
}

const client = createFieldopsClient(url, token);

class CheckFailed extends Error {}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new CheckFailed(what);
}

function validCreate(category: string) {
  return {
    requestId: randomUUID(),
    category,
    source: SourceChannel.HOTLINE,
    callerName: "张三",
    callerPhone: "13812345678",
    address: `1 Heping Rd, Building 3, Unit 2, Flat ${100 + Math.floor(Math.random() * 900)}`,
    location: { latitude: 39.9042, longitude: 116.4074 },
    content: "radiators cold since yesterday",
  };
}

let category = "";
let created: Ticket | undefined;

const steps: [string, () => Promise<void>][] = [
  [
    "PolicyService.GetPolicy",
    async () => {
      const p = await client.policy.getPolicy({});
      check(p.profile !== "", "policy.profile is empty");
      check(p.timeZone !== "", "policy.timeZone is empty");
      check(p.categories.length > 0, "policy has no categories");
      for (const c of p.categories) {
        check(c.code !== "" && c.priority !== "", `category without code/priority: ${JSON.stringify(c.code)}`);
        check(c.label?.zhCn && c.label?.en, `category ${c.code} lacks a zh-CN or en label`);
      }
      check(p.states.length > 0, "policy has no ticket states");
      const heat = p.categories.find((c) => c.code === "BUILDING_NO_HEAT");
      category = (heat ?? p.categories[0]).code;
      console.log(
        `  profile=${p.profile} timeZone=${p.timeZone} categories=${p.categories.length} using category=${category}`,
      );
    },
  ],
  [
    "TicketService.CreateTicket with an empty address -> InvalidArgument",
    async () => {
      let err: unknown;
      try {
        await client.tickets.createTicket({ ...validCreate(category), address: "" });
      } catch (e) {
        err = e;
      }
      check(err !== undefined, "CreateTicket with an empty address succeeded");
      const d = errorDetails(err);
      console.log(
        `  code=${d.codeName} reason=${d.reason} violations=${JSON.stringify(d.fieldViolations.map((v) => v.field))} ` +
          `localized=${JSON.stringify(d.localizedMessage)}`,
      );
      check(d.code === Code.InvalidArgument, `code is ${d.codeName}, want InvalidArgument (${d.message})`);
      check(d.reason === "MISSING_FIELD", `ErrorInfo.reason is ${JSON.stringify(d.reason)}, want MISSING_FIELD`);
      check(
        d.fieldViolations.some((v) => v.field === "address"),
        `no BadRequest field violation on "address": ${JSON.stringify(d.fieldViolations)}`,
      );
      check(d.localizedMessage !== undefined, "no LocalizedMessage detail");
      check(d.localizedMessage.locale === "zh-CN", `LocalizedMessage.locale is ${JSON.stringify(d.localizedMessage.locale)}, want zh-CN`);
      check(/\p{Script=Han}/u.test(d.localizedMessage.message), `LocalizedMessage has no Chinese text: ${JSON.stringify(d.localizedMessage.message)}`);
    },
  ],
  [
    "TicketService.CreateTicket error in English (accept-language: en)",
    async () => {
      const en = createFieldopsClient(url, token, { language: "en" });
      let err: unknown;
      try {
        await en.tickets.createTicket({ ...validCreate(category), address: "" });
      } catch (e) {
        err = e;
      }
      check(err !== undefined, "CreateTicket with an empty address succeeded");
      const d = errorDetails(err);
      console.log(`  localized=${JSON.stringify(d.localizedMessage)}`);
      const lm = d.localizedMessage;
      check(lm !== undefined, "no LocalizedMessage detail");
      check(lm.locale.startsWith("en"), `LocalizedMessage.locale is ${JSON.stringify(lm.locale)}, want en`);
      check(!/\p{Script=Han}/u.test(lm.message), `English LocalizedMessage contains Chinese: ${JSON.stringify(lm.message)}`);
    },
  ],
  [
    "a call without a token -> Unauthenticated, with its details (five times on HTTP/1.1)",
    async () => {
      // The server reads a refused call's body before answering, so the
      // client never meets a closed connection while still sending it.
      const anonymous = createFieldopsClient(url, "");
      for (let i = 0; i < 5; i++) {
        let err: unknown;
        try {
          await anonymous.tickets.createTicket(validCreate(category));
        } catch (e) {
          err = e;
        }
        check(err !== undefined, "CreateTicket without a token succeeded");
        const d = errorDetails(err);
        check(d.code === Code.Unauthenticated, `code is ${d.codeName}, want Unauthenticated (${d.message})`);
        check(d.reason !== "", "no ErrorInfo.reason on the refusal");
      }
    },
  ],
  [
    "TicketService.CreateTicket + GetTicket",
    async () => {
      const req = validCreate(category);
      const t = await client.tickets.createTicket(req);
      check(t.id !== "", "created ticket has no id");
      check(t.category === category, `created ticket category ${t.category}, want ${category}`);
      check(t.version > 0n, `created ticket version ${t.version}`);
      const got = await client.tickets.getTicket({ ticketId: t.id });
      check(got.id === t.id, `GetTicket returned id ${got.id}, want ${t.id}`);
      check(got.address === req.address, `GetTicket address ${JSON.stringify(got.address)}, want ${JSON.stringify(req.address)}`);
      check(got.version === t.version, `GetTicket version ${got.version}, want ${t.version}`);
      check(got.createTime !== undefined, "GetTicket: no createTime");
      created = got;
      console.log(`  id=${t.id} version=${t.version} state=${t.state} priority=${t.priority}`);
    },
  ],
  [
    "SyncService.Watch (server streaming) until the first checkpoint",
    async () => {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 15_000);
      let changes = 0;
      let sawCreated = false;
      let checkpoint: { cursor: string } | undefined;
      try {
        for await (const res of client.sync.watch({ cursor: "" }, { signal: abort.signal })) {
          if (res.event.case === "change") {
            changes++;
            const e = res.event.value.entity;
            if (e.case === "ticket" && e.value.id === created?.id) sawCreated = true;
          } else if (res.event.case === "checkpoint") {
            checkpoint = res.event.value;
            break; // leaving the loop cancels the stream
          }
        }
      } catch (e) {
        if (abort.signal.aborted) throw new CheckFailed("no checkpoint within 15 s");
        throw e;
      } finally {
        clearTimeout(timer);
        abort.abort();
      }
      check(checkpoint !== undefined, "Watch ended without a checkpoint");
      check(checkpoint.cursor !== "", "checkpoint without a cursor");
      console.log(`  ${changes} change(s) before the checkpoint, cursor=${checkpoint.cursor}`);
      check(sawCreated, "the ticket created above was not among the changes before the first checkpoint");
    },
  ],
];

let passed = 0;
let failed = 0;
for (const [name, run] of steps) {
  try {
    await run();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    const msg = e instanceof CheckFailed ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.log(`not ok - ${name}: ${msg}`);
    break; // later steps depend on earlier ones
  }
}
const skipped = steps.length - passed - failed;
console.log(`smoke: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || skipped > 0 ? 1 : 0);
