// The evidence of one ticket (R-REC-1): photos, signatures and documents
// uploaded from handhelds (uploads are client-streaming, which grpc-web
// cannot carry, so the console lists and fetches only). Each file shows who
// uploaded it, when it was taken and its SHA-256, as the audit trail names
// it. A signature is the resident's personal data: the server refuses it to
// a role that sees the caller masked (R-TKT-13); the refusal is shown
// beside the file, in the caller's language.
import { useEffect, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AttachmentKind, SubjectType, refusal, type Api, type Attachment, type Lang } from "./api.js";
import { t, time, type Word } from "./i18n.js";

const kib = (n: bigint) => `${(Number(n) / 1024).toFixed(1)} KiB`;

/** `reload` changes whenever the ticket page reloads (a change arrived). */
export function Attachments(p: { api: Api; lang: Lang; ticketId: string; reload: number }) {
  const { api, lang, ticketId } = p;
  const [list, setList] = useState<Attachment[]>([]);
  const [error, setError] = useState("");
  const [refused, setRefused] = useState<Record<string, string>>({});

  useEffect(() => {
    let live = true;
    api.attachments
      .listAttachments({ subjectType: SubjectType.TICKET, subjectId: ticketId })
      .then((r) => live && (setList(r.attachments), setError("")))
      .catch((e) => live && setError(refusal(e).message));
    return () => {
      live = false;
    };
  }, [api, ticketId, p.reload]);

  const download = async (a: Attachment) => {
    try {
      const parts: Uint8Array<ArrayBuffer>[] = [];
      for await (const m of api.attachments.getAttachment({ attachmentId: a.id })) {
        if (m.part.case === "data") parts.push(new Uint8Array(m.part.value));
      }
      const url = URL.createObjectURL(new Blob(parts, { type: a.mediaType }));
      const link = document.createElement("a");
      link.href = url;
      link.download = a.fileName || a.id;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setRefused((r) => ({ ...r, [a.id]: "" }));
    } catch (e) {
      setRefused((r) => ({ ...r, [a.id]: refusal(e).message }));
    }
  };

  return (
    <section aria-labelledby="evidence-title">
      <h3 id="evidence-title">{t(lang, "evidence")}</h3>
      {error && <p class="error" role="alert">{error}</p>}
      {list.length === 0 && !error && <p>{t(lang, "noEvidence")}</p>}
      {list.length > 0 && (
        <table class="evidence">
          <thead>
            <tr>
              <th scope="col">{t(lang, "file")}</th>
              <th scope="col">{t(lang, "kind")}</th>
              <th scope="col">{t(lang, "size")}</th>
              <th scope="col">{t(lang, "uploadedBy")}</th>
              <th scope="col">{t(lang, "takenAt")}</th>
              <th scope="col">SHA-256</th>
              <th scope="col">{t(lang, "download")}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr data-attachment={a.id}>
                <td>
                  {a.fileName || a.id}
                  {a.caption && <small> · {a.caption}</small>}
                </td>
                <td>{t(lang, AttachmentKind[a.kind] ? (`ATTACHMENT_KIND_${AttachmentKind[a.kind]}` as Word) : "none")}</td>
                <td>{kib(a.sizeBytes)}</td>
                <td>
                  {a.uploadedBy} ({a.uploaderRole}) {time(a.uploadedTime && timestampDate(a.uploadedTime), lang)}
                </td>
                <td>{time(a.takenTime && timestampDate(a.takenTime), lang)}</td>
                <td>
                  <code title={a.sha256}>{a.sha256.slice(0, 12)}…</code>
                </td>
                <td>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`${t(lang, "download")} ${a.fileName || a.id}`}
                    onClick={() => download(a)}
                  >
                    {t(lang, "download")}
                  </button>
                  {refused[a.id] && (
                    <p class="error" role="alert" data-testid="download-refused">
                      {refused[a.id]}
                    </p>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
