#!/usr/bin/env bash
# ctest wrapper of the console's browser test: run.sh LOCKSTEP_BIN OUT_DIR.
# Exit 77 (ctest: skipped) when node, playwright-core or Chromium is missing,
# except under CI=true, where that is a failure. Setup: Node.js 20 or later
# with npm (the machine's), apt-get install chromium, npm ci --prefix tests/console.
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
command -v node >/dev/null 2>&1 || missing "node is not installed (Node.js 18 or later with npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 18)) || missing "node $(node --version) is too old: playwright-core needs Node.js 18 or later"
[[ -d "$here/node_modules/playwright-core" ]] || missing "playwright-core is not installed: npm ci --prefix tests/console"
[[ -x "${LOCKSTEP_CHROMIUM:-/usr/bin/chromium}" ]] || missing "no Chromium at ${LOCKSTEP_CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"
exec node "$here/console.test.mjs" "$@"
