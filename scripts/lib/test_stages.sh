# shellcheck shell=bash
# The stages of scripts/test. Source it after common.sh; scripts/test sets the
# variables below and then calls the stages in order (see its header for what
# each does). Sourcing defines functions and the summary counters only.
#
# Read by the stages (set by scripts/test):
#   budget        LOCKSTEP_TEST_BUDGET_S, seconds a whole run may take
#   in_ci         1 when CI=true: the sanitizer stages ignore the budget
#   sanitizers    0 when LOCKSTEP_SANITIZERS=0
#   ctest_common  arguments of every ctest run
#   build_ok      1 once the main build (build/) succeeded
#   build_s       its duration (the estimates scale from it)
# Functions:
#   record NAME STATUS DETAIL       one summary line (STATUS FAIL counts)
#   run_stage NAME CMD...           run CMD, record PASS/FAIL and its duration
#                                   (and the disk's free MiB when it is short)
#   make_room NAME / tree_done DIR  disk: before stage NAME writes its build
#                                   tree, remove trees of finished stages when
#                                   the disk has less free than NAME needs
#   run_ctest DIR [ctest args...]   ctest, output teed to DIR/lockstep-ctest.log,
#                                   counts added to the totals
#   console_tools_start             background install of the console's test tools
#   postgres_stage, kafka_stage, console_tools_stage, ctest_stage [ctest args...],
#   observability_stage,
#   sanitizer_stage NAME ESTIMATE_S TARGETS [ctest args...], fuzz_stage,
#   docker_stage                    the stages
#   finish                          stop PostgreSQL and Kafka, print the summary, exit

if [[ -n "${_LOCKSTEP_TEST_STAGES_SOURCED:-}" ]]; then
  return 0
fi
_LOCKSTEP_TEST_STAGES_SOURCED=1

summary=()
failed_stages=0
tests_passed=0
tests_skipped=0
tests_failed=0

record() { # name status detail
  summary+=("$(printf '%-12s %-5s %s' "$1" "$2" "$3")")
  [[ "$2" == FAIL ]] && failed_stages=$((failed_stages + 1))
  return 0
}

# run_stage NAME CMD...: run CMD, record PASS/FAIL with its duration.
run_stage() {
  local name="$1" start=$SECONDS rc=0
  shift
  lockstep_log "=== stage $name (t=${SECONDS}s) ==="
  "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    record "$name" PASS "$((SECONDS - start))s"
  else
    record "$name" FAIL "exit $rc, $((SECONDS - start))s$(disk_short_note)"
  fi
  return "$rc"
}

# --- disk ----------------------------------------------------------------------
# A CI machine once ran out of disk in the main build ("No space left on
# device" from ld). The trees are built with compressed debug sections
# (CMakeLists.txt, -gz); what each stage's tree took from scratch on
# 2026-12-04, in MiB, with some headroom: build/ 1.5 GB, build-tsan/ (target
# concurrency_tests) 256 MB, build-asan/ (other_tests, shared libraries: see
# CMakePresets.json) 1.1 GB, build-fuzz/ 32 MB, build-docker/ (Release,
# lockstep only) 44 MB.
declare -A disk_need_mb=([build]=1700 [tsan]=400 [asan]=1300 [fuzz]=100 [docker]=100)
# Trees of stages that have finished, in the order make_room removes them
# (the sanitizer and fuzz trees before build/, the one a developer rebuilds from).
finished_trees=()
removed_trees=()

# disk_short_note: "; N MiB free on disk" when under 1 GiB (for a FAIL's detail).
disk_short_note() {
  local free
  free="$(lockstep_disk_free_mb "$ROOT")"
  [[ "$free" =~ ^[0-9]+$ ]] && ((free < 1024)) && printf '; only %s MiB free on disk' "$free"
  return 0
}

# tree_done DIR: the stage that wrote DIR (relative to ROOT) no longer needs it.
tree_done() {
  if [[ "$1" == build ]]; then
    finished_trees+=("$1")
  else
    finished_trees=("$1" "${finished_trees[@]}")
  fi
}

# make_room NAME: log the disk's free space before stage NAME builds; when it is
# less than disk_need_mb[NAME], remove finished trees until it is not.
make_room() {
  local name="$1" need="${disk_need_mb[$1]:-0}" free dir
  free="$(lockstep_disk_free_mb "$ROOT")"
  [[ "$free" =~ ^[0-9]+$ ]] || return 0
  lockstep_log "disk: ${free} MiB free; stage $name writes up to ~${need} MiB"
  while ((free < need && ${#finished_trees[@]} > 0)); do
    dir="${finished_trees[0]}"
    finished_trees=("${finished_trees[@]:1}")
    [[ -d "$ROOT/$dir" ]] || continue
    rm -rf "${ROOT:?}/$dir"
    removed_trees+=("$dir/")
    free="$(lockstep_disk_free_mb "$ROOT")"
    lockstep_log "disk: removed $dir/ (its stage has finished) to make room for $name: ${free} MiB free now"
  done
  ((free >= need)) || lockstep_log "disk: warning: ${free} MiB free, stage $name may run out of disk"
  return 0
}

# ctest runs under `setarch -R` (ASLR off) where the kernel allows it: TSan
# in GCC 12 can abort with "unexpected memory mapping" on kernels with high
# mmap randomisation. Harmless for the other stages.
ctest_prefix=()
if command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null; then
  ctest_prefix=(setarch "$(uname -m)" -R)
fi

# run_ctest BUILD_DIR [ctest args...]: ctest with output teed to a log, test
# counts added to the totals.
last_ctest_counts=""
run_ctest() {
  local dir="$1" log rc=0 line total failed skipped
  shift
  log="$dir/lockstep-ctest.log"
  "${ctest_prefix[@]}" ctest --test-dir "$dir" "${ctest_common[@]}" "$@" 2>&1 | tee "$log" || rc=$?
  line="$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  # A test that skipped itself (GTEST_SKIP, e.g. one that needs the development
  # broker's fault injection, run on the real broker) counts as skipped.
  skipped="$(grep -Ec '\(Skipped\)$' "$log" || true)"
  if [[ "$line" =~ ^([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+)$ ]]; then
    failed="${BASH_REMATCH[1]}"
    total="${BASH_REMATCH[2]}"
    tests_failed=$((tests_failed + failed))
    tests_passed=$((tests_passed + total - failed - skipped))
    tests_skipped=$((tests_skipped + skipped))
    last_ctest_counts="$((total - failed - skipped)) passed, $skipped skipped, $failed failed"
  else
    last_ctest_counts="no tests run"
  fi
  return "$rc"
}

max() { if (($1 > $2)); then echo "$1"; else echo "$2"; fi; }

# stage_off NAME VAR: true, with NAME recorded as skipped, when VAR=0 (the
# stage is switched off) or the main build failed.
stage_off() {
  if [[ "${!2:-1}" == 0 ]]; then
    record "$1" SKIP "$2=0"
  elif ((!build_ok)); then
    record "$1" SKIP "main build failed"
  else
    return 1
  fi
}

# over_budget NAME ESTIMATE_S: true, with NAME recorded as skipped, when the
# stage would end past LOCKSTEP_TEST_BUDGET_S.
over_budget() {
  ((SECONDS + $2 > budget)) || return 1
  lockstep_log "skipping $1: ${SECONDS}s elapsed + ~${2}s estimated > budget LOCKSTEP_TEST_BUDGET_S=${budget}s"
  record "$1" SKIP "time budget: ${SECONDS}s + ~${2}s > ${budget}s"
}

finish() {
  console_tools_wait >/dev/null 2>&1 || true # never leave an apt-get running
  lockstep_pg_stop # also done by the EXIT trap; here so the summary is last
  lockstep_kafka_stop
  echo
  echo "==================== lockstep test summary (${SECONDS}s) ===================="
  local l
  for l in "${summary[@]}"; do
    echo "$l"
  done
  if ((${#removed_trees[@]} > 0)); then
    echo "disk: removed ${removed_trees[*]} of finished stages for room; $(lockstep_disk_free_mb "$ROOT") MiB free now"
  fi
  echo "tests: $tests_passed passed, $tests_skipped skipped, $tests_failed failed"
  if ((failed_stages > 0)); then
    exit 1
  fi
  exit 0
}

# --- postgres ------------------------------------------------------------------
# lockstep_pg_start installs the cleanup trap, so this runs in the main shell.
postgres_stage() {
  if ((!build_ok)); then
    record postgres SKIP "main build failed"
    return 0
  fi
  local pg_ok=0
  run_stage postgres lockstep_pg_start && pg_ok=1
  ((pg_ok)) || lockstep_log "PostgreSQL did not start; database tests will fail or skip"
  return 0
}

# --- real Kafka ----------------------------------------------------------------
# One Apache Kafka node (scripts/kafka: KRaft, from the Maven Central jars) for
# the tests labelled kafka-real. They get it as LOCKSTEP_TEST_KAFKA_BROKERS
# only: LOCKSTEP_KAFKA_BROKERS is the worker's own setting and must not leak
# into the other tests. LOCKSTEP_REAL_KAFKA=0 leaves it out (the kafka-real
# tests then skip, and the summary says so); a failed start fails the run.
start_real_kafka() {
  console_tools_wait || true # its apt-get first; its outcome is console_tools_stage's
  lockstep_install_kafka_deps || return 1
  lockstep_kafka_start --brokers 1 || return 1
  export LOCKSTEP_TEST_KAFKA_BROKERS="$LOCKSTEP_KAFKA_BROKERS"
  unset LOCKSTEP_KAFKA_BROKERS
}
kafka_stage() {
  if [[ "${LOCKSTEP_REAL_KAFKA:-1}" == 0 ]]; then
    record kafka SKIP "LOCKSTEP_REAL_KAFKA=0: the kafka-real tests skip"
  elif ((build_ok)); then
    run_stage kafka start_real_kafka || true
  else
    record kafka SKIP "main build failed"
  fi
}

# --- ctest ---------------------------------------------------------------------
# ctest_stage [ctest args...]: the main run in build/; sets ctest_s.
ctest_s=0
ctest_stage() {
  local start
  if ((!build_ok)); then
    record ctest FAIL "not run: build failed"
    return 0
  fi
  start=$SECONDS
  if run_ctest build --no-tests=error "$@"; then
    record ctest PASS "$last_ctest_counts, $((SECONDS - start))s"
  else
    record ctest FAIL "$last_ctest_counts, $((SECONDS - start))s"
  fi
  ctest_s=$((SECONDS - start))
}

# --- console tools -------------------------------------------------------------
# Chromium, playwright-core and schemathesis for the console's browser test and
# the admin API's contract test (ctest labels browser and contract). They are
# downloads, not CPU work, so console_tools_start runs them in the background
# while the main build compiles, and console_tools_stage waits for them before
# ctest. Off (LOCKSTEP_CONSOLE=0) or failed outside CI, those tests skip and say
# so; in CI they fail without their tools. Other stages that install Debian
# packages call console_tools_wait first (one apt-get at a time).
console_tools_pid=""
console_tools_started=0
console_tools_start() {
  [[ "${LOCKSTEP_CONSOLE:-1}" == 0 ]] && return 0
  console_tools_log="$(mktemp "${TMPDIR:-/tmp}/lockstep-console-tools.XXXXXX")"
  console_tools_started=$SECONDS
  lockstep_install_console_deps >"$console_tools_log" 2>&1 &
  console_tools_pid=$!
  lockstep_log "console tools: installing in the background (log: $console_tools_log)"
}
console_tools_rc=0
console_tools_wait() {
  [[ -n "$console_tools_pid" ]] || return "$console_tools_rc"
  wait "$console_tools_pid" || console_tools_rc=$?
  console_tools_pid=""
  cat "$console_tools_log" >&2
  rm -f "$console_tools_log"
  return "$console_tools_rc"
}
console_tools_stage() {
  stage_off console-tools LOCKSTEP_CONSOLE && return 0
  local waited=$SECONDS
  if console_tools_wait; then
    record console-tools PASS "$((SECONDS - console_tools_started))s in the background, $((SECONDS - waited))s waited"
  else
    record console-tools FAIL "exit $console_tools_rc: the browser and contract tests cannot run"
  fi
}

# --- observability -------------------------------------------------------------
# Uses the PostgreSQL above (LOCKSTEP_TEST_DATABASE_URL) and build/bin/lockstep.
observability_stage() {
  stage_off observability LOCKSTEP_OBSERVABILITY && return 0
  run_stage observability "$LOCKSTEP_SCRIPTS_DIR/check-observability" || true
}

# --- sanitizers --------------------------------------------------------------
# sanitizer_stage NAME ESTIMATE_S TARGETS CTEST_ARGS...
# NAME is the CMake preset (asan, tsan; its tree is build-NAME/, at -O1 -g1:
# see CMakePresets.json). TARGETS: space-separated build targets ("" = all).
sanitizer_stage() {
  local name="$1" est="$2" targets="$3" start
  shift 3
  if ((!sanitizers)); then
    record "$name" SKIP "LOCKSTEP_SANITIZERS=0"
    return 0
  fi
  if ((!build_ok)); then
    record "$name" SKIP "main build failed"
    return 0
  fi
  if ((SECONDS + est > budget)); then
    if ((in_ci)); then
      lockstep_log "$name: ${SECONDS}s elapsed + ~${est}s estimated > budget ${budget}s, run anyway (CI=true: sanitizers are never skipped)"
    else
      lockstep_log "skipping $name: ${SECONDS}s elapsed + ~${est}s estimated > budget LOCKSTEP_TEST_BUDGET_S=${budget}s (CI=true never skips it)"
      record "$name" SKIP "time budget: ${SECONDS}s + ~${est}s > ${budget}s"
      return 0
    fi
  fi
  start=$SECONDS
  lockstep_log "=== stage $name (t=${SECONDS}s, estimated ${est}s) ==="
  make_room "$name"
  if ! LOCKSTEP_BUILD_TARGETS="$targets" lockstep_build_preset "$name"; then
    record "$name" FAIL "build failed, $((SECONDS - start))s$(disk_short_note)"
    return 0
  fi
  if run_ctest "build-$name" "$@"; then
    record "$name" PASS "$last_ctest_counts, $((SECONDS - start))s"
  else
    record "$name" FAIL "$last_ctest_counts, $((SECONDS - start))s$(disk_short_note)"
  fi
  tree_done "build-$name"
}

# --- fuzz --------------------------------------------------------------------
# Estimate: the clang build of the two fuzz targets (event + config libraries
# only; measured ~30 s from scratch, allowed 120 s) plus the run time of each.
fuzz_stage() {
  local est start rc=0 secs="${LOCKSTEP_FUZZ_SECONDS:-60}"
  stage_off fuzz LOCKSTEP_FUZZ && return 0
  [[ "$secs" =~ ^[0-9]+$ ]] || secs=60
  est=$((120 + 2 * secs))
  over_budget fuzz "$est" && return 0
  start=$SECONDS
  lockstep_log "=== stage fuzz (t=${SECONDS}s, estimated ${est}s) ==="
  make_room fuzz
  "$LOCKSTEP_SCRIPTS_DIR/fuzz" || rc=$?
  if [[ $rc -eq 0 ]]; then
    record fuzz PASS "2 targets x ${secs}s, $((SECONDS - start))s"
    tree_done build-fuzz
  else
    record fuzz FAIL "exit $rc (artifacts in build-fuzz/artifacts/), $((SECONDS - start))s$(disk_short_note)"
  fi
}

# --- docker ------------------------------------------------------------------
# scripts/check-docker: no Docker engine here, so the image's build stage runs
# as a plain script (build-docker/: Release, target lockstep only, no tests)
# plus static checks of docker-compose.yml and the Dockerfile, library and
# package coverage, and the image's CMD/HEALTHCHECK against the built binary.
# Estimate: that build compiles about half of the main build's objects
# (measured: 77 s from scratch on the 2-core VM, ~1 s of checks).
docker_stage() {
  local est start rc=0
  stage_off docker LOCKSTEP_DOCKER_CHECK && return 0
  est=$(max $((build_s * 6 / 10 + 20)) 120)
  over_budget docker "$est" && return 0
  start=$SECONDS
  lockstep_log "=== stage docker (t=${SECONDS}s, estimated ${est}s) ==="
  make_room docker
  "$LOCKSTEP_SCRIPTS_DIR/check-docker" || rc=$?
  if [[ $rc -eq 0 ]]; then
    record docker PASS "scripts/check-docker, $((SECONDS - start))s"
  else
    record docker FAIL "scripts/check-docker exit $rc, $((SECONDS - start))s$(disk_short_note)"
  fi
}
