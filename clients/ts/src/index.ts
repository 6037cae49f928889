// fieldops TypeScript client for Node: everything of ./core.js (generated
// messages and services, interceptors, errorDetails) plus typed clients of
// every service over grpc-web.
//
// This entry uses createGrpcWebTransport from @connectrpc/connect-node. A web
// page uses the very same generated code with @connectrpc/connect-web's
// createGrpcWebTransport instead (same options minus `httpVersion`), with
// `interceptors: fieldopsInterceptors(token, language)` from ./core.js (which
// imports nothing Node-only).

import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";

import { fieldopsInterceptors } from "./core.js";
import { AssessmentService } from "./gen/fieldops/v1/assessment_service_pb.js";
import { InspectionService } from "./gen/fieldops/v1/inspection_service_pb.js";
import { OutageService } from "./gen/fieldops/v1/outage_service_pb.js";
import { PolicyService } from "./gen/fieldops/v1/policy_service_pb.js";
import { ReadingService } from "./gen/fieldops/v1/reading_service_pb.js";
import { ReportService } from "./gen/fieldops/v1/report_service_pb.js";
import { SyncService } from "./gen/fieldops/v1/sync_service_pb.js";
import { TicketService } from "./gen/fieldops/v1/ticket_service_pb.js";

export * from "./core.js";

export interface FieldopsClient {
  tickets: Client<typeof TicketService>;
  sync: Client<typeof SyncService>;
  policy: Client<typeof PolicyService>;
  outages: Client<typeof OutageService>;
  inspections: Client<typeof InspectionService>;
  readings: Client<typeof ReadingService>;
  reports: Client<typeof ReportService>;
  assessments: Client<typeof AssessmentService>;
  transport: Transport;
}

export interface FieldopsClientOptions {
  /** Sent as `accept-language` (e.g. "en"). Unset: the server's default, zh-CN. */
  language?: string;
  /** Node only: "1.1" (default, as a browser behind a plain HTTP/1.1 proxy) or "2". */
  httpVersion?: "1.1" | "2";
  /** Extra interceptors, run after the auth / language ones. */
  interceptors?: Interceptor[];
}

/** Typed clients of every fieldops service over one grpc-web transport. */
export function createFieldopsClient(
  baseUrl: string,
  token: string | (() => string),
  options: FieldopsClientOptions = {},
): FieldopsClient {
  const transport = createGrpcWebTransport({
    baseUrl,
    httpVersion: options.httpVersion ?? "1.1",
    interceptors: [
      ...fieldopsInterceptors(token, options.language),
      ...(options.interceptors ?? []),
    ],
  });
  return {
    tickets: createClient(TicketService, transport),
    sync: createClient(SyncService, transport),
    policy: createClient(PolicyService, transport),
    outages: createClient(OutageService, transport),
    inspections: createClient(InspectionService, transport),
    readings: createClient(ReadingService, transport),
    reports: createClient(ReportService, transport),
    assessments: createClient(AssessmentService, transport),
    transport,
  };
}
