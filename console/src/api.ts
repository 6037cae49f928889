// The console's one way to the server: typed clients of the fieldops API
// over grpc-web, on the page's own origin (the server serves the console
// and the API on one port), with the signed-in token and the chosen
// language on every call. Generated code and error details come from the
// API client (clients/ts/src/core.ts).
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  AssessmentService,
  AttachmentService,
  OutageService,
  ReportService,
  PolicyService,
  SyncService,
  TicketService,
  errorDetails,
  fieldopsInterceptors,
} from "./client/core.js";

export * from "./client/core.js";

export type Lang = "zh" | "en";

export interface Api {
  tickets: Client<typeof TicketService>;
  sync: Client<typeof SyncService>;
  policy: Client<typeof PolicyService>;
  outages: Client<typeof OutageService>;
  reports: Client<typeof ReportService>;
  assessments: Client<typeof AssessmentService>;
  attachments: Client<typeof AttachmentService>;
}

export function connect(token: string, lang: Lang): Api {
  const transport = createGrpcWebTransport({
    baseUrl: window.location.origin,
    interceptors: fieldopsInterceptors(token, lang === "zh" ? "zh-CN" : "en"),
  });
  return {
    tickets: createClient(TicketService, transport),
    sync: createClient(SyncService, transport),
    policy: createClient(PolicyService, transport),
    outages: createClient(OutageService, transport),
    reports: createClient(ReportService, transport),
    assessments: createClient(AssessmentService, transport),
    attachments: createClient(AttachmentService, transport),
  };
}

/** A failed call as the page shows it: the server's localized message
 * (R-ERR: LocalizedMessage) and the fields it names. */
export interface Refusal {
  message: string;
  reason: string;
  fields: { field: string; message: string }[];
}

export function refusal(err: unknown): Refusal {
  const d = errorDetails(err);
  const message = d.localizedMessage?.message || d.message || String(err);
  return {
    message,
    reason: d.reason ?? "",
    fields: d.fieldViolations.map((v) => ({
      field: v.field,
      message: v.localizedMessage?.message || v.description,
    })),
  };
}
