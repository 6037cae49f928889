#!/usr/bin/env bash
# Browser tests of the console (console/test/): Debian's Chromium, driven
# by playwright-core, against a fresh server on SQLite.
#   bash console/test.sh [SERVER_BINARY]   (default: target/debug/fieldops)
# Needs node >= 20, npm, and /usr/bin/chromium (Debian's package chromium;
# .ci/run installs it). Screenshots go to target/console/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../target/debug/fieldops}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
if [[ ! -x "$bin" ]]; then
  echo "console/test.sh: server binary not found or not executable: $bin" >&2
  exit 2
fi
cd "$here"
if [[ ! -d node_modules || ! -d src/client ]]; then
  bash build.sh
fi
./node_modules/.bin/tsc -p test/tsconfig.json
./node_modules/.bin/esbuild test/console.test.ts --bundle --platform=node --format=esm \
  --packages=external --outfile=test/out/console.test.mjs --log-level=warning
FIELDOPS_BIN="$bin" SCREENSHOTS="$here/../target/console" \
  node --test --test-concurrency=1 test/out/console.test.mjs
