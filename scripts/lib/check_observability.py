#!/usr/bin/env python3
"""The Python steps of scripts/check-observability:

  check_observability.py dashboard-rules DASHBOARD OUT_RULES
      the Grafana dashboard's panel queries, Grafana variables substituted,
      written to OUT_RULES as recording rules for `promtool check rules`
  check_observability.py metric-names METRICS_TXT METRICS_CPP DASHBOARD RULES
      every lockstep_* name used by the dashboard and the alert rules is in the
      live worker's /metrics (METRICS_TXT) or, failing that, declared in
      METRICS_CPP

Exits non-zero (with the reason) when a check fails.
"""
import json, re, sys

NAME = re.compile(r"\blockstep_[a-zA-Z0-9_]+")
SUFFIXES = ("_bucket", "_sum", "_count")


def panels(ps):
    """Every panel, those inside rows included."""
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))


def dashboard_rules(dashboard, out):
    dash = json.load(open(dashboard))
    if dash.get("schemaVersion", 0) < 30 or not dash.get("uid") or not dash.get("title"):
        sys.exit("dashboard: schemaVersion >= 30, uid and title are required")
    subst = [("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"),
             ("${job}", "lockstep"), ("$job", "lockstep"), ("${instance}", ".*"), ("$instance", ".*")]

    rules, n_panels = [], 0
    for p in panels(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        n_panels += 1
        targets = p.get("targets") or []
        if not targets:
            sys.exit(f"dashboard: panel {p.get('id')} ({p.get('title')!r}) has no query")
        for t in targets:
            expr = t.get("expr", "")
            for a, b in subst:
                expr = expr.replace(a, b)
            if "$" in expr:
                sys.exit(f"dashboard: panel {p.get('id')}: unknown variable in {t.get('expr')!r}")
            rules.append({"record": f"dashboard:panel_{p['id']}_{t.get('refId', 'A')}", "expr": expr})
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(out, "w"), indent=1)
    print(f"dashboard: {n_panels} panels, {len(rules)} queries")


def base(name):
    for s in SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def metric_names(metrics_txt, metrics_cpp, dashboard, rules):
    live, live_families = set(), {}
    for line in open(metrics_txt):
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            live_families[name] = kind
            live.add(name)
            if kind in ("histogram", "summary"):
                live.update(name + s for s in SUFFIXES)
        elif line and not line.startswith("#"):
            live.add(re.split(r"[{ ]", line, 1)[0])
    declared = set(re.findall(r'"(lockstep_[a-z0-9_]+)"', open(metrics_cpp).read()))

    used = {}  # name -> where
    dash = json.load(open(dashboard))
    for p in panels(dash.get("panels", [])):
        for t in p.get("targets") or []:
            for n in NAME.findall(t.get("expr", "")):
                used.setdefault(n, set()).add(f"dashboard panel {p.get('id')}")
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        for n in NAME.findall(q + " " + v.get("definition", "")):
            used.setdefault(n, set()).add(f"dashboard variable {v.get('name')}")
    for i, line in enumerate(open(rules), 1):
        if line.lstrip().startswith("#"):
            continue
        for n in NAME.findall(line):
            used.setdefault(n, set()).add(f"{rules}:{i}")

    bad = 0
    for n in sorted(used):
        if n in live:
            continue
        if n in declared or base(n) in declared:
            print(f"note: {n} is declared in {metrics_cpp} but not in the live /metrics output")
            continue
        print(f"UNKNOWN metric {n} used in {', '.join(sorted(used[n]))}")
        bad += 1
    unused = sorted(f for f in live_families if f.startswith("lockstep_") and f not in used
                    and not any(f + s in used for s in SUFFIXES))
    for f in unused:
        print(f"note: exported family {f} is not on the dashboard or in an alert")
    print(f"{len(used)} lockstep_* names used, all exported" if not bad else f"{bad} unknown names")
    sys.exit(1 if bad else 0)


def main():
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "dashboard-rules" and len(args) == 2:
        dashboard_rules(*args)
    elif cmd == "metric-names" and len(args) == 4:
        metric_names(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
