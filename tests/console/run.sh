#!/usr/bin/env bash
# ctest wrapper of the console's browser test: run.sh LOCKSTEP_BIN OUT_DIR.
# Exit 77 (ctest: skipped) when node, playwright-core or Chromium is missing,
# except under CI=true, where that is a failure. Setup: apt-get install chromium
# nodejs npm; npm ci --prefix tests/console.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
missing() {
  if [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; then
    echo "FAIL (CI=true: no skipping): $1"
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
}
command -v node >/dev/null 2>&1 || missing "node is not installed (apt-get install nodejs npm)"
[[ -d "$here/node_modules/playwright-core" ]] || missing "playwright-core is not installed: npm ci --prefix tests/console"
[[ -x "${LOCKSTEP_CHROMIUM:-/usr/bin/chromium}" ]] || missing "no Chromium at ${LOCKSTEP_CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"
exec node "$here/console.test.mjs" "$@"
