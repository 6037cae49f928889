// Following the change feed: one Watch of some kinds of record, from the
// empty cursor (a snapshot of what the role may see, then each change as it
// commits), resumed after a loss from the last cursor the server gave. A
// cursor the server no longer honours (the log was compacted while the page
// was away) starts over from a snapshot: `onReset` first, so the page drops
// what it holds.
import { refusal, type Api, type Change, type ChangeEntityType } from "./api.js";

export type Link = "connecting" | "live" | "lost";

export async function watchFeed(
  api: Api,
  types: ChangeEntityType[],
  signal: AbortSignal,
  onChange: (c: Change) => void,
  onLink: (l: Link) => void,
  onReset: () => void = () => {},
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
    } catch (e) {
      if (signal.aborted) return;
      if (refusal(e).reason === "CURSOR_EXPIRED") {
        cursor = "";
        onReset();
        continue;
      }
    }
    onLink("lost");
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}

/** Changes that come after the first checkpoint, for a page that read the
 * state itself and only needs to hear of what changes next (the snapshot
 * before the checkpoint is what it just read). */
export function watchChangesAfterSnapshot(
  api: Api,
  types: ChangeEntityType[],
  signal: AbortSignal,
  onChange: (c: Change) => void,
): Promise<void> {
  let live = false;
  return watchFeed(
    api,
    types,
    signal,
    (c) => {
      if (live) onChange(c);
    },
    (l) => {
      live = l === "live";
    },
  );
}
