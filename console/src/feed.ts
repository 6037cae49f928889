// Following the change feed: one Watch of some kinds of record, from the
// empty cursor (a snapshot of what the role may see, then each change as it
// commits), resumed after a loss from the last cursor the server gave.
import type { Api, Change, ChangeEntityType } from "./api.js";

export type Link = "connecting" | "live" | "lost";

export async function watchFeed(
  api: Api,
  types: ChangeEntityType[],
  signal: AbortSignal,
  onChange: (c: Change) => void,
  onLink: (l: Link) => void,
): Promise<void> {
  let cursor = "";
  let wait = 500;
  while (!signal.aborted) {
    try {
      for await (const res of api.sync.watch({ cursor, entityTypes: types }, { signal })) {
        const e = res.event;
        if (e.case === "checkpoint") {
          cursor = e.value.cursor;
          onLink("live");
          wait = 500;
        } else if (e.case === "change") {
          cursor = e.value.cursor;
          onChange(e.value);
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    onLink("lost");
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}
