#!/usr/bin/env bash
# scripts/lib/test_stages.sh: how scripts/test makes room on a short disk.
# The disk is simulated: lockstep_disk_free_mb answers from a table that
# grows by each removed tree's size, so every case is deterministic.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
export LOCKSTEP_ROOT="$root"
# shellcheck source=../../scripts/lib/common.sh
source "$here/../../scripts/lib/common.sh"
# shellcheck source=../../scripts/lib/test_stages.sh
source "$here/../../scripts/lib/test_stages.sh"

failures=0
check() { # description expected actual
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    failures=$((failures + 1))
  fi
}

declare -A tree_mb=([build]=1500 [build-tsan]=600 [build-asan]=1900 [build-fuzz]=250)
# The needs of the stages, set here rather than read from the measured table.
disk_need_mb=([build]=1700 [tsan]=700 [asan]=2000 [fuzz]=300 [docker]=300)
base_free=0
lockstep_disk_free_mb() {
  local free=$base_free dir
  for dir in "${!tree_mb[@]}"; do
    [[ -d "$root/$dir" ]] || free=$((free + tree_mb[$dir]))
  done
  echo "$free"
}
reset() { # free MiB with every tree present
  rm -rf "${root:?}"/build*
  mkdir -p "$root/build" "$root/build-tsan" "$root/build-asan" "$root/build-fuzz"
  base_free=$1
  finished_trees=()
  removed_trees=()
}
present() { (cd "$root" && ls -d build* | tr '\n' ' '); }

# Enough room: nothing is removed.
reset 5000
tree_done build
tree_done build-tsan
make_room asan 2>/dev/null
check "enough free: nothing removed" "build build-asan build-fuzz build-tsan " "$(present)"
check "enough free: nothing reported" "" "${removed_trees[*]}"

# Short: finished trees go, the last finished sanitizer tree first and build/
# last, and only as many as the stage needs.
reset 100
tree_done build
tree_done build-tsan
tree_done build-asan
make_room fuzz 2>/dev/null # needs 300; build-asan alone frees 1900
check "short: one tree removed" "build build-fuzz build-tsan " "$(present)"
check "short: the removal is reported" "build-asan/" "${removed_trees[*]}"
disk_need_mb[docker]=2500 # 100 + 1900 + 600 = 2600 >= 2500: build/ stays
make_room docker 2>/dev/null
check "shorter: sanitizer trees before build/" "build build-fuzz " "$(present)"
check "shorter: both removals reported" "build-asan/ build-tsan/" "${removed_trees[*]}"

# A tree whose stage has not finished is never removed, even when short.
reset 0
tree_done build-tsan
make_room asan 2>/dev/null
check "unfinished trees stay" "build build-asan build-fuzz " "$(present)"

# A failed stage names the free space when it is short, and only then.
reset 300
summary=()
failed_stages=0
run_stage build false 2>/dev/null || true
check "failed stage on a short disk names it" "1" "$(grep -c 'exit 1, [0-9]*s; only 3[0-9]* MiB free on disk' <<<"${summary[0]}")"
reset 5000
summary=()
run_stage build false 2>/dev/null || true
check "failed stage with room says nothing of disk" "0" "$(grep -c 'MiB free' <<<"${summary[0]}" || true)"

((failures == 0)) || {
  echo "$failures check(s) failed"
  exit 1
}
echo "all checks passed"
