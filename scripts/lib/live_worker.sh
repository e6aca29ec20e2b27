# shellcheck shell=bash
# A live worker for script-driven checks: the development broker, the schema
# and `lockstep run`, each stopped on exit (also on failure or Ctrl-C). Source
# it after common.sh, in the main shell (the cleanups are traps of that shell).
#
#   live_fail MESSAGE                 callers define it (print, exit 1)
#   live_broker_start WORK BIN        `lockstep broker` (2 partitions); exports
#                                     LOCKSTEP_KAFKA_BROKERS
#   live_migrate WORK BIN             `lockstep migrate up` on LOCKSTEP_DATABASE_URL
#   live_worker_start WORK BIN URL [run args...]
#                                     `lockstep run`, waits until URL answers 200
#   live_wait_for TIMEOUT_S WHAT CMD...
#                                     polls CMD (every 0.1 s) until it succeeds
#   stop_pid NAME PID                 SIGTERM, up to 15 s, then SIGKILL
#   show_log FILE                     the last lines of a log, on failure
# LOCKSTEP_LIVE_TIMEOUT_S (default 60) bounds each wait.

live_timeout_s="${LOCKSTEP_LIVE_TIMEOUT_S:-60}"
[[ "$live_timeout_s" =~ ^[0-9]+$ ]] || live_timeout_s=60

stop_pid() {
  local name="$1" pid="$2" i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    lockstep_log "$name ($pid) ignored SIGTERM for 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

show_log() {
  [[ -s "$1" ]] || return 0
  lockstep_log "last lines of $1:"
  tail -n 30 "$1" >&2 || true
}

# live_wait_for TIMEOUT_S WHAT CMD...: true once CMD succeeds; live_fail after TIMEOUT_S.
live_wait_for() {
  local timeout="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || live_fail "$what: not within ${timeout}s"
    sleep 0.1
  done
}

_live_broker_printed() { [[ -s "$1" && "$(head -n 1 "$1")" == *:* ]] || { kill -0 "$2" 2>/dev/null || { show_log "$3"; live_fail "lockstep broker exited"; }; false; }; }

live_broker_start() {
  local work="$1" bin="$2"
  "$bin" broker --partitions 2 >"$work/broker.out" 2>"$work/broker.log" &
  live_broker_pid=$!
  lockstep_add_cleanup stop_pid broker "$live_broker_pid"
  live_wait_for "$live_timeout_s" "lockstep broker printing its address" \
    _live_broker_printed "$work/broker.out" "$live_broker_pid" "$work/broker.log"
  LOCKSTEP_KAFKA_BROKERS="$(head -n 1 "$work/broker.out")"
  export LOCKSTEP_KAFKA_BROKERS
}

live_migrate() {
  "$2" migrate up >"$1/migrate.log" 2>&1 || { show_log "$1/migrate.log"; live_fail "lockstep migrate up"; }
}

_live_answers() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" == 200 ]] && return 0
  kill -0 "$2" 2>/dev/null || { show_log "$3"; live_fail "lockstep run exited before $1 answered"; }
  return 1
}

live_worker_start() {
  local work="$1" bin="$2" url="$3"
  shift 3
  "$bin" run "$@" 2>"$work/worker.log" &
  live_worker_pid=$!
  lockstep_add_cleanup stop_pid worker "$live_worker_pid"
  live_wait_for "$live_timeout_s" "$url answering 200" _live_answers "$url" "$live_worker_pid" "$work/worker.log"
}
