# Lockstep worker image: `docker build -t lockstep .` (docker-compose.yml builds it too).
#
# Every step of the build stage runs scripts/docker-build.sh, which holds both
# package lists; scripts/check-docker runs those same steps outside Docker (CI
# has no Docker engine), so keep the build stage's RUN lines calls of
# lockstep-docker-build only.

# --- build -------------------------------------------------------------------
FROM debian:12 AS build
COPY scripts/docker-build.sh /usr/local/bin/lockstep-docker-build
RUN lockstep-docker-build build-deps
COPY . /src
RUN lockstep-docker-build build /src /build

# --- runtime -----------------------------------------------------------------
FROM debian:12-slim
COPY scripts/docker-build.sh /usr/local/bin/lockstep-docker-build
# Shared libraries only (plus curl for the health check), then a non-root
# user. /opt/lockstep/config -> /etc/lockstep, so that every command finds
# the configuration as ./config/lockstep.yaml without --config.
RUN LOCKSTEP_APT_CLEAN=1 lockstep-docker-build runtime-deps \
 && rm /usr/local/bin/lockstep-docker-build \
 && useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin lockstep \
 && mkdir -p /opt/lockstep \
 && ln -s /etc/lockstep /opt/lockstep/config
COPY --from=build /build/bin/lockstep /usr/local/bin/lockstep
COPY config/lockstep.yaml /etc/lockstep/lockstep.yaml
WORKDIR /opt/lockstep
USER lockstep:lockstep
# metrics.listen: /metrics, /healthz, /readyz
EXPOSE 9464
# Liveness only: /readyz (database answers, consumer assigned) is the
# readiness probe; docker-compose.yml uses it for the worker.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["lockstep"]
CMD ["run", "--config", "/etc/lockstep/lockstep.yaml"]
