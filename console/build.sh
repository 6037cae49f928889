#!/usr/bin/env bash
# Builds the dispatch console into console/dist/ (committed: the server
# embeds it, so a machine with only cargo serves it). CI runs this and fails
# when the result differs from what is committed.
#   bash console/build.sh      (from any directory; needs node >= 20 and npm)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
npm ci --no-audit --no-fund
# The API client (src/client/, not committed): the generated code of
# proto/, and the client's core (clients/ts/src/core.ts: interceptors,
# error details) beside it, so both resolve packages from this folder's
# node_modules (the versions package-lock.json pins).
npm run --silent generate
cp ../clients/ts/src/core.ts src/client/core.ts
./node_modules/.bin/tsc -p tsconfig.json
node build.mjs
