# shellcheck shell=bash
# Shared helpers for Lockstep's shell tooling. Source it; do not execute it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Sourcing has no side effects beyond defining functions and a few variables
# (ROOT, LOCKSTEP_SCRIPTS_DIR, LOCKSTEP_DEPS, LOCKSTEP_FUZZ_DEPS,
# LOCKSTEP_OBS_DEPS, LOCKSTEP_DOCKER_CHECK_DEPS, LOCKSTEP_KAFKA_DEPS). Functions:
#   lockstep_log / lockstep_die        messages on stderr
#   lockstep_disk_free_mb [DIR]        MiB free on DIR's filesystem (default ROOT)
#   lockstep_add_cleanup CMD...        run CMD on EXIT/INT/TERM (LIFO order)
#   lockstep_install_deps [pkg...]     apt-get install whatever is missing
#                                      (default: LOCKSTEP_DEPS)
#   lockstep_install_fuzz_deps         the same for LOCKSTEP_FUZZ_DEPS (clang)
#   lockstep_install_obs_deps          the same for LOCKSTEP_OBS_DEPS (promtool)
#   lockstep_install_docker_check_deps the same for LOCKSTEP_DOCKER_CHECK_DEPS
#   lockstep_install_kafka_deps        the same for LOCKSTEP_KAFKA_DEPS (Java, Maven)
#   lockstep_install_console_deps      what the console's browser and API contract
#                                      tests need: Chromium (+ Node.js, venv when
#                                      missing), playwright-core (npm ci in
#                                      tests/console) and schemathesis (PyPI, in
#                                      the venv .tools/contract-venv)
#   lockstep_build [dir] [cmake args]  configure + build (default dir: build)
#   lockstep_build_preset PRESET [cmake args]
#                                      the same with a CMakePresets.json preset
#   lockstep_pg_start                  throwaway PostgreSQL cluster, exports
#                                      LOCKSTEP_PG_PORT LOCKSTEP_PG_DIR
#                                      LOCKSTEP_TEST_DATABASE_URL
#                                      LOCKSTEP_DATABASE_URL (+ LOCKSTEP_PG_BINDIR,
#                                      LOCKSTEP_PGCTL); LOCKSTEP_PG_EXTRA_SETTINGS,
#                                      when set, is appended to its settings
#                                      (postgresql.conf lines, e.g. scripts/bench's
#                                      shared_preload_libraries)
#   lockstep_pg_stop                   stop it and delete its dir (idempotent)
#   lockstep_pg_ctl stop|start|restart|crash|kill|freeze|thaw|status
#                                      control that same cluster (see scripts/pgctl)
#   lockstep_kafka_start [--brokers 1|3]
#                                      throwaway cluster of real Kafka brokers
#                                      (scripts/kafka), exports
#                                      LOCKSTEP_KAFKA_BROKERS LOCKSTEP_KAFKA_DIR
#                                      (+ LOCKSTEP_KAFKACTL)
#   lockstep_kafka_stop                stop it and delete its dir (idempotent)
#   lockstep_args_want_real_kafka ARGS true when ARGS hold `--kafka real`
#
# lockstep_pg_start and lockstep_kafka_start must be called in the main shell
# (not inside "$(...)" or a pipeline), since they install the cleanup trap in
# the calling shell.

if [[ -n "${_LOCKSTEP_COMMON_SOURCED:-}" ]]; then
  return 0
fi
_LOCKSTEP_COMMON_SOURCED=1

# Repository root. Override with LOCKSTEP_ROOT (e.g. to test the scripts on
# another CMake tree).
LOCKSTEP_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${LOCKSTEP_ROOT:-$(cd "$LOCKSTEP_SCRIPTS_DIR/.." && pwd)}"

# Debian packages the project needs. Append to this array to add more.
LOCKSTEP_DEPS=(
  build-essential cmake pkg-config git ca-certificates
  librdkafka-dev libpqxx-dev libpq-dev libboost-dev nlohmann-json3-dev libsimdjson-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libsqlite3-dev sqlite3 libcli11-dev
  libgtest-dev googletest libgmock-dev
  postgresql postgresql-client procps python3 curl
  python3-jsonschema # tests/event: docs/event.schema.json checked against the parser
  iproute2 socat # lockstep-chaos: network namespaces and the forwarders of its partitions
)

# Extra packages for the libFuzzer build (scripts/fuzz): clang 14 (Debian
# bookworm), its compiler-rt runtimes (libclang_rt.fuzzer/asan/ubsan; only a
# Recommends of clang, so not pulled in by --no-install-recommends) and
# llvm-symbolizer for readable crash stacks.
LOCKSTEP_FUZZ_DEPS=(clang-14 libclang-rt-14-dev llvm-14)

# Extra package for scripts/check-observability: `prometheus` ships promtool
# (check config/rules/metrics, test rules). It also installs a prometheus
# service, which Debian starts on a systemd host: lockstep_install_obs_deps
# stops and disables it again when it was not installed before.
LOCKSTEP_OBS_DEPS=(prometheus)

# Extra package for scripts/check-docker: PyYAML, to read docker-compose.yml
# (and the configs it mounts) from python3.
LOCKSTEP_DOCKER_CHECK_DEPS=(python3-yaml)

# Extra packages for real Kafka brokers (scripts/kafka, lockstep_kafka_start):
# Kafka 4 runs on Java 17+, and Maven fetches its jars from Maven Central once
# into a cache (see tools/kafka/pom.xml).
LOCKSTEP_KAFKA_DEPS=(openjdk-17-jre-headless maven)

# Extra package for the console's browser test (tests/console): Debian's
# Chromium, which playwright-core drives (Playwright's own browser download
# is never used). Node.js/npm and python3-venv are added when missing.
LOCKSTEP_CONSOLE_DEPS=(chromium)

lockstep_log() { printf '[lockstep] %s\n' "$*" >&2; }
lockstep_die() { lockstep_log "error: $*"; exit 1; }
lockstep_disk_free_mb() { df -Pm "${1:-$ROOT}" 2>/dev/null | awk 'NR == 2 { print $4 }'; }

# ---------------------------------------------------------------------------
# Cleanup handling: one trap, a list of commands.
# ---------------------------------------------------------------------------
_LOCKSTEP_CLEANUP=()
_LOCKSTEP_TRAP_INSTALLED=""

_lockstep_run_cleanups() {
  local i cmd
  # Never let errexit abort the remaining cleanups.
  set +e
  for ((i = ${#_LOCKSTEP_CLEANUP[@]} - 1; i >= 0; i--)); do
    cmd="${_LOCKSTEP_CLEANUP[i]}"
    unset '_LOCKSTEP_CLEANUP[i]'
    eval "$cmd"
  done
  _LOCKSTEP_CLEANUP=()
}

_lockstep_on_exit() {
  local rc=$?
  _lockstep_run_cleanups
  return "$rc"
}

_LOCKSTEP_PREV_INT=""
_LOCKSTEP_PREV_TERM=""

_lockstep_on_signal() {
  local sig="$1" code="$2" prev
  lockstep_log "caught SIG$sig, cleaning up"
  _lockstep_run_cleanups
  if [[ "$sig" == INT ]]; then prev="$_LOCKSTEP_PREV_INT"; else prev="$_LOCKSTEP_PREV_TERM"; fi
  [[ -n "$prev" ]] && eval "$prev"
  trap - EXIT
  exit "$code"
}

# Print the command of the trap currently set for signal $1 (empty if none).
_lockstep_trap_cmd() {
  local line
  line="$(trap -p "$1")"
  [[ -n "$line" ]] || return 0
  # trap -p prints: trap -- 'cmd' SIG
  eval "set -- $line"
  printf '%s' "$3"
}

# Register a cleanup command: one string (eval'ed) or several words (quoted
# for you). Cleanups run in reverse order on EXIT, INT and TERM. A trap that
# was already set before the first call is kept: an EXIT trap becomes the
# last cleanup, an INT/TERM trap runs after the cleanups on that signal.
lockstep_add_cleanup() {
  if [[ -z "$_LOCKSTEP_TRAP_INSTALLED" ]]; then
    local prev
    prev="$(_lockstep_trap_cmd EXIT)"
    [[ -n "$prev" && "$prev" != *_lockstep_on_* ]] && _LOCKSTEP_CLEANUP+=("$prev")
    prev="$(_lockstep_trap_cmd INT)"
    [[ "$prev" != *_lockstep_on_* ]] && _LOCKSTEP_PREV_INT="$prev"
    prev="$(_lockstep_trap_cmd TERM)"
    [[ "$prev" != *_lockstep_on_* ]] && _LOCKSTEP_PREV_TERM="$prev"
    trap _lockstep_on_exit EXIT
    trap '_lockstep_on_signal INT 130' INT
    trap '_lockstep_on_signal TERM 143' TERM
    _LOCKSTEP_TRAP_INSTALLED=1
  fi
  if [[ $# -eq 1 ]]; then
    _LOCKSTEP_CLEANUP+=("$1")
  else
    _LOCKSTEP_CLEANUP+=("$(printf '%q ' "$@")")
  fi
}

# ---------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------
_lockstep_pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# lockstep_install_deps [pkg...]: installs the missing ones of the given
# packages (default: LOCKSTEP_DEPS).
lockstep_install_deps() {
  if [[ $# -eq 0 ]]; then
    set -- "${LOCKSTEP_DEPS[@]}"
  fi
  if [[ "${LOCKSTEP_SKIP_DEPS:-0}" == 1 ]]; then
    lockstep_log "LOCKSTEP_SKIP_DEPS=1: not checking Debian packages"
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 ||
    lockstep_die "dpkg-query not found: only Debian/Ubuntu are supported (or set LOCKSTEP_SKIP_DEPS=1)"
  local missing=() p
  for p in "$@"; do
    _lockstep_pkg_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    lockstep_log "missing Debian packages: ${missing[*]}"
    lockstep_log "install them with:"
    lockstep_log "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  lockstep_log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || return 1
  apt-get install -y -q --no-install-recommends "${missing[@]}" || return 1
}

lockstep_install_fuzz_deps() { lockstep_install_deps "${LOCKSTEP_FUZZ_DEPS[@]}"; }

lockstep_install_docker_check_deps() { lockstep_install_deps "${LOCKSTEP_DOCKER_CHECK_DEPS[@]}"; }

lockstep_install_kafka_deps() { lockstep_install_deps "${LOCKSTEP_KAFKA_DEPS[@]}"; }

# The browser test's and the API contract test's tools. Debian packages as
# above; then playwright-core at the version tests/console/package-lock.json
# pins, and schemathesis at the version tests/admin/requirements.txt pins, in
# a venv of its own (.tools/contract-venv; LOCKSTEP_TOOLS_DIR moves it).
lockstep_install_console_deps() {
  local pkgs=("${LOCKSTEP_CONSOLE_DEPS[@]}")
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || pkgs+=(python3-venv)
  lockstep_install_deps "${pkgs[@]}" || return 1
  local console="$ROOT/tests/console"
  if [[ -f "$console/package-lock.json" ]] &&
    ! cmp -s "$console/package-lock.json" "$console/node_modules/.lockstep-installed" 2>/dev/null; then
    lockstep_log "npm ci in tests/console (playwright-core)"
    (cd "$console" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    cp "$console/package-lock.json" "$console/node_modules/.lockstep-installed"
  fi
  local venv="${LOCKSTEP_TOOLS_DIR:-$ROOT/.tools}/contract-venv" req="$ROOT/tests/admin/requirements.txt"
  if [[ -f "$req" ]] && ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
    lockstep_log "installing $(tr '\n' ' ' <"$req")into $venv (PyPI)"
    python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" || return 1
    cp "$req" "$venv/requirements.txt"
  fi
}

# True when the arguments hold `--kafka real` (scripts/chaos, scripts/soak:
# they then start a real cluster for lockstep-chaos).
lockstep_args_want_real_kafka() {
  while (($#)); do
    [[ "$1" == --kafka && "${2:-}" == real ]] && return 0
    shift
  done
  return 1
}

lockstep_install_obs_deps() {
  local had_prometheus=0
  _lockstep_pkg_installed prometheus && had_prometheus=1
  lockstep_install_deps "${LOCKSTEP_OBS_DEPS[@]}" || return 1
  # Only promtool is wanted: do not leave a freshly installed server running.
  if ((!had_prometheus)) && _lockstep_pkg_installed prometheus &&
    command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    lockstep_log "stopping and disabling the prometheus service the package started (only promtool is used)"
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  return 0
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
# lockstep_build [build_dir] [extra cmake configure args...]
# LOCKSTEP_BUILD_TARGETS="a b" builds only those targets (default: all).
lockstep_build() {
  local dir="${1:-build}"
  [[ $# -gt 0 ]] && shift
  [[ "$dir" == /* ]] || dir="$ROOT/$dir"
  lockstep_log "configuring $dir $*"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || return 1
  _lockstep_build_targets "$dir"
}

# lockstep_build_preset PRESET [extra cmake configure args...]
# Configure + build with a preset of CMakePresets.json (default, release,
# debug, asan, tsan, fuzz) in its own build dir (build/, build-PRESET/).
# LOCKSTEP_BUILD_TARGETS as for lockstep_build.
lockstep_build_preset() {
  local preset="$1"
  shift
  lockstep_log "configuring preset $preset $*"
  (cd "$ROOT" && cmake --preset "$preset" "$@") || return 1
  _lockstep_build_targets --preset "$preset"
}

# _lockstep_build_targets DIR | --preset PRESET: the build step of the two above.
_lockstep_build_targets() {
  local targets=()
  if [[ -n "${LOCKSTEP_BUILD_TARGETS:-}" ]]; then
    read -r -a targets <<<"$LOCKSTEP_BUILD_TARGETS"
    targets=(--target "${targets[@]}")
  fi
  lockstep_log "building $* with $(nproc) jobs ${targets[*]}"
  (cd "$ROOT" && cmake --build "$@" -j"$(nproc)" "${targets[@]}") || return 1
}

# ---------------------------------------------------------------------------
# Throwaway PostgreSQL
# ---------------------------------------------------------------------------
_LOCKSTEP_PG_OWNED_DIR=""

_lockstep_pg_bindir() {
  if [[ -n "${LOCKSTEP_PG_BINDIR:-}" && -x "$LOCKSTEP_PG_BINDIR/pg_ctl" ]]; then
    printf '%s\n' "$LOCKSTEP_PG_BINDIR"
    return 0
  fi
  local d best="" bestv=-1 v
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/pg_ctl" && -x "$d/initdb" ]] || continue
    v="${d#/usr/lib/postgresql/}"
    v="${v%%/*}"
    v="${v%%.*}"
    [[ "$v" =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best=$d
    fi
  done
  if [[ -z "$best" ]] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    best="$(dirname "$(command -v pg_ctl)")"
  fi
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# Run a command as the owner of the cluster dir $1 (`postgres` when the
# cluster was started by root; ourselves otherwise), from inside that dir so
# the cwd is always readable by it.
_lockstep_as_pg() {
  local dir="$1" owner
  shift
  owner="$(stat -c %U "$dir" 2>/dev/null || echo postgres)"
  if [[ "$(id -u)" -eq 0 && "$owner" != root ]]; then
    if command -v runuser >/dev/null 2>&1; then
      (cd "$dir" && runuser -u "$owner" -- "$@")
    else
      local q
      q="$(printf '%q ' "$@")"
      (cd "$dir" && su "$owner" -s /bin/sh -c "$q")
    fi
  else
    (cd "$dir" && "$@")
  fi
}

_lockstep_free_port() {
  local port
  if command -v python3 >/dev/null 2>&1 &&
    port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null)" && [[ "$port" =~ ^[0-9]+$ ]]; then
    printf '%s\n' "$port"
    return 0
  fi
  # Fallback: random candidates checked against ss.
  local i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 30000))
    if ! ss -Htan "sport = :$port" 2>/dev/null | grep -q .; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  return 1
}

lockstep_pg_start() {
  if [[ -n "$_LOCKSTEP_PG_OWNED_DIR" ]]; then
    lockstep_log "PostgreSQL already running in $_LOCKSTEP_PG_OWNED_DIR"
    return 0
  fi
  local bindir
  bindir="$(_lockstep_pg_bindir)" ||
    lockstep_die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (run lockstep_install_deps)"

  local me_root=0
  [[ "$(id -u)" -eq 0 ]] && me_root=1
  if ((me_root)) && ! id postgres >/dev/null 2>&1; then
    lockstep_die "user 'postgres' does not exist (install the 'postgresql' package)"
  fi

  local base="${LOCKSTEP_PG_TMPDIR:-/tmp}" dir
  dir="$(mktemp -d "$base/lockstep-pg.XXXXXX")" || lockstep_die "mktemp failed in $base"
  # From now on the directory (and any server in it) is ours to clean up.
  _LOCKSTEP_PG_OWNED_DIR="$dir"
  lockstep_add_cleanup lockstep_pg_stop
  chmod 0755 "$dir"
  ((me_root)) && chown postgres: "$dir"

  local log="$dir/postgres.log"
  lockstep_log "initdb ($bindir) in $dir"
  if ! _lockstep_as_pg "$dir" "$bindir/initdb" -D "$dir/data" -U postgres \
    --auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    lockstep_log "initdb failed"
    return 1
  fi

  local attempt port="" started=0
  for attempt in 1 2 3 4 5; do
    port="$(_lockstep_free_port)" || lockstep_die "could not find a free loopback port"
    # Settings live in postgresql.auto.conf so restarts (scripts/pgctl) keep them.
    cat >"$dir/data/postgresql.auto.conf" <<EOF
# Written by scripts/lib/common.sh (lockstep_pg_start)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = 128MB
max_connections = 200
fsync = on
synchronous_commit = on
logging_collector = off
log_min_messages = warning
EOF
    if [[ -n "${LOCKSTEP_PG_EXTRA_SETTINGS:-}" ]]; then
      printf '%s\n' "$LOCKSTEP_PG_EXTRA_SETTINGS" >>"$dir/data/postgresql.auto.conf"
    fi
    ((me_root)) && chown postgres: "$dir/data/postgresql.auto.conf"
    if _lockstep_as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$log" -w -t 60 start >/dev/null; then
      started=1
      break
    fi
    lockstep_log "start attempt $attempt on port $port failed; server log:"
    tail -n 20 "$log" >&2 || true
  done
  ((started)) || {
    lockstep_log "could not start PostgreSQL"
    return 1
  }

  if ! "$bindir/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE lockstep LOGIN SUPERUSER" \
    -c "CREATE DATABASE lockstep OWNER lockstep" >/dev/null; then
    lockstep_log "could not create role/database lockstep"
    return 1
  fi

  export LOCKSTEP_PG_PORT="$port"
  export LOCKSTEP_PG_DIR="$dir"
  export LOCKSTEP_PG_BINDIR="$bindir"
  export LOCKSTEP_PGCTL="$LOCKSTEP_SCRIPTS_DIR/pgctl"
  export LOCKSTEP_TEST_DATABASE_URL="postgresql://lockstep@127.0.0.1:$port/lockstep"
  export LOCKSTEP_DATABASE_URL="$LOCKSTEP_TEST_DATABASE_URL"
  printf 'PostgreSQL ready: %s\n' "$LOCKSTEP_DATABASE_URL"
}

# True when $1 is a live (non-zombie) postmaster of the cluster in dir $2.
_lockstep_pg_pid_alive() {
  local pid="$1" dir="$2" state
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/data"
}

# Stop the cluster started by lockstep_pg_start in this shell and remove its
# directory. Safe to call more than once and when nothing was started.
lockstep_pg_stop() {
  local dir="$_LOCKSTEP_PG_OWNED_DIR"
  [[ -n "$dir" ]] || return 0
  _LOCKSTEP_PG_OWNED_DIR=""
  if [[ -d "$dir/data" ]]; then
    local bindir pid=""
    bindir="$(_lockstep_pg_bindir)" || bindir=""
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
      _lockstep_pg_signal_all "$dir" CONT 2>/dev/null || true # a test may have left it frozen
      if [[ -n "$bindir" ]]; then
        _lockstep_as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
      fi
      # Last resort if pg_ctl could not stop it (give the exiting postmaster
      # a moment first: pg_ctl returns once postmaster.pid is gone).
      if [[ "$pid" =~ ^[0-9]+$ ]]; then
        local i
        for ((i = 0; i < 50; i++)); do
          _lockstep_pg_pid_alive "$pid" "$dir" || break
          sleep 0.2
        done
        if _lockstep_pg_pid_alive "$pid" "$dir"; then
          lockstep_log "postmaster $pid still alive; sending SIGQUIT, then SIGKILL"
          kill -QUIT "$pid" 2>/dev/null || true
          for ((i = 0; i < 25; i++)); do
            _lockstep_pg_pid_alive "$pid" "$dir" || break
            sleep 0.2
          done
          _lockstep_pg_pid_alive "$pid" "$dir" && kill -KILL "$pid" 2>/dev/null
        fi
      fi
    fi
  fi
  rm -rf -- "$dir"
  if [[ "${LOCKSTEP_PG_DIR:-}" == "$dir" ]]; then
    unset LOCKSTEP_PG_PORT LOCKSTEP_PG_DIR LOCKSTEP_TEST_DATABASE_URL LOCKSTEP_DATABASE_URL
  fi
  lockstep_log "PostgreSQL in $dir stopped and removed"
}

# lockstep_pg_ctl stop|start|restart|crash|status
# Controls the cluster named by LOCKSTEP_PG_DIR (exported by lockstep_pg_start),
# so fault-injection tests can take the database away and bring it back.
#   stop     fast shutdown (waits)
#   crash    immediate shutdown (no checkpoint, like a crash)
#   start    start again on the same port (waits until it accepts connections)
#   restart  stop + start
#   status   exit 0 when running, 3 when not
# The postmaster's pid of the cluster in DIR (first line of postmaster.pid).
_lockstep_pg_postmaster() {
  local pid
  pid="$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# The postmaster and every process it started (backends, checkpointer, walwriter, ...).
_lockstep_pg_pids() {
  local pm
  pm="$(_lockstep_pg_postmaster "$1")" || return 1
  echo "$pm"
  pgrep -P "$pm" || true
}

# freeze/thaw: SIGSTOP/SIGCONT to every process of the cluster. Frozen, the
# server accepts TCP connections (the kernel does) but answers nothing: a hang,
# not a refusal.
_lockstep_pg_signal_all() {
  local pids
  pids="$(_lockstep_pg_pids "$1")" || { lockstep_log "no running PostgreSQL in $1"; return 1; }
  # shellcheck disable=SC2086
  kill -s "$2" $pids
}

# kill: SIGKILL of the postmaster, as a crash of the server process; its
# children are killed too (they would linger until they notice), so that the
# next start runs crash recovery.
_lockstep_pg_kill() {
  local pids pm i
  pids="$(_lockstep_pg_pids "$1")" || { lockstep_log "no running PostgreSQL in $1"; return 1; }
  pm="$(head -n 1 <<<"$pids")"
  kill -s KILL "$pm"
  # shellcheck disable=SC2086
  kill -s KILL $pids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    # shellcheck disable=SC2086
    kill -0 $pids 2>/dev/null || return 0
    sleep 0.1
  done
  lockstep_log "PostgreSQL processes still there after SIGKILL: $pids"
  return 1
}

lockstep_pg_ctl() {
  local action="${1:-}"
  local dir="${LOCKSTEP_PG_DIR:-}"
  [[ -n "$dir" && -d "$dir/data" ]] ||
    { lockstep_log "LOCKSTEP_PG_DIR is not set or has no data/ (was lockstep_pg_start run?)"; return 2; }
  local bindir
  bindir="$(_lockstep_pg_bindir)" || { lockstep_log "no PostgreSQL binaries found"; return 2; }
  local pgctl=("$bindir/pg_ctl" -D "$dir/data")
  case "$action" in
    stop) _lockstep_as_pg "$dir" "${pgctl[@]}" -m fast -w -t 60 stop ;;
    crash) _lockstep_as_pg "$dir" "${pgctl[@]}" -m immediate -w -t 60 stop ;;
    start) _lockstep_as_pg "$dir" "${pgctl[@]}" -l "$dir/postgres.log" -w -t 60 start ;;
    restart) _lockstep_as_pg "$dir" "${pgctl[@]}" -l "$dir/postgres.log" -m fast -w -t 60 restart ;;
    status) _lockstep_as_pg "$dir" "${pgctl[@]}" status ;;
    freeze) _lockstep_pg_signal_all "$dir" STOP ;;
    thaw) _lockstep_pg_signal_all "$dir" CONT ;;
    kill) _lockstep_pg_kill "$dir" ;;
    *)
      lockstep_log "usage: lockstep_pg_ctl stop|start|restart|crash|kill|freeze|thaw|status"
      return 2
      ;;
  esac
}

# ---------------------------------------------------------------------------
# Throwaway Kafka cluster (real brokers in KRaft mode, see scripts/kafka)
# ---------------------------------------------------------------------------
_LOCKSTEP_KAFKA_OWNED_DIR=""

# lockstep_kafka_start [--brokers 1|3]: starts real Kafka brokers from the
# jars of tools/kafka (needs lockstep_install_kafka_deps; the first start
# fetches the jars), waits until all are registered, exports
# LOCKSTEP_KAFKA_BROKERS (host:port,...), LOCKSTEP_KAFKA_DIR and
# LOCKSTEP_KAFKACTL (scripts/kafka, for kill/pause/resume/start-node/topics),
# and stops and removes the cluster on exit.
lockstep_kafka_start() {
  if [[ -n "$_LOCKSTEP_KAFKA_OWNED_DIR" ]]; then
    lockstep_log "Kafka already running in $_LOCKSTEP_KAFKA_OWNED_DIR"
    return 0
  fi
  local base="${LOCKSTEP_KAFKA_TMPDIR:-${TMPDIR:-/tmp}}" dir out line brokers=""
  dir="$(mktemp -d "$base/lockstep-kafka.XXXXXX")" || lockstep_die "mktemp failed in $base"
  # The directory is ours (and cleaned up on exit) before the first node
  # starts, so an interrupted start leaves nothing running.
  _LOCKSTEP_KAFKA_OWNED_DIR="$dir"
  lockstep_add_cleanup lockstep_kafka_stop
  if ! out="$("$LOCKSTEP_SCRIPTS_DIR/kafka" start --dir "$dir" "$@")"; then
    lockstep_log "could not start Kafka"
    return 1
  fi
  while IFS= read -r line; do
    [[ "$line" == LOCKSTEP_KAFKA_BROKERS=* ]] && brokers="${line#*=}"
  done <<<"$out"
  [[ -n "$brokers" ]] || {
    lockstep_log "scripts/kafka start printed no broker list"
    return 1
  }
  export LOCKSTEP_KAFKA_BROKERS="$brokers"
  export LOCKSTEP_KAFKA_DIR="$dir"
  export LOCKSTEP_KAFKACTL="$LOCKSTEP_SCRIPTS_DIR/kafka"
  printf 'Kafka ready: %s\n' "$brokers"
}

# Stop the cluster started by lockstep_kafka_start in this shell and remove
# its directory. Safe to call more than once and when nothing was started.
lockstep_kafka_stop() {
  local dir="$_LOCKSTEP_KAFKA_OWNED_DIR"
  [[ -n "$dir" ]] || return 0
  _LOCKSTEP_KAFKA_OWNED_DIR=""
  "$LOCKSTEP_SCRIPTS_DIR/kafka" stop --dir "$dir" || lockstep_log "could not stop Kafka in $dir"
  if [[ "${LOCKSTEP_KAFKA_DIR:-}" == "$dir" ]]; then
    unset LOCKSTEP_KAFKA_BROKERS LOCKSTEP_KAFKA_DIR LOCKSTEP_KAFKACTL
  fi
}
