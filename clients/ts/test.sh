#!/usr/bin/env bash
# Builds the TypeScript client and runs its grpc-web smoke test against a
# fresh fieldops server.
#   bash clients/ts/test.sh [SERVER_BINARY]   (default: target/debug/fieldops)
# Works from any directory; needs node >= 20 and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../target/debug/fieldops}"
# A relative path is relative to the caller's directory: resolve it before cd.
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
if [[ ! -x "$bin" ]]; then
  echo "test.sh: server binary not found or not executable: $bin" >&2
  exit 2
fi

cd "$here"
npm ci --no-audit --no-fund
npm run generate
npm run build

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" >"$tmp/stdout" 2>"$tmp/server.log" &
server_pid=$!

addr=""
for _ in $(seq 1 600); do  # up to 60 s
  addr="$(sed -n '1s/^fieldops listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$tmp/stdout")"
  [[ -n "$addr" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "test.sh: the server exited before listening; its log:" >&2
    cat "$tmp/stdout" "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$addr" ]]; then
  echo "test.sh: no 'fieldops listening on' line within 60 s; server log:" >&2
  cat "$tmp/stdout" "$tmp/server.log" >&2
  exit 1
fi
echo "test.sh: server $bin listening on $addr"

token="$("$bin" token --data-dir "$tmp/data" --role dispatcher --unit north --sub d1)"

status=0
FIELDOPS_URL="http://$addr" FIELDOPS_TOKEN="$token" npm test || status=$?
if [[ $status -ne 0 ]]; then
  echo "test.sh: smoke test failed ($status); last server log lines:" >&2
  tail -n 40 "$tmp/server.log" >&2
fi
exit "$status"
