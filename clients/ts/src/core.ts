// The part of the fieldops client that runs anywhere (Node or a browser
// bundle): the generated messages and services of proto/fieldops/v1
// (src/gen, produced by `npm run generate`), the interceptors adding our
// headers, and a reader of the google.rpc error details the server attaches
// to every error. No Node-only import here; src/index.ts adds the Node
// transport.

import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export * from "./gen/fieldops/v1/assessment_service_pb.js";
export * from "./gen/fieldops/v1/attachment_service_pb.js";
export * from "./gen/fieldops/v1/common_pb.js";
export * from "./gen/fieldops/v1/field_limits_pb.js";
export * from "./gen/fieldops/v1/inspection_service_pb.js";
export * from "./gen/fieldops/v1/outage_service_pb.js";
export * from "./gen/fieldops/v1/policy_service_pb.js";
export * from "./gen/fieldops/v1/reading_service_pb.js";
export * from "./gen/fieldops/v1/report_service_pb.js";
export * from "./gen/fieldops/v1/sync_service_pb.js";
export * from "./gen/fieldops/v1/ticket_service_pb.js";
export { Code, ConnectError };

/** Interceptors adding `authorization: Bearer <token>` and `accept-language`. */
export function fieldopsInterceptors(
  token: string | (() => string),
  language?: string,
): Interceptor[] {
  return [
    (next) => async (req) => {
      const t = typeof token === "function" ? token() : token;
      if (t) req.header.set("authorization", `Bearer ${t}`);
      if (language) req.header.set("accept-language", language);
      return next(req);
    },
  ];
}

// ---------------------------------------------------------------------------
// Error details. The server sends a google.rpc.Status in
// `grpc-status-details-bin`; connect turns its `details` into
// ConnectError.details ({type, value}). We decode the four google.rpc message
// kinds the server uses by hand, from their wire format (field numbers from
// google/rpc/error_details.proto), so that no googleapis proto needs to be
// vendored or fetched from a registry.

export interface FieldViolation {
  field: string;
  description: string;
  reason: string;
  localizedMessage?: LocalizedMessage;
}

export interface LocalizedMessage {
  locale: string;
  message: string;
}

export interface PreconditionViolation {
  type: string;
  subject: string;
  description: string;
}

export interface FieldopsErrorDetails {
  code: Code;
  /** e.g. "InvalidArgument". */
  codeName: string;
  /** The grpc-message, without connect's "[code]" prefix. */
  message: string;
  /** google.rpc.ErrorInfo */
  reason?: string;
  domain?: string;
  metadata: Record<string, string>;
  /** google.rpc.BadRequest */
  fieldViolations: FieldViolation[];
  /** google.rpc.LocalizedMessage */
  localizedMessage?: LocalizedMessage;
  /** google.rpc.PreconditionFailure */
  preconditionViolations: PreconditionViolation[];
  /** Type names of details that are not decoded here. */
  otherDetails: string[];
}

/** Reads the google.rpc details of an error (any thrown value is accepted). */
export function errorDetails(err: unknown): FieldopsErrorDetails {
  const ce = ConnectError.from(err);
  const out: FieldopsErrorDetails = {
    code: ce.code,
    codeName: Code[ce.code] ?? String(ce.code),
    message: ce.rawMessage,
    metadata: {},
    fieldViolations: [],
    preconditionViolations: [],
    otherDetails: [],
  };
  for (const d of ce.details) {
    // Incoming details are {type, value}; outgoing ones (built locally) have a desc.
    if ("desc" in d) continue;
    const type = d.type.slice(d.type.lastIndexOf("/") + 1);
    switch (type) {
      case "google.rpc.ErrorInfo": {
        const info = decodeErrorInfo(d.value);
        out.reason = info.reason;
        out.domain = info.domain;
        Object.assign(out.metadata, info.metadata);
        break;
      }
      case "google.rpc.BadRequest":
        out.fieldViolations.push(...decodeBadRequest(d.value));
        break;
      case "google.rpc.LocalizedMessage":
        out.localizedMessage = decodeLocalizedMessage(d.value);
        break;
      case "google.rpc.PreconditionFailure":
        out.preconditionViolations.push(...decodePreconditionFailure(d.value));
        break;
      default:
        out.otherDetails.push(type);
    }
  }
  return out;
}

/** Calls `field` for every field of a message; skips the ones it leaves unread. */
function readFields(
  bytes: Uint8Array,
  field: (no: number, r: BinaryReader) => boolean,
): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (wt !== WireType.LengthDelimited || !field(no, r)) r.skip(wt, no);
  }
}

function decodeErrorInfo(bytes: Uint8Array) {
  const info = { reason: "", domain: "", metadata: {} as Record<string, string> };
  readFields(bytes, (no, r) => {
    if (no === 1) info.reason = r.string();
    else if (no === 2) info.domain = r.string();
    else if (no === 3) {
      let key = "";
      let value = "";
      readFields(r.bytes(), (eno, er) => {
        if (eno === 1) key = er.string();
        else if (eno === 2) value = er.string();
        else return false;
        return true;
      });
      info.metadata[key] = value;
    } else return false;
    return true;
  });
  return info;
}

function decodeLocalizedMessage(bytes: Uint8Array): LocalizedMessage {
  const m: LocalizedMessage = { locale: "", message: "" };
  readFields(bytes, (no, r) => {
    if (no === 1) m.locale = r.string();
    else if (no === 2) m.message = r.string();
    else return false;
    return true;
  });
  return m;
}

function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const list: FieldViolation[] = [];
  readFields(bytes, (no, r) => {
    if (no !== 1) return false;
    const v: FieldViolation = { field: "", description: "", reason: "" };
    readFields(r.bytes(), (vno, vr) => {
      if (vno === 1) v.field = vr.string();
      else if (vno === 2) v.description = vr.string();
      else if (vno === 3) v.reason = vr.string();
      else if (vno === 4) v.localizedMessage = decodeLocalizedMessage(vr.bytes());
      else return false;
      return true;
    });
    list.push(v);
    return true;
  });
  return list;
}

function decodePreconditionFailure(bytes: Uint8Array): PreconditionViolation[] {
  const list: PreconditionViolation[] = [];
  readFields(bytes, (no, r) => {
    if (no !== 1) return false;
    const v: PreconditionViolation = { type: "", subject: "", description: "" };
    readFields(r.bytes(), (vno, vr) => {
      if (vno === 1) v.type = vr.string();
      else if (vno === 2) v.subject = vr.string();
      else if (vno === 3) v.description = vr.string();
      else return false;
      return true;
    });
    list.push(v);
    return true;
  });
  return list;
}
