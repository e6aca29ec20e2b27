#!/usr/bin/env bash
# The build steps of the Dockerfile, in one place: the Dockerfile RUNs this
# script, and scripts/check-docker runs the very same steps outside Docker
# (no Docker engine in CI), so the package lists and the build command are
# checked on every CI run.
#
#   docker-build.sh build-deps         install the build stage's packages
#   docker-build.sh build SRC BUILD    configure SRC into BUILD (Release, no
#                                      tests, no -Werror) and build the
#                                      target lockstep
#   docker-build.sh runtime-deps       install the runtime stage's packages
#   docker-build.sh list build|runtime print a package list, one per line
#
# Installing only installs what is missing (so outside Docker, on a machine
# that has them, it changes nothing and never upgrades anything); it runs
# `apt-get update` first only then. LOCKSTEP_APT_CLEAN=1 (set by the
# Dockerfile) removes apt's lists afterwards, to keep the image small.
# LOCKSTEP_DOCKER_JOBS sets the build's parallelism (default: nproc).
set -euo pipefail

# Build stage (debian:12): the compiler and the -dev packages of
# LOCKSTEP_DEPS (scripts/lib/common.sh) that the lockstep target needs; not the
# test-only ones (GoogleTest, the PostgreSQL server, psql, the sqlite3 CLI) nor
# git, curl; libsqlite3-dev is here since lockstep links the embedded SQLite
# store (database.url sqlite:...). scripts/check-docker checks that
# this is a subset of LOCKSTEP_DEPS and that every header, CMake package and
# library the build uses belongs to one of these packages or what they
# depend on.
BUILD_PACKAGES=(
  build-essential cmake pkg-config
  librdkafka-dev libpqxx-dev libpq-dev libboost-dev nlohmann-json3-dev libsimdjson-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libsqlite3-dev libcli11-dev
)

# Runtime stage (debian:12-slim): the shared libraries build/bin/lockstep
# needs (scripts/check-docker maps every library `ldd` reports to its
# package and checks it is here or a dependency of these), plus curl for the
# HEALTHCHECK and ca-certificates for TLS to brokers and database.
RUNTIME_PACKAGES=(
  librdkafka1 librdkafka++1 libpqxx-6.4 libpq5 libyaml-cpp0.7
  libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libsqlite3-0 libsimdjson14 libstdc++6 libgcc-s1
  curl ca-certificates
)

log() { printf '[docker-build] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

install_packages() { # what pkg...
  local what="$1" missing=() p
  shift
  for p in "$@"; do
    installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "$what packages: all $# installed"
  else
    [[ "$(id -u)" -eq 0 ]] || die "missing $what packages (run as root to install): ${missing[*]}"
    log "$what packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if [[ "${LOCKSTEP_APT_CLEAN:-0}" == 1 ]]; then
    apt-get clean
    rm -rf /var/lib/apt/lists/*
  fi
}

build() { # SRC BUILD
  local src="$1" dir="$2" jobs="${LOCKSTEP_DOCKER_JOBS:-$(nproc)}"
  [[ -f "$src/CMakeLists.txt" ]] || die "$src has no CMakeLists.txt"
  log "configuring $src into $dir"
  # Release is -O3, where GCC 12 reports false positives inside libstdc++
  # (-Wrestrict in std::string's operator+, GCC bug 105651): warnings stay
  # warnings here; -Werror is enforced by the RelWithDebInfo build in
  # scripts/test.
  cmake -S "$src" -B "$dir" -DLOCKSTEP_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DLOCKSTEP_WERROR=OFF
  log "building target lockstep with $jobs jobs"
  cmake --build "$dir" -j"$jobs" --target lockstep
  [[ -x "$dir/bin/lockstep" ]] || die "$dir/bin/lockstep was not built"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  build-deps) install_packages build "${BUILD_PACKAGES[@]}" ;;
  runtime-deps) install_packages runtime "${RUNTIME_PACKAGES[@]}" ;;
  build)
    [[ $# -eq 3 ]] || usage
    build "$2" "$3"
    ;;
  list)
    case "${2:-}" in
      build) printf '%s\n' "${BUILD_PACKAGES[@]}" ;;
      runtime) printf '%s\n' "${RUNTIME_PACKAGES[@]}" ;;
      *) usage ;;
    esac
    ;;
  *) usage ;;
esac
