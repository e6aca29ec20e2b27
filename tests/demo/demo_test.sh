#!/usr/bin/env bash
# ctest: the demo driver (scripts/demo minus install and build) on the embedded
# defaults — development broker + a SQLite file, no database server. It fails
# when an event lacks its outcome, emit --wait does not report the conflict,
# the replay is not applied, or the audit disagrees with the versions.
set -euo pipefail
bin="${1:?usage: demo_test.sh LOCKSTEP_BIN}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/lockstep-demo-test.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
unset LOCKSTEP_KAFKA_BROKERS LOCKSTEP_KAFKA_GROUP_ID LOCKSTEP_METRICS_LISTEN
LOCKSTEP_BIN="$bin" LOCKSTEP_DATABASE_URL="sqlite://$dir/lockstep.db" DEMO_MEMBERS="${DEMO_MEMBERS:-15}" \
  bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo.d/run"
