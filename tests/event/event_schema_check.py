#!/usr/bin/env python3
"""Checks that docs/event.schema.json and Lockstep's event parser agree.

Usage: event_schema_check.py --schema SCHEMA --cases DIR

DIR holds one file per input (the message value, as bytes) and verdicts.tsv, written by
event_schema_test (tests/event/event_schema_test.cpp) after running the real parser on each
input: `NAME<TAB>accept` or `NAME<TAB>reject<TAB>detail`. The key of each message was derived
from the document itself and every input is far below limits.max_event_bytes, so no input is
refused for a reason that needs the message key or the configuration.

The expected verdict of an input is "accept" exactly when
  * it is strict JSON text (the rules the schema's description lists under (3), plus the
    default nesting limit of (2)): checked here, since JSON Schema sees only a parsed value;
  * it validates against the schema (Draft 2020-12, with format checking on, though the
    schema uses no `format` keyword: see below);
  * the two rules the description lists under (4) and (5) hold: `expected_version` written as
    an integer literal, and `occurred_at` a real calendar date whose second 60 falls at
    23:59 UTC, checked by occurred_at_ok() below. The schema leaves out `format: date-time`:
    Python's check of it (the rfc3339-validator module, which Debian 12 does not package)
    refuses every leap second, which RFC 3339 and the parser accept; this test found that.

Exit 0 when every verdict agrees, 1 listing every disagreement, 2 on a usage problem.
"""
import argparse
import json
import math
import os
import re
import sys

MAX_DEPTH = 64  # limits.max_depth's default


class FloatLiteral(float):
    """A number written with a fraction or an exponent."""


class NotStrict(Exception):
    pass


def _pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise NotStrict(f"duplicate key {k!r}")
        seen.add(k)
    return dict(pairs)


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise NotStrict("number out of range")
    return FloatLiteral(value)


def _int(text):
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise NotStrict("number out of range") from None
    return value


def _constant(name):
    raise NotStrict(f"{name} is not JSON")


def _depth(value):
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _check_text(value):
    """NUL characters and unpaired surrogates anywhere, keys included."""
    if isinstance(value, str):
        if "\0" in value:
            raise NotStrict("NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise NotStrict("unpaired surrogate") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_text(v)
    elif isinstance(value, list):
        for v in value:
            _check_text(v)


def strict_json(data):
    """The document, or NotStrict naming the rule it breaks."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise NotStrict("byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotStrict("not UTF-8") from None
    try:
        doc = json.loads(text, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int,
                         parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise NotStrict(f"not JSON: {e.msg}") from None
    if _depth(doc) > MAX_DEPTH:
        raise NotStrict("nested too deep")
    _check_text(doc)
    return doc


DATE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                       r"(?:\.[0-9]+)?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")


def occurred_at_ok(s):
    """Rule (5) of the schema's description only: the day exists in its month, and second 60
    falls at 23:59 UTC. The shape, the ranges and year 0000 are the schema's `pattern`/`not`."""
    m = DATE_TIME.fullmatch(s)
    if not m:
        return True  # the schema's pattern judges it
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if 1 <= month <= 12 and day > days[month - 1]:
        return False
    offset = 0
    if m.group(7):
        offset = (int(m.group(8)) * 60 + int(m.group(9))) * (1 if m.group(7) == "+" else -1)
    return second != 60 or (hour * 60 + minute - offset) % 1440 == 23 * 60 + 59


def expected(doc, validator):
    """(accept?, why) for a strict JSON document."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        return False, "schema: " + "/".join(str(p) for p in e.absolute_path) + ": " + e.message[:120]
    if not isinstance(doc, dict):
        return False, "schema accepted a non-object"
    if isinstance(doc.get("expected_version"), FloatLiteral):
        return False, "rule (4): expected_version not an integer literal"
    at = doc.get("occurred_at")
    if isinstance(at, str) and not occurred_at_ok(at):
        return False, "rule (5): occurred_at"
    return True, "schema and rules"


def read_verdicts(path):
    verdicts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) < 2 or parts[1] not in ("accept", "reject"):
                raise SystemExit(f"bad line in {path}: {line!r}")
            verdicts[parts[0]] = (parts[1] == "accept", parts[2] if len(parts) > 2 else "")
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--cases", required=True)
    args = ap.parse_args()
    try:
        import jsonschema
    except ImportError:
        print("python3-jsonschema is missing (apt-get install python3-jsonschema)", file=sys.stderr)
        return 2
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = getattr(jsonschema.Draft202012Validator, "FORMAT_CHECKER", None)
    if checker is None:  # jsonschema before 4.x's FORMAT_CHECKER (Debian 12 has 4.10)
        checker = jsonschema.draft202012_format_checker
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    verdicts = read_verdicts(os.path.join(args.cases, "verdicts.tsv"))
    disagreements = []
    by_schema = 0
    for name in sorted(verdicts):
        with open(os.path.join(args.cases, name), "rb") as f:
            data = f.read()
        try:
            ok, why = expected(strict_json(data), validator)
            by_schema += 1
        except NotStrict as e:
            ok, why = False, f"not strict JSON ({e})"
        parser_ok, detail = verdicts[name]
        if ok != parser_ok:
            disagreements.append(f"  {name}: schema {'accepts' if ok else 'rejects'} ({why}), "
                                 f"parser {'accepts' if parser_ok else 'rejects'} {detail}".rstrip())
    print(f"{len(verdicts)} inputs, {by_schema} judged by the schema and rules (4) and (5), "
          f"the rest refused as not strict JSON")
    if disagreements:
        print(f"{len(disagreements)} disagreement(s) between {args.schema} and the parser:")
        print("\n".join(disagreements))
        return 1
    print("schema and parser agree on every input")
    return 0


if __name__ == "__main__":
    sys.exit(main())
