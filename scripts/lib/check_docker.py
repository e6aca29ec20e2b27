#!/usr/bin/env python3
"""The checks of scripts/check-docker (python3 + PyYAML), one subcommand a check:

  check_docker.py dockerfile ROOT DOCKERFILE CONFIG BUILD_DIR FACTS_OUT
  check_docker.py compose ROOT COMPOSE_FILE FACTS CONFIG ALLOWED_ENV REQUIRED_ENV OUT
  check_docker.py build-packages ROOT BUILD_DIR PACKAGE...
  check_docker.py runtime-libs BINARY FACTS COMPOSE_FACTS PACKAGE...
  check_docker.py smoke ROOT BUILD_DIR FACTS COMPOSE_FACTS

Run by scripts/check-docker, which says what each check covers; each prints
"ok: ..." or its "FAIL: ..." lines on stderr and exits 1 on a failure.
"""
import base64, glob, json, os, re, shlex, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.parse, urllib.request

import yaml

ERRORS = []


def err(msg):
    ERRORS.append(msg)


def done(ok_msg):
    if ERRORS:
        for e in ERRORS:
            print("  FAIL: " + e, file=sys.stderr)
        sys.exit(1)
    print("  ok: " + ok_msg, file=sys.stderr)
    sys.exit(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ----------------------------------------------------------------- Dockerfile
def parse_dockerfile(path):
    """[(line, KEYWORD, rest)] with continuations joined, comments dropped."""
    out, cur, start = [], "", None
    for no, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        s = line.strip()
        if s.startswith("#") or (not cur and not s):
            continue
        if start is None:
            start = no
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        kw, _, rest = cur.strip().partition(" ")
        out.append((start, kw.upper(), rest.strip()))
        cur, start = "", None
    if cur:
        err(f"Dockerfile: line {start}: continuation at end of file")
    return out


def exec_form(rest, what, line):
    try:
        v = json.loads(rest)
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            return v
    except ValueError:
        pass
    err(f"Dockerfile:{line}: {what} must be in exec (JSON) form so that signals reach lockstep, got: {rest}")
    return None


def copy_args(rest):
    words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags[k] = v
    return flags, words[:-1], words[-1] if words else None


def dockerfile_facts(root, dockerfile, config, build_dir):
    host_major = open("/etc/debian_version").read().strip().split(".")[0]
    instrs = parse_dockerfile(dockerfile)
    stages = []
    for line, kw, rest in instrs:
        if kw == "FROM":
            w = rest.split()
            name = w[2] if len(w) >= 3 and w[1].upper() == "AS" else None
            stages.append({"line": line, "image": w[0], "name": name, "instrs": []})
        elif not stages:
            if kw != "ARG":
                err(f"Dockerfile:{line}: {kw} before FROM")
        else:
            stages[-1]["instrs"].append((line, kw, rest))
    if len(stages) < 2:
        err("Dockerfile: expected a build stage and a runtime stage")
        return None
    runtime = stages[-1]
    # The runtime stage copies the binary from the build stage.
    bin_copy = None
    for line, kw, rest in runtime["instrs"]:
        if kw == "COPY":
            flags, srcs, dest = copy_args(rest)
            if "from" in flags and len(srcs) == 1 and srcs[0].endswith("/bin/lockstep"):
                bin_copy = (line, flags["from"], srcs[0], dest)
    if not bin_copy:
        err("Dockerfile: the last stage has no COPY --from=<stage> <dir>/bin/lockstep <dest>")
        return None
    build = next((s for s in stages if s["name"] == bin_copy[1]), None)
    if not build:
        err(f"Dockerfile:{bin_copy[0]}: COPY --from={bin_copy[1]}: no stage of that name")
        return None
    out_dir = bin_copy[2][: -len("/bin/lockstep")]
    for st, want in ((build, f"debian:{host_major}"), (runtime, f"debian:{host_major}-slim")):
        if st["image"] != want:
            err(f"Dockerfile:{st['line']}: FROM {st['image']}: expected {want} (the packages are checked on this "
                f"Debian {host_major} host; change both together)")

    facts = {"build_steps": [], "runtime_steps": []}
    # Build stage: the script COPY, the source COPY, RUNs of the script only.
    script_cmd, src_dir = None, None
    for line, kw, rest in build["instrs"]:
        if kw == "COPY":
            flags, srcs, dest = copy_args(rest)
            if srcs == ["scripts/docker-build.sh"]:
                script_cmd = dest
            elif srcs == ["."]:
                src_dir = dest.rstrip("/") or "/"
            else:
                err(f"Dockerfile:{line}: build stage COPY {rest}: only scripts/docker-build.sh and . are expected")
        elif kw == "RUN":
            if script_cmd is None:
                err(f"Dockerfile:{line}: RUN before COPY scripts/docker-build.sh")
                continue
            words = shlex.split(rest)
            if not words or words[0] not in (script_cmd, os.path.basename(script_cmd)) or \
                    any(w in ("&&", "||", ";", "|") or "$" in w or "`" in w for w in words):
                err(f"Dockerfile:{line}: build stage RUN {rest!r} is not a plain `{os.path.basename(script_cmd)} ...` "
                    "call; put the step into scripts/docker-build.sh so that scripts/check-docker runs it too")
                continue
            argv = [os.path.join(root, "scripts/docker-build.sh")]
            for w in words[1:]:
                if w == src_dir:
                    argv.append(root)
                elif w == out_dir:
                    argv.append(build_dir)
                elif w.startswith("/"):
                    err(f"Dockerfile:{line}: RUN argument {w}: neither the source ({src_dir}) nor the "
                        f"build directory ({out_dir}) copied from")
                else:
                    argv.append(w)
            facts["build_steps"].append(argv)
        elif kw in ("WORKDIR", "LABEL"):
            pass
        else:
            err(f"Dockerfile:{line}: {kw} in the build stage is not reproduced by scripts/check-docker")
    if src_dir is None:
        err("Dockerfile: the build stage has no COPY . <src>")
    if not any(len(a) > 1 and a[1] == "build" for a in facts["build_steps"]):
        err("Dockerfile: the build stage never RUNs `lockstep-docker-build build SRC BUILD`")

    # Runtime stage.
    copies, user, expose, hc, entry, cmd = {}, None, [], None, None, None
    rt_script = None
    for line, kw, rest in runtime["instrs"]:
        if kw == "COPY":
            flags, srcs, dest = copy_args(rest)
            if "from" in flags:
                continue
            for s in srcs:
                if not os.path.exists(os.path.join(root, s)):
                    err(f"Dockerfile:{line}: COPY source {s} does not exist")
                if s == "scripts/docker-build.sh":
                    rt_script = dest
            if len(srcs) == 1:
                copies[dest] = srcs[0]
        elif kw == "RUN":
            words = shlex.split(rest)
            for i, w in enumerate(words[:-1]):
                if rt_script and w in (rt_script, os.path.basename(rt_script)) and \
                        words[i + 1] in ("runtime-deps", "build-deps"):
                    facts["runtime_steps"].append([os.path.join(root, "scripts/docker-build.sh"), words[i + 1]])
        elif kw == "USER":
            user = rest.split(":")[0]
        elif kw == "EXPOSE":
            expose += [p.split("/")[0] for p in rest.split()]
        elif kw == "HEALTHCHECK":
            m = re.match(r"^((?:--\S+\s+)*)CMD\s+(.*)$", rest, re.S)
            if not m:
                err(f"Dockerfile:{line}: HEALTHCHECK without CMD")
            else:
                hc = exec_form(m.group(2).strip(), "HEALTHCHECK CMD", line)
        elif kw == "ENTRYPOINT":
            entry = exec_form(rest, "ENTRYPOINT", line)
        elif kw == "CMD":
            cmd = exec_form(rest, "CMD", line)
    if not any(len(a) > 1 and a[1] == "runtime-deps" for a in facts["runtime_steps"]):
        err("Dockerfile: the runtime stage never RUNs `lockstep-docker-build runtime-deps`")
    if user in (None, "root", "0"):
        err("Dockerfile: the runtime stage must switch to a non-root USER")
    bin_dest = bin_copy[3]
    if not (entry and (entry[0] == bin_dest or (os.path.dirname(bin_dest) in ("/usr/local/bin", "/usr/bin", "/bin")
                                                and entry[0] == os.path.basename(bin_dest)))):
        err(f"Dockerfile: ENTRYPOINT {entry} does not run the copied binary {bin_dest}")
    # Metrics port: config metrics.listen, EXPOSE, HEALTHCHECK URL.
    cfg = yaml.safe_load(open(config, encoding="utf-8"))
    listen = str(cfg.get("metrics", {}).get("listen", "0.0.0.0:9464"))
    port = listen.rsplit(":", 1)[-1]
    if port not in expose:
        err(f"Dockerfile: EXPOSE {expose} does not include metrics.listen's port {port} ({config})")
    if not hc:
        err("Dockerfile: no HEALTHCHECK")
    else:
        urls = [a for a in hc if a.startswith("http://")]
        if len(urls) != 1 or urllib.parse.urlsplit(urls[0]).port != int(port) or \
                urllib.parse.urlsplit(urls[0]).path not in ("/healthz", "/readyz"):
            err(f"Dockerfile: HEALTHCHECK {hc}: expected one http://127.0.0.1:{port}/healthz (or /readyz) URL")
    if not cmd:
        err("Dockerfile: no CMD")
    else:
        if "--config" in cmd:
            i = cmd.index("--config")
            p = cmd[i + 1] if i + 1 < len(cmd) else ""
            if p not in copies:
                err(f"Dockerfile: CMD --config {p}: not a file the image COPYs (copied: {sorted(copies)})")
    facts.update({"copies": copies, "binary_dest": bin_dest, "healthcheck": hc, "entrypoint": entry, "cmd": cmd,
                  "port": port, "user": user})
    return facts


def cmd_dockerfile(root, dockerfile, config, build_dir, facts_out):
    facts = dockerfile_facts(root, dockerfile, config, build_dir)
    if facts:
        json.dump(facts, open(facts_out, "w"), indent=1)
        with open(facts_out + ".steps", "w") as f:
            for argv in facts["build_steps"]:
                f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
        with open(facts_out + ".runtime-steps", "w") as f:
            for argv in facts["runtime_steps"]:
                f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
    done(f"{len(facts['build_steps']) if facts else 0} build steps, runtime stage sane")


# -------------------------------------------------------------------- compose
INTERP = re.compile(r"\$\$|\$\{(?P<b>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
                    r"|\$(?P<p>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(v, where):
    """Compose interpolation with the defaults (the environment is ignored: the
    file must work without a .env)."""
    if isinstance(v, dict):
        return {k: interpolate(x, f"{where}.{k}") for k, x in v.items()}
    if isinstance(v, list):
        return [interpolate(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if not isinstance(v, str):
        return v

    def rep(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group("b") or m.group("p")
        if m.group("op") in (":-", "-"):
            return m.group("arg")
        err(f"{where}: ${{{name}}} has no default (use ${{{name}:-default}})")
        return ""

    return INTERP.sub(rep, v)


def env_of(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, None) for x in e)
    return {k: (None if v is None else str(v)) for k, v in e.items()}


def health_enabled(svc, image_hc):
    hc = svc.get("healthcheck")
    if hc is not None:
        if hc.get("disable"):
            return False
        t = hc.get("test")
        if t in ("NONE", ["NONE"]):
            return False
        if t:
            return True
    return bool(image_hc and "build" in svc)


def mounts(svc):
    """[(type, source, target)] for bind mounts and volumes."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            src, dst = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
            if src is None:
                out.append(("anon", None, dst))
            elif src.startswith((".", "/", "~")):
                out.append(("bind", src, dst))
            else:
                out.append(("volume", src, dst))
        else:
            out.append((v.get("type", "volume"), v.get("source"), v.get("target")))
    return out


def host_path_for(svc, container_path, base):
    """Host path that provides container_path through a bind mount, or None."""
    best = None
    for typ, src, dst in mounts(svc):
        if typ != "bind":
            continue
        dst = dst.rstrip("/")
        if container_path == dst or container_path.startswith(dst + "/"):
            if best is None or len(dst) > len(best[1]):
                best = (src, dst)
    if not best:
        return None
    return os.path.normpath(os.path.join(base, best[0], os.path.relpath(container_path, best[1])))


def cmd_compose(root, compose_file, facts_file, config, allowed, required, out):
    facts = json.load(open(facts_file))
    base = os.path.dirname(os.path.abspath(compose_file))
    try:
        raw = yaml.safe_load(open(compose_file, encoding="utf-8"))
    except yaml.YAMLError as e:
        err(f"{compose_file}: not valid YAML: {e}")
        done("")
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict) or not raw["services"]:
        err("docker-compose.yml: no services")
        done("")
    if "version" in raw:
        err("docker-compose.yml: top-level `version:` is obsolete in the Compose Specification; remove it")
    doc = interpolate({k: v for k, v in raw.items() if not str(k).startswith("x-")}, "docker-compose.yml")
    services = doc["services"]
    declared_volumes = set((doc.get("volumes") or {}).keys())
    image_hc = facts.get("healthcheck")

    def port_of(hostport):
        return hostport.rsplit(":", 1)[-1]

    # Per service: health check or one-shot; depends_on; mounts; build.
    deps = {}
    waited_complete = set()
    for name, svc in services.items():
        where = f"services.{name}"
        if not isinstance(svc, dict):
            err(f"{where}: not a mapping")
            continue
        if "image" not in svc and "build" not in svc:
            err(f"{where}: neither image nor build")
        one_shot = str(svc.get("restart", "no")) == "no" and "restart" in svc
        if not health_enabled(svc, image_hc) and not one_shot:
            err(f"{where}: no health check and not a one-shot job (restart: \"no\")")
        d = svc.get("depends_on") or {}
        if isinstance(d, list):
            d = {x: {"condition": "service_started"} for x in d}
        deps[name] = d
        for target, spec in d.items():
            cond = (spec or {}).get("condition", "service_started")
            if target not in services:
                err(f"{where}.depends_on: no service {target!r}")
                continue
            t = services[target]
            if cond == "service_healthy" and not health_enabled(t, image_hc):
                err(f"{where}.depends_on.{target}: service_healthy, but {target} has no health check")
            elif cond == "service_completed_successfully":
                waited_complete.add(target)
                if str(t.get("restart", "no")) != "no":
                    err(f"{where}.depends_on.{target}: service_completed_successfully, but {target} restarts")
            elif cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                err(f"{where}.depends_on.{target}: unknown condition {cond!r}")
        for typ, src, dst in mounts(svc):
            if typ == "bind":
                if src.startswith(("/", "~")):
                    err(f"{where}.volumes: {src}: absolute host path (use a path inside the repository)")
                elif not os.path.exists(os.path.join(base, src)):
                    err(f"{where}.volumes: {src} does not exist (relative to {base})")
            elif typ == "volume" and src not in declared_volumes:
                err(f"{where}.volumes: named volume {src!r} is not declared under top-level volumes")
        if "build" in svc:
            b = svc["build"]
            ctx, df = (b, "Dockerfile") if isinstance(b, str) else (b.get("context", "."), b.get("dockerfile", "Dockerfile"))
            if os.path.realpath(os.path.join(base, ctx)) != os.path.realpath(root) or \
                    os.path.realpath(os.path.join(base, ctx, df)) != os.path.realpath(os.path.join(root, "Dockerfile")):
                err(f"{where}.build: context {ctx!r} / dockerfile {df!r} is not the repository's Dockerfile")
    for name, svc in services.items():
        if str(svc.get("restart", "")) == "no" and name not in waited_complete:
            err(f"services.{name}: one-shot job nobody waits for (depends_on ... service_completed_successfully)")
    # Cycles.
    state = {}

    def visit(n, path):
        if state.get(n) == 1:
            err("depends_on cycle: " + " -> ".join(path + [n]))
            return
        if state.get(n) == 2:
            return
        state[n] = 1
        for t in deps.get(n, {}):
            if t in services:
                visit(t, path + [n])
        state[n] = 2

    for n in services:
        visit(n, [])

    # The services built from the Dockerfile: env names, commands.
    built = {n: s for n, s in services.items() if "build" in s}
    if not built:
        err("no service is built from the Dockerfile")
        done("")
    commands, worker = {}, None
    for name, svc in built.items():
        c = svc.get("command", facts.get("cmd"))
        if isinstance(c, str):
            c = shlex.split(c)
        if svc.get("entrypoint") is not None:
            err(f"services.{name}: entrypoint overridden; keep the image's ENTRYPOINT")
        commands[name] = c
        if c and c[0] == "run":
            if worker:
                err(f"services {worker} and {name} both run the worker")
            worker = name
        if c and "--config" in c:
            i = c.index("--config")
            if i + 1 >= len(c) or c[i + 1] not in facts["copies"]:
                err(f"services.{name}.command: --config {c[i + 1] if i + 1 < len(c) else ''}: not a file the image contains")
        for k in env_of(svc):
            if k.startswith("LOCKSTEP_") and k not in allowed:
                err(f"services.{name}.environment: {k} is not one of the documented variables {sorted(allowed)}")
    if not worker:
        err("no service runs the worker (command: [\"run\", ...])")
        done("")
    wsvc = services[worker]
    wenv = env_of(wsvc)
    for k in required:
        if not wenv.get(k):
            err(f"services.{worker}.environment: {k} is not set")
    # Brokers -> a compose service's advertised listener.
    for hp in (wenv.get("LOCKSTEP_KAFKA_BROKERS") or "").split(","):
        hp = hp.strip()
        host = hp.split("://")[-1].rsplit(":", 1)[0]
        if not hp:
            continue
        if host not in services:
            err(f"LOCKSTEP_KAFKA_BROKERS: {hp}: {host} is not a compose service")
            continue
        kenv = env_of(services[host])
        adv = kenv.get("KAFKA_ADVERTISED_LISTENERS") or ""
        if hp.split("://")[-1] not in [a.split("://")[-1] for a in adv.split(",")]:
            err(f"LOCKSTEP_KAFKA_BROKERS: {hp} is not an advertised listener of {host} ({adv})")
        if worker not in deps or not any(
                host in deps.get(x, {}) for x in [worker] + list(deps[worker])):
            err(f"services.{worker}: does not wait for {host} (directly or through a job)")
        cid = kenv.get("CLUSTER_ID")
        if cid is not None:
            try:
                ok = len(cid) == 22 and len(base64.urlsafe_b64decode(cid + "==")) == 16
            except ValueError:
                ok = False
            if not ok:
                err(f"services.{host}.environment.CLUSTER_ID: {cid!r} is not a base64 UUID (22 characters)")
    # Database URL -> the postgres service's database, user and password.
    urls = {n: env_of(s).get("LOCKSTEP_DATABASE_URL") for n, s in built.items()}
    for n, u in urls.items():
        if not u:
            err(f"services.{n}.environment: LOCKSTEP_DATABASE_URL is not set")
            continue
        pu = urllib.parse.urlsplit(u)
        if pu.scheme not in ("postgresql", "postgres"):
            err(f"services.{n}: LOCKSTEP_DATABASE_URL is not a postgresql:// URL")
            continue
        if pu.hostname not in services:
            err(f"services.{n}: LOCKSTEP_DATABASE_URL host {pu.hostname} is not a compose service")
            continue
        penv = env_of(services[pu.hostname])
        want = {"POSTGRES_DB": pu.path.lstrip("/"), "POSTGRES_USER": pu.username,
                "POSTGRES_PASSWORD": urllib.parse.unquote(pu.password or "")}
        for k, v in want.items():
            if k in penv and penv[k] != v:
                err(f"services.{n}: LOCKSTEP_DATABASE_URL {k[9:].lower()} does not match services.{pu.hostname}.{k}")
    if len(set(urls.values())) > 1:
        err("the services built from the Dockerfile use different LOCKSTEP_DATABASE_URLs")
    # Topics: kafka-init (the one-shot job using a Kafka image) creates them.
    cfg = yaml.safe_load(open(config, encoding="utf-8"))
    topics = cfg["kafka"]["topics"]
    topics = list(topics.keys()) if isinstance(topics, dict) else \
        [t if isinstance(t, str) else t["topic"] for t in topics]
    topics.append(cfg["kafka"]["dead_letter_topic"])
    if cfg["kafka"].get("outcome_topic"):
        topics.append(cfg["kafka"]["outcome_topic"])
    # Either a one-shot job of this image runs `lockstep topics ensure` (it
    # creates whatever the mounted config names), or kafka-init style jobs of
    # a Kafka image create each topic with --create ... --topic T.
    def argv_of(svc):
        c = svc.get("command") or []
        return c if isinstance(c, list) else str(c).split()
    ensurers = [n for n in waited_complete if n in built and argv_of(services[n])[:2] == ["topics", "ensure"]]
    for n in ensurers:
        if not host_path_for(services[n], "/etc/lockstep/lockstep.yaml", base) and \
                "/etc/lockstep/lockstep.yaml" not in argv_of(services[n]):
            err(f"services.{n}: `topics ensure` does not read /etc/lockstep/lockstep.yaml")
    if ensurers:
        topics = []
    inits = [n for n in waited_complete if n not in built]
    text = "\n".join(
        "\n".join(c if isinstance(c, list) else [str(c)]) for n in inits
        for c in [services[n].get("command") or [], services[n].get("entrypoint") or []])
    creates = [l for l in text.replace("\\\n", " ").splitlines()
               if not l.strip().startswith("#") and "--create" in l]
    for t in topics:
        if not any(re.search(r"--topic[\s=]+['\"]?" + re.escape(t) + r"['\"]?(\s|$)", l) for l in creates):
            err(f"topic {t} (config/lockstep.yaml) is not created (--create ... --topic {t}) by a one-shot job "
                f"({', '.join(inits) or 'none'})")
    # Worker port: LOCKSTEP_METRICS_LISTEN, health check, published port.
    port = port_of(wenv.get("LOCKSTEP_METRICS_LISTEN") or "0.0.0.0:" + facts["port"])
    if port != facts["port"]:
        err(f"services.{worker}: metrics port {port} differs from the image's EXPOSE/HEALTHCHECK port {facts['port']}")
    whc = (wsvc.get("healthcheck") or {}).get("test") or ["CMD"] + (facts.get("healthcheck") or [])
    if isinstance(whc, str):
        whc = ["CMD-SHELL", whc]
    whc_argv = whc[1:] if whc[0] == "CMD" else ["sh", "-c", " ".join(whc[1:])]
    hc_urls = [urllib.parse.urlsplit(a) for a in whc_argv if a.startswith("http")]
    if not hc_urls or str(hc_urls[0].port) != port or hc_urls[0].path != "/readyz":
        err(f"services.{worker}.healthcheck: expected an exec-form check of http://127.0.0.1:{port}/readyz, got {whc}")
    published = [str(p).split(":")[-1].split("/")[0] for p in wsvc.get("ports") or []]
    if port not in published:
        err(f"services.{worker}.ports: the metrics port {port} is not published")
    # Prometheus scrapes the worker; Grafana reads Prometheus and the dashboard.
    prom = next((n for n, s in services.items() if str(s.get("image", "")).startswith("prom/prometheus")), None)
    graf = next((n for n, s in services.items() if str(s.get("image", "")).startswith("grafana/grafana")), None)
    if not prom or not graf:
        err("no prom/prometheus or grafana/grafana service")
    else:
        pcfg = host_path_for(services[prom], "/etc/prometheus/prometheus.yml", base)
        if not pcfg or not os.path.isfile(pcfg):
            err(f"services.{prom}: nothing mounted provides /etc/prometheus/prometheus.yml")
        else:
            pdoc = yaml.safe_load(open(pcfg, encoding="utf-8"))
            targets = [t for sc in pdoc.get("scrape_configs") or [] for st in sc.get("static_configs") or []
                       for t in st.get("targets") or []]
            if f"{worker}:{port}" not in targets:
                err(f"{os.path.relpath(pcfg, root)}: no scrape target {worker}:{port} (targets: {targets})")
            for rf in pdoc.get("rule_files") or []:
                rp = rf if rf.startswith("/") else os.path.join("/etc/prometheus", rf)
                hp = host_path_for(services[prom], rp, base)
                if not hp or not glob.glob(hp):
                    err(f"{os.path.relpath(pcfg, root)}: rule file {rf} is not mounted into {prom}")
        prov = host_path_for(services[graf], "/etc/grafana/provisioning", base)
        if not prov or not os.path.isdir(prov):
            err(f"services.{graf}: /etc/grafana/provisioning is not mounted")
        else:
            ds_urls = [d.get("url") for f in sorted(glob.glob(os.path.join(prov, "datasources", "*.y*ml")))
                       for d in (yaml.safe_load(open(f)) or {}).get("datasources") or []]
            if f"http://{prom}:9090" not in ds_urls:
                err(f"grafana datasources: none has url http://{prom}:9090 (found {ds_urls})")
            paths = [p.get("options", {}).get("path") for f in sorted(glob.glob(os.path.join(prov, "dashboards", "*.y*ml")))
                     for p in (yaml.safe_load(open(f)) or {}).get("providers") or []]
            if not paths:
                err("grafana: no dashboard provider under provisioning/dashboards")
            for p in paths:
                files = [m for m in mounts(services[graf]) if m[0] == "bind" and m[2].endswith(".json")
                         and os.path.dirname(m[2].rstrip("/")) == p.rstrip("/")]
                hp = host_path_for(services[graf], p, base)
                if not files and not (hp and glob.glob(os.path.join(hp, "*.json"))):
                    err(f"grafana dashboard provider path {p}: no dashboard JSON mounted there")
                for _, src, _ in files:
                    try:
                        json.load(open(os.path.join(base, src)))
                    except (OSError, ValueError) as e:
                        err(f"{src}: not valid JSON: {e}")
    json.dump({"worker": worker, "worker_healthcheck": whc_argv,
               "commands": sorted({c[0] for c in commands.values() if c})}, open(out, "w"))
    done(f"{len(services)} services: {', '.join(services)}")


# ----------------------------------------------------------------------- dpkg
class Dpkg:
    def __init__(self):
        fmt = "${Package}\\t${Status}\\t${Essential}\\t${Priority}\\t${Pre-Depends}\\t${Depends}\\t${Provides}\\n"
        out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True, check=True).stdout
        self.deps, self.providers, base_roots = {}, {}, []
        for line in out.splitlines():
            f = line.split("\t")
            if len(f) < 7 or not f[1].endswith(" installed"):
                continue
            name = f[0]
            self.deps[name] = self._groups(f[4]) + self._groups(f[5])
            for v in self._groups(f[6]):
                self.providers.setdefault(v[0], []).append(name)
            if f[2] == "yes" or f[3] == "required":
                base_roots.append(name)
        # debian:12 and debian:12-slim contain the Essential and required packages.
        self.base = self.closure(base_roots)
        self.owner = {}
        for lf in glob.glob("/var/lib/dpkg/info/*.list"):
            pkg = os.path.basename(lf)[:-5].split(":")[0]
            with open(lf, encoding="utf-8", errors="surrogateescape") as fh:
                for p in fh.read().splitlines():
                    self.owner.setdefault(p, set()).add(pkg)

    @staticmethod
    def _groups(field):
        groups = []
        for g in field.split(","):
            alts = []
            for a in g.split("|"):
                m = re.match(r"\s*([a-z0-9][a-z0-9+.-]*)", a)
                if m:
                    alts.append(m.group(1))
            if alts:
                groups.append(alts)
        return groups

    def resolve(self, name):
        if name in self.deps:
            return name
        return next((p for p in self.providers.get(name, []) if p in self.deps), None)

    def closure(self, roots):
        seen, todo = set(), list(roots)
        while todo:
            n = self.resolve(todo.pop())
            if not n or n in seen:
                continue
            seen.add(n)
            for alts in self.deps[n]:
                r = next((self.resolve(a) for a in alts if self.resolve(a)), None)
                if r:
                    todo.append(r)
        return seen

    def owners(self, path):
        """Packages owning path, trying the /usr-merged and symlink-resolved names."""
        path = os.path.normpath(path)
        names = [path, os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)),
                 os.path.realpath(path)]
        toggled = []
        for c in names:
            for a, b in (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"),
                         ("/usr/lib64/", "/lib64/")):
                if c.startswith(a):
                    toggled.append(b + c[len(a):])
                elif c.startswith(b):
                    toggled.append(a + c[len(b):])
        found = set()
        for c in names + toggled:
            found |= self.owner.get(c, set())
        return found


def check_owned(dpkg, paths, allowed, what):
    bad, unowned = {}, []
    for p in sorted(paths):
        o = dpkg.owners(p)
        if not o:
            unowned.append(p)
        elif not (o & allowed):
            bad.setdefault(", ".join(sorted(o)), []).append(p)
    for pkgs, ps in sorted(bad.items()):
        err(f"{what}: {len(ps)} file(s) from {pkgs}, not among the listed packages or their dependencies: "
            + ", ".join(ps[:3]) + (" ..." if len(ps) > 3 else ""))
    for p in unowned[:10]:
        err(f"{what}: {p} belongs to no Debian package (it would be missing in the image)")
    return len(paths)


def cmd_build_packages(root, build_dir, *pkgs):
    dpkg = Dpkg()
    missing = [p for p in pkgs if not dpkg.resolve(p)]
    for p in missing:
        err(f"build package {p} is not installed here")
    allowed = dpkg.base | dpkg.closure(pkgs)
    used = set()
    inside = (os.path.realpath(root) + "/", os.path.realpath(build_dir) + "/")
    for d in glob.glob(os.path.join(build_dir, "**", "*.o.d"), recursive=True):
        words = open(d).read().replace("\\\n", " ").split()
        for w in words[1:]:
            w = w.rstrip(":")
            if not w.startswith("/"):
                w = os.path.join(os.path.dirname(d), w)
            used.add(os.path.normpath(w))
    if not used:
        err(f"no compiler dependency files (*.o.d) under {build_dir}: was it built?")
    cache = os.path.join(build_dir, "CMakeCache.txt")
    for line in open(cache, encoding="utf-8"):
        m = re.match(r"^([A-Za-z0-9_+.-]+):(FILEPATH|PATH)=(/.*)$", line.strip())
        if m and m.group(1) != "CMAKE_INSTALL_PREFIX" and os.path.exists(m.group(3)):
            used.add(m.group(3))
    for lt in glob.glob(os.path.join(build_dir, "**", "link.txt"), recursive=True):
        for w in open(lt).read().split():
            if w.startswith("/") and re.search(r"\.(so|a)(\.|$)", w):
                used.add(w)
    used = {p for p in used if not p.startswith(inside) and not os.path.realpath(p).startswith(inside)}
    n = check_owned(dpkg, used, allowed, "build")
    done(f"{n} system files used by the build, all from the build packages or the base image")


def cmd_runtime_libs(binary, facts_file, compose_facts, *pkgs):
    facts = json.load(open(facts_file))
    cfacts = json.load(open(compose_facts)) if os.path.exists(compose_facts) else {}
    dpkg = Dpkg()
    for p in pkgs:
        if not dpkg.resolve(p):
            err(f"runtime package {p} is not installed here")
    allowed = dpkg.base | dpkg.closure(pkgs)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs[os.path.basename(m.group(1))] = m.group(m.lastindex)
        elif "not found" in line:
            err(f"ldd: {line.strip()}")
    check_owned(dpkg, set(libs.values()), allowed, "runtime")
    # Directly linked libraries: their packages are listed (or in the base image).
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout)
    for so in needed:
        o = dpkg.owners(libs.get(so, "/nonexistent"))
        if o and not (o & (set(pkgs) | dpkg.base)):
            err(f"{so} (linked directly) comes from {', '.join(sorted(o))}: list it among the runtime packages")
    # Health-check tools must be installed in the image.
    tools = set()
    for argv in (facts.get("healthcheck") or [], cfacts.get("worker_healthcheck") or []):
        if argv:
            tools.add(argv[0])
    tool_pkgs = set()
    for t in sorted(tools):
        path = t if t.startswith("/") else next(
            (os.path.join(d, t) for d in ("/usr/local/bin", "/usr/bin", "/bin") if os.path.exists(os.path.join(d, t))), None)
        o = dpkg.owners(path) if path else set()
        if not (o & allowed):
            err(f"health check tool {t}: not provided by the runtime packages ({', '.join(sorted(o)) or 'not found'})")
        tool_pkgs |= o
    # No runtime package without a purpose.
    lib_pkgs = set().union(*(dpkg.owners(p) for p in libs.values())) if libs else set()
    for p in pkgs:
        if p not in lib_pkgs and p not in tool_pkgs and p != "ca-certificates":
            err(f"runtime package {p}: provides none of the binary's libraries nor a health check tool")
    done(f"{len(libs)} shared libraries, {len(needed)} linked directly; runtime packages: {' '.join(pkgs)}")


# ---------------------------------------------------------------------- smoke
def cmd_smoke(root, build_dir, facts_file, compose_facts):
    facts = json.load(open(facts_file))
    cfacts = json.load(open(compose_facts)) if os.path.exists(compose_facts) else {}
    binary = os.path.join(build_dir, "bin", "lockstep")
    port = free_port()
    dead = free_port()  # nobody listens there

    def mapped(a):
        if a in facts["copies"]:
            return os.path.join(root, facts["copies"][a])
        return a.replace(":" + facts["port"] + "/", f":{port}/")

    argv = [binary] + [mapped(a) for a in facts["cmd"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")}
    env.update(LOCKSTEP_KAFKA_BROKERS=f"127.0.0.1:{dead}", LOCKSTEP_METRICS_LISTEN=f"127.0.0.1:{port}",
               LOCKSTEP_DATABASE_URL=f"postgresql://lockstep@127.0.0.1:{dead}/lockstep")
    hc = [mapped(a) for a in facts["healthcheck"]]
    rc_hc = [mapped(a) for a in cfacts.get("worker_healthcheck") or []]
    with tempfile.TemporaryDirectory() as cwd, open(os.path.join(cwd, "log"), "w+") as log:
        print("  $ " + " ".join(shlex.quote(a) for a in argv), file=sys.stderr)
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            ok, deadline = False, time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                if subprocess.run(hc, capture_output=True).returncode == 0:
                    ok = True
                    break
                time.sleep(0.3)
            if not ok:
                err(f"HEALTHCHECK {' '.join(hc)} did not succeed within 30 s (exit code {proc.poll()})")
            else:
                print(f"  ok: HEALTHCHECK {' '.join(hc)}", file=sys.stderr)
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
                    err("/readyz answered 200 without database and broker")
                except urllib.error.HTTPError as e:
                    if e.code != 503:
                        err(f"/readyz answered {e.code}, expected 503 without database and broker")
                if rc_hc:
                    r = subprocess.run(rc_hc, capture_output=True)
                    if r.returncode == 0:
                        err(f"compose health check {' '.join(rc_hc)} passed on a worker that is not ready")
                    else:
                        print(f"  ok: compose health check fails while not ready (exit {r.returncode})", file=sys.stderr)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=30)
                    if rc != 0:
                        err(f"SIGTERM: exit code {rc}, expected 0")
                    else:
                        print("  ok: SIGTERM -> exit 0", file=sys.stderr)
                except subprocess.TimeoutExpired:
                    err("SIGTERM: still running after 30 s")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if ERRORS:
                log.seek(0)
                print("  worker log (last lines):\n    " + "\n    ".join(log.read().splitlines()[-15:]), file=sys.stderr)
    done("the image's CMD starts, its HEALTHCHECK passes, SIGTERM exits 0")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "dockerfile":
        cmd_dockerfile(*args)
    elif cmd == "compose":
        root, compose_file, facts, config, allowed, required, out = args
        cmd_compose(root, compose_file, facts, config, set(allowed.split(",")), required.split(","), out)
    elif cmd == "build-packages":
        cmd_build_packages(*args)
    elif cmd == "runtime-libs":
        cmd_runtime_libs(*args)
    elif cmd == "smoke":
        cmd_smoke(*args)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
