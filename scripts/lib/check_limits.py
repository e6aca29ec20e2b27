#!/usr/bin/env python3
"""Size limits of the C++ sources: files over MAX_FILE lines, functions over MAX_FUNCTION lines.

Usage: python3 scripts/lib/check_limits.py [--max-file N] [--max-function N] [DIR ...]
(default DIRs: common worker). Prints one line per offender and exits 1 if there is any.

A function is a body `{ … }` opened at namespace or class scope after a parenthesised declarator
(a free function, a member function, a constructor with its initialiser list, a namespace-scope
lambda); its length runs from the first line of its declaration to its closing brace. Lambdas and
local classes inside a function count as part of it. Comments, string and character literals (raw
strings too) and preprocessor lines are blanked before the scan, so their braces do not count.
"""
import argparse
import pathlib
import re
import sys

EXTENSIONS = {".cpp", ".hpp", ".h", ".cc"}
NOT_A_FUNCTION = re.compile(r"\b(class|struct|union|enum|namespace)\b|\bextern\s*$")


def blank(text):
    """The text with comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            j = i
            while j < n and (text[j] != "\n" or text[j - 1] == "\\"):
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c == "\n":
            line_start = True
            out.append(c)
            i += 1
            continue
        if not c.isspace():
            line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('"', i + 1) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                out.append(c)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_templates(header):
    """`template <…>` prefixes removed, so `template <class T>` does not read as a class."""
    while True:
        m = re.search(r"\btemplate\s*<", header)
        if not m:
            return header
        depth, j = 1, m.end()
        while j < len(header) and depth:
            depth += {"<": 1, ">": -1}.get(header[j], 0)
            j += 1
        header = header[: m.start()] + " " + header[j:]


def is_function_header(header):
    h = strip_templates(header).strip()
    if "(" not in h:
        return False
    before_paren = h[: h.index("(")]
    if NOT_A_FUNCTION.search(before_paren):
        return False
    if "=" in before_paren and "](" not in h.replace(" ", ""):
        return False  # a variable initialised with braces, not a lambda
    return True


def functions(text):
    """(name, first line, last line) of every function body at namespace or class scope."""
    code = blank(text)
    found = []
    stack = []  # one entry per open brace: "scope", "function" or "other"
    header_start = 0  # offset where the current declaration began
    init_list = False  # inside a constructor's initialiser list, between `) :` and its body
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        in_function = "function" in stack
        if c in ";}" and not in_function:
            if c == "}" and stack:
                stack.pop()
            header_start, init_list = i + 1, False
        elif c == "}":
            kind = stack.pop()
            if kind == "function" and "function" not in stack:
                found[-1][2] = code.count("\n", 0, i) + 1
                header_start, init_list = i + 1, False
        elif c == "{" and in_function:
            stack.append("other")
        elif c == "{":
            header = code[header_start:i]
            prev = code[:i].rstrip()[-1:] if code[:i].strip() else ""
            if init_list and (prev.isalnum() or prev == "_" or prev == ">"):
                stack.append("other")  # a member's brace initialiser
            elif is_function_header(header):
                stack.append("function")
                first = header_start + len(header) - len(header.lstrip())
                name = re.findall(r"([~\w:]+)\s*\(", strip_templates(header))
                found.append([name[0] if name else "?", code.count("\n", 0, first) + 1, None])
                init_list = False
            else:
                stack.append("scope")
                header_start = i + 1
        elif c == ":" and not in_function and not init_list:
            before = code[header_start:i].rstrip()
            if before.endswith(")") and code[i + 1:i + 2] != ":" and code[i - 1:i] != ":":
                init_list = True
        i += 1
    return [(name, first, last) for name, first, last in found if last is not None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-file", type=int, default=400)
    parser.add_argument("--max-function", type=int, default=80)
    parser.add_argument("dirs", nargs="*", default=["common", "worker"])
    args = parser.parse_args()
    offenders = 0
    for top in args.dirs:
        for path in sorted(pathlib.Path(top).rglob("*")):
            if path.suffix not in EXTENSIONS or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
            if lines > args.max_file:
                print(f"file     {path}: {lines} lines")
                offenders += 1
            for name, first, last in functions(text):
                length = last - first + 1
                if length > args.max_function:
                    print(f"function {path}:{first} {name}: {length} lines")
                    offenders += 1
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
