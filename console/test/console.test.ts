// Browser tests of the console: Debian's Chromium driven by playwright-core
// against a real server on SQLite (a fresh data directory per run). The
// tickets the page shows are written through the API over grpc-web, as a
// handheld would. Screenshots go to target/console/ for the closing note.
//   bash console/test.sh [SERVER_BINARY]
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createHash } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { chromium, type Browser, type Page } from "playwright-core";
import {
  AssessmentService,
  AttachmentKind,
  AttachmentService,
  OutageKind,
  OutageService,
  PeriodKind,
  ReportService,
  SourceChannel,
  SubjectType,
  TicketService,
  fieldopsInterceptors,
  type Ticket,
} from "../src/client/core.js";

const bin = process.env.FIELDOPS_BIN ?? "";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = path.resolve(process.env.SCREENSHOTS ?? "../target/console");

let server: ChildProcess;
let dataDir: string;
let base = "";
let browser: Browser;

function token(sub: string, role: string, unit: string): string {
  return execFileSync(bin, ["token", "--data-dir", dataDir, "--role", role, "--unit", unit, "--sub", sub])
    .toString()
    .trim();
}

/** A client of `service` for a token of (sub, role, unit), over grpc-web. */
function client<S extends DescService>(service: S, sub: string, role: string, unit: string): Client<S> {
  const transport = createGrpcWebTransport({
    baseUrl: base,
    interceptors: fieldopsInterceptors(token(sub, role, unit)),
  });
  return createClient(service, transport);
}

const api = (sub: string, role: string, unit: string) => client(TicketService, sub, role, unit);

/** A PNG's signature followed by `n` bytes: what the server's type check reads. */
function png(n: number): Uint8Array {
  const b = new Uint8Array(8 + n);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  for (let i = 8; i < b.length; i++) b[i] = (i * 31) % 251;
  return b;
}

/** Upload `data` to a ticket as a handheld does: client-streaming gRPC over
 * HTTP/2 (grpc-web cannot stream from the client), header then one chunk. */
async function upload(sub: string, role: string, unit: string, ticketId: string, kind: AttachmentKind, fileName: string, data: Uint8Array) {
  const transport = createGrpcTransport({ baseUrl: base, interceptors: fieldopsInterceptors(token(sub, role, unit)) });
  const attachments = createClient(AttachmentService, transport);
  async function* parts() {
    yield {
      part: {
        case: "header" as const,
        value: {
          attachmentId: crypto.randomUUID(),
          subjectType: SubjectType.TICKET,
          subjectId: ticketId,
          kind,
          mediaType: "image/png",
          sizeBytes: BigInt(data.length),
          sha256: createHash("sha256").update(data).digest("hex"),
          fileName,
        },
      },
    };
    yield { part: { case: "chunk" as const, value: { offset: 0n, data } } };
  }
  return attachments.uploadAttachment(parts());
}

let call = 0;
async function newTicket(receivedAt?: Date): Promise<Ticket> {
  call += 1;
  return api("d1", "dispatcher", "hq").createTicket({
    requestId: crypto.randomUUID(),
    category: "NETWORK_LEAK",
    source: SourceChannel.HOTLINE,
    callerName: "张三",
    callerPhone: "13812345678",
    address: `幸福路 ${call} 号`,
    content: "楼道漏水",
    receivedAt: receivedAt ? timestampFromDate(receivedAt) : undefined,
  });
}

async function dispatched(): Promise<Ticket> {
  const t = await newTicket();
  return api("d1", "dispatcher", "hq").dispatchTicket({
    requestId: crypto.randomUUID(),
    ticketId: t.id,
    unit: "north",
  });
}

async function signedIn(sub: string, role: string, unit: string): Promise<Page> {
  // The desk is in the utility's time zone (the heating policy's).
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, timezoneId: "Asia/Shanghai" });
  await page.goto(base);
  await page.getByLabel("访问令牌（JWT）").fill(token(sub, role, unit));
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByTestId("link").filter({ hasText: "实时" }).waitFor();
  return page;
}

/** The controls of the page without a label (buttons: their text). */
const unlabelled = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => {
        const labels = (el as HTMLInputElement).labels;
        const named = el.getAttribute("aria-label") || (el.textContent ?? "").trim();
        return !(labels && labels.length > 0) && !(el.tagName === "BUTTON" && named);
      })
      .map((el) => el.outerHTML),
  );

const card = (page: Page, state: string, id: string) =>
  page.locator(`section[data-state="${state}"] [data-ticket="${id}"]`);

before(async () => {
  assert.ok(bin, "FIELDOPS_BIN names the server binary");
  dataDir = mkdtempSync(path.join(tmpdir(), "fieldops-console-"));
  mkdirSync(shots, { recursive: true });
  server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", path.join(dataDir, "data")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /fieldops listening on ([0-9.]+:[0-9]+)/.exec(out);
      if (m) resolve(`http://${m[1]}`);
    });
    server.on("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
  dataDir = path.join(dataDir, "data");
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(path.dirname(dataDir), { recursive: true, force: true });
});

describe("the board", () => {
  test("signs in, in Chinese, and follows a claim live without reload", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    assert.equal(await page.locator("h2#board-title").innerText().then((s) => s.startsWith("工单看板")), true);
    const t = await dispatched();
    await card(page, "DISPATCHED", t.id).waitFor({ timeout: 5000 });
    await api("c1", "crew", "north").claimTicket({ requestId: crypto.randomUUID(), ticketId: t.id });
    // The claim arrives over Watch: the card moves to the claimed column.
    await card(page, "CLAIMED", t.id).waitFor({ timeout: 5000 });
    assert.equal(await card(page, "DISPATCHED", t.id).count(), 0);
    await page.screenshot({ path: path.join(shots, "board.png"), fullPage: true });
    await page.close();
  });

  test("a passed deadline turns its card red", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    // Received three hours ago and never dispatched: its 30-minute arrival deadline has passed.
    const late = await newTicket(new Date(Date.now() - 3 * 3600_000));
    const c = card(page, "NEW", late.id);
    await c.waitFor({ timeout: 5000 });
    assert.match((await c.getAttribute("class")) ?? "", /\bbreached\b/);
    assert.match(await c.getByTestId("deadline").innerText(), /已超时/);
    const fresh = await newTicket();
    const f = card(page, "NEW", fresh.id);
    await f.waitFor({ timeout: 5000 });
    assert.doesNotMatch((await f.getAttribute("class")) ?? "", /\bbreached\b/);
    await page.screenshot({ path: path.join(shots, "breached.png"), fullPage: true });
    await page.close();
  });

  test("a caller is masked for a crew member not holding the ticket (R-TKT-13)", async () => {
    const t = await dispatched();
    await api("c1", "crew", "north").claimTicket({ requestId: crypto.randomUUID(), ticketId: t.id });
    const other = await signedIn("c2", "crew", "north");
    const seen = card(other, "CLAIMED", t.id);
    await seen.waitFor({ timeout: 5000 });
    const text = await seen.innerText();
    assert.match(text, /138\*\*\*\*5678/);
    assert.doesNotMatch(text, /13812345678/);
    const holder = await signedIn("c1", "crew", "north");
    const held = card(holder, "CLAIMED", t.id);
    await held.waitFor({ timeout: 5000 });
    assert.match(await held.innerText(), /13812345678/);
    await other.screenshot({ path: path.join(shots, "masked.png"), fullPage: true });
    await other.close();
    await holder.close();
  });

  test("every control of the board has a label, and the cards are reached by keyboard", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    const t = await dispatched();
    await card(page, "DISPATCHED", t.id).waitFor({ timeout: 5000 });
    assert.deepEqual(await unlabelled(page), []);
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement?.classList.contains("card") ?? false);
    }
    assert.ok(reached, "Tab reaches a ticket card");
    await page.close();
  });

  test("switches to English", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    await page.getByLabel("语言").selectOption("en");
    await page.locator("h2#board-title").filter({ hasText: "Ticket board" }).waitFor();
    await page.close();
  });

  test("records and dispatches a call through the page; a refusal shows in Chinese beside its field", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    await page.getByRole("link", { name: "受理" }).click();
    await page.getByLabel("类别").selectOption("NETWORK_LEAK");
    await page.getByLabel("来电人姓名").fill("李四");
    const address = `和平街 ${crypto.randomUUID().slice(0, 8)} 号`;
    await page.getByLabel("地址").fill(address);
    await page.getByLabel("诉求内容").fill("井盖冒水");
    // No phone: refused, the server's Chinese message beside the phone field.
    await page.getByRole("button", { name: "创建工单" }).click();
    const err = page.locator('[data-field="caller_phone"]');
    await err.waitFor({ timeout: 5000 });
    assert.match(await err.innerText(), /[\u4e00-\u9fff]/, "a Chinese message");
    assert.equal(await page.getByLabel("来电号码").getAttribute("aria-describedby"), await err.getAttribute("id"));
    const none = await api("d1", "dispatcher", "hq").listTickets({ address });
    assert.equal(none.tickets.length, 0, "the refused call changed nothing");
    await page.screenshot({ path: path.join(shots, "intake-error.png"), fullPage: true });
    assert.deepEqual(await unlabelled(page), [], "intake: every control has a label");

    await page.getByLabel("来电号码").fill("13900001111");
    await page.getByRole("button", { name: "创建工单" }).click();
    await page.getByRole("heading", { name: "已创建工单" }).waitFor({ timeout: 5000 });
    const id = await page.locator(".ticket-ref").getAttribute("data-ticket");
    assert.ok(id);
    await page.getByLabel("单位").fill("north");
    await page.getByRole("button", { name: "派单" }).click();
    await page.getByTestId("ticket-state").filter({ hasText: "已派单" }).waitFor({ timeout: 5000 });
    const stored = await api("d1", "dispatcher", "hq").getTicket({ ticketId: id! });
    assert.equal(stored.unit, "north");
    assert.equal(stored.callerPhone, "13900001111");
    await page.getByRole("link", { name: "工单看板" }).click();
    await card(page, "DISPATCHED", id!).waitFor({ timeout: 5000 });
    await page.close();
  });

  test("the ticket page: a dispatcher decides an extension; its trail names who did what", async () => {
    const t = await dispatched();
    const crew = api("c1", "crew", "north");
    const claimed = await crew.claimTicket({ requestId: crypto.randomUUID(), ticketId: t.id });
    await crew.requestExtension({
      requestId: crypto.randomUUID(),
      ticketId: t.id,
      reason: "需要更换阀门",
      extendBy: { seconds: 7200n, nanos: 0 },
      expectedVersion: claimed.version,
    });
    const page = await signedIn("d1", "dispatcher", "hq");
    // From the board, by keyboard: focus the card, Enter opens its page.
    const c = card(page, "CLAIMED", t.id);
    await c.waitFor({ timeout: 5000 });
    await c.focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("extension-state").filter({ hasText: "待审批" }).waitFor({ timeout: 5000 });
    assert.deepEqual(await unlabelled(page), [], "ticket page: every control has a label");
    await page.getByLabel("审批意见").fill("同意");
    await page.getByRole("button", { name: "批准" }).click();
    await page.getByTestId("extension-state").filter({ hasText: "已批准" }).waitFor({ timeout: 5000 });
    const stored = await api("d1", "dispatcher", "hq").getTicket({ ticketId: t.id });
    assert.equal(stored.extension?.decidedBy, "d1");
    // The trail: every event, with actor and role.
    const rows = page.locator("table.trail tbody tr");
    await rows.filter({ hasText: "EXTENSION" }).first().waitFor({ timeout: 5000 });
    const kinds = await page.locator("table.trail tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-kind")));
    assert.deepEqual(kinds.slice(0, 3), ["CREATED", "DISPATCHED", "CLAIMED"]);
    assert.match(await rows.filter({ hasText: "CLAIMED" }).innerText(), /c1\s+crew/);
    await page.screenshot({ path: path.join(shots, "ticket.png"), fullPage: true });
    await page.close();
  });

  test("the ticket page: evidence fetched, every supervision notice, a sealed trail; a signature refused to a masked role (R-REC-1, R-TKT-10, R-REC-2, R-TKT-13)", async () => {
    const t = await dispatched();
    await api("c1", "crew", "north").claimTicket({ requestId: crypto.randomUUID(), ticketId: t.id });
    const [photo, signature] = [png(100_000), png(600)];
    await upload("c1", "crew", "north", t.id, AttachmentKind.PHOTO, "riser.png", photo);
    await upload("c1", "crew", "north", t.id, AttachmentKind.SIGNATURE, "signature.png", signature);
    const boss = api("s1", "supervisor", "hq");
    for (const notice of ["请今日修复", "仍未修复，限两小时"]) {
      await boss.supervise({ requestId: crypto.randomUUID(), ticketId: t.id, notice, resolveWithin: { seconds: 7200n, nanos: 0 } });
    }

    const page = await signedIn("d1", "dispatcher", "hq");
    await page.evaluate((id) => (window.location.hash = `#ticket/${id}`), t.id);
    const files = page.locator("table.evidence tbody tr");
    await files.nth(1).waitFor({ timeout: 5000 });
    assert.equal(await files.count(), 2);
    assert.match(await files.first().innerText(), /riser\.png[\s\S]*照片[\s\S]*c1 \(crew\)/);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "下载 riser.png" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "riser.png");
    assert.deepEqual(new Uint8Array(readFileSync(await download.path())), photo, "the fetched bytes are the uploaded ones");
    // Both notices, oldest first, each with its text and issuer.
    const notices = page.locator("table.notices tbody tr");
    assert.deepEqual(
      await notices.evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-trigger"), tr.children[2].textContent, tr.children[3].textContent])),
      [
        ["MANUAL", "请今日修复", "s1"],
        ["MANUAL", "仍未修复，限两小时", "s1"],
      ],
    );
    // The server checked every entry against the ticket's chain.
    await page.getByTestId("chain").waitFor();
    assert.equal(await page.getByTestId("chain").getAttribute("data-intact"), "true");
    const seals = await page.locator("table.trail td[data-seal]").evaluateAll((tds) => tds.map((td) => td.getAttribute("data-seal")));
    assert.ok(seals.length >= 5, `${seals}`);
    assert.ok(seals.every((s) => s === "INTACT"), `${seals}`);
    assert.deepEqual(await unlabelled(page), [], "ticket page with evidence: every control has a label");
    await page.screenshot({ path: path.join(shots, "ticket-evidence.png"), fullPage: true });
    await page.close();

    // An inspector sees the caller masked: the resident's signature is refused, in Chinese, beside it.
    const inspector = await signedIn("i1", "inspector", "meters");
    await inspector.evaluate((id) => (window.location.hash = `#ticket/${id}`), t.id);
    await inspector.getByRole("button", { name: "下载 signature.png" }).click();
    const refused = inspector.locator('tr:has-text("signature.png") [data-testid="download-refused"]');
    await refused.waitFor({ timeout: 5000 });
    assert.match(await refused.innerText(), /[\u4e00-\u9fff]/);
    await inspector.close();
  });

  test("an inspector's token sees the caller masked on the ticket page (R-TKT-13)", async () => {
    const t = await dispatched();
    const page = await signedIn("i1", "inspector", "meters");
    await page.evaluate((id) => (window.location.hash = `#ticket/${id}`), t.id);
    const caller = page.getByTestId("caller");
    await caller.waitFor({ timeout: 5000 });
    const text = await caller.innerText();
    assert.match(text, /138\*\*\*\*5678/);
    assert.doesNotMatch(text, /13812345678/);
    await page.close();
  });

  test("outages: a supervisor approves planned works; their due notices are listed", async () => {
    const outages = client(OutageService, "d1", "dispatcher", "hq");
    const start = new Date(Date.now() + 3 * 24 * 3600_000);
    const plan = await outages.planOutage({
      requestId: crypto.randomUUID(),
      kind: OutageKind.PLANNED_WORKS,
      unit: "north",
      cause: "更换主阀",
      area: { description: "中山路以北", addresses: ["中山路 9 号"] },
      households: 300n,
      plannedStartTime: timestampFromDate(start),
      plannedEndTime: timestampFromDate(new Date(start.getTime() + 4 * 3600_000)),
    });
    const page = await signedIn("s1", "supervisor", "hq");
    await page.getByRole("link", { name: "停水/停热" }).click();
    const art = page.locator(`article[data-outage="${plan.id}"]`);
    await art.getByTestId("outage-state").filter({ hasText: "待审批" }).waitFor({ timeout: 5000 });
    assert.ok(await art.locator("tr[data-clock]").count() > 0, "its clocks are listed");
    assert.deepEqual(await unlabelled(page), [], "outages: every control has a label");
    await art.getByRole("button", { name: "批准计划" }).click();
    await art.getByTestId("outage-state").filter({ hasText: "已批准" }).waitFor({ timeout: 5000 });
    const stored = await outages.getOutage({ outageId: plan.id });
    assert.equal(stored.approvedBy, "s1");
    await page.screenshot({ path: path.join(shots, "outages.png"), fullPage: true });
    await page.close();
  });

  test("reports: the month's service report drawn, and the assessment sheet's CSV as exported", async () => {
    const page = await signedIn("s1", "supervisor", "hq");
    await page.getByRole("link", { name: "报表" }).click();
    await page.getByRole("button", { name: "查询" }).click();
    await page.getByTestId("tickets").waitFor({ timeout: 5000 });
    const anchorDate = await page.getByLabel("所在日期").inputValue();
    const month = { period: { case: "calendar" as const, value: { kind: PeriodKind.MONTH, anchorDate } } };
    const r = await client(ReportService, "s1", "supervisor", "hq").getServiceReport({ period: month });
    assert.equal(await page.getByTestId("tickets").innerText(), String(r.tickets));
    assert.ok(r.tickets > 0n);
    assert.ok(await page.getByTestId("category-NETWORK_LEAK").isVisible());
    await page.getByTestId("compliance").waitFor();
    assert.deepEqual(await unlabelled(page), [], "reports: every control has a label");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("csv").click()]);
    const got = readFileSync((await download.path())!);
    const parts: Uint8Array[] = [];
    for await (const c of client(AssessmentService, "s1", "supervisor", "hq").exportAssessmentSheet({ period: month })) {
      parts.push(c.data);
    }
    assert.deepEqual(got, Buffer.concat(parts));
    assert.deepEqual([...got.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    await page.screenshot({ path: path.join(shots, "reports.png"), fullPage: true });
    await page.close();
  });

  test("the ticket page records a contact with the caller; the trail shows it", async () => {
    const t = await dispatched();
    const page = await signedIn("d1", "dispatcher", "hq");
    await page.evaluate((id) => (window.location.hash = `#ticket/${id}`), t.id);
    await page.getByLabel("联系内容").fill("已告知预计明日修复");
    await page.getByRole("button", { name: "记录" }).click();
    await page.locator('table.trail tbody tr[data-kind="CONTACT_RECORDED"]').waitFor({ timeout: 5000 });
    const stored = await api("d1", "dispatcher", "hq").listTicketEvents({ ticketId: t.id });
    assert.ok(stored.events.some((e) => e.kind === "CONTACT_RECORDED" && e.actorSub === "d1"));
    await page.close();
  });

  test("the board with everything the tests recorded (the README's picture)", async () => {
    const page = await signedIn("d1", "dispatcher", "hq");
    await page.locator("li.card").first().waitFor({ timeout: 5000 });
    await page.screenshot({ path: path.join(shots, "board-overview.png"), fullPage: true });
    await page.close();
  });
});
