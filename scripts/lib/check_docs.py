#!/usr/bin/env python3
"""Checks the project's Markdown: README.md, DEVELOPERS.md and docs/*.md.

Usage: check_docs.py [ROOT]   (default: the repository holding this script)

- every relative link `[text](path)` or `[text](path#anchor)` points at a file or directory of the
  repository, and an anchor at a heading of that Markdown file (GitHub's anchor rules);
- no tracked file (code, scripts and config included) refers to documents outside the repository:
  `../shared`, `CONTRACT.md`, "contract §";
- README.md stays a newcomer's page: at most README_MAX_LINES lines (the reference lives in docs/).

Exit 0 when all hold, 1 listing every problem.
"""
import os
import re
import subprocess
import sys

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")
FORBIDDEN = [re.compile(p, re.IGNORECASE) for p in (r"\.\./shared", r"CONTRACT\.md", r"contract §")]
README_MAX_LINES = 300
SELF = os.path.join("scripts", "lib", "check_docs.py")


def markdown_files(root):
    files = [os.path.join(root, n) for n in ("README.md", "DEVELOPERS.md")]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += sorted(os.path.join(docs, n) for n in os.listdir(docs) if n.endswith(".md"))
    return [f for f in files if os.path.isfile(f)]


def anchors(path):
    """GitHub's heading anchors of a Markdown file."""
    found, counts, in_fence = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line):
                in_fence = not in_fence
            if in_fence or not line.startswith("#"):
                continue
            text = line.lstrip("#").strip().lower()
            text = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            n = counts.get(text, 0)
            counts[text] = n + 1
            found.add(text if n == 0 else f"{text}-{n}")
    return found


def links(path):
    """(line number, target) of every inline link outside code blocks."""
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
                yield number, m.group(1)


def tracked_files(root):
    """The repository's files (git ls-files; without git, the Markdown files)."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True, check=True).stdout
        return [os.path.join(root, n) for n in out.decode().split("\0") if n and n != SELF]
    except (OSError, subprocess.CalledProcessError):
        return markdown_files(root)


def forbidden_references(root):
    for path in tracked_files(root):
        try:
            with open(path, encoding="utf-8") as f:
                lines = list(f)
        except (OSError, UnicodeDecodeError):
            continue  # binary, or gone from the work tree
        for number, line in enumerate(lines, 1):
            for pattern in FORBIDDEN:
                if pattern.search(line):
                    yield f"{os.path.relpath(path, root)}:{number}: refers outside the repository ({pattern.pattern})"


def check(root):
    problems = list(forbidden_references(root))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        n = sum(1 for _ in f)
    if n > README_MAX_LINES:
        problems.append(f"README.md: {n} lines, over {README_MAX_LINES}: move reference material to docs/")
    for path in markdown_files(root):
        rel = os.path.relpath(path, root)
        for number, target in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.realpath(dest).startswith(os.path.realpath(root) + os.sep):
                problems.append(f"{rel}:{number}: {target}: outside the repository")
            elif not os.path.exists(dest):
                problems.append(f"{rel}:{number}: {target}: no such file")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problems.append(f"{rel}:{number}: {target}: no heading #{anchor} in {os.path.relpath(dest, root)}")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    root = os.path.realpath(root)
    files = markdown_files(root)
    problems = check(root)
    for p in problems:
        print(p)
    print(f"{len(files)} Markdown files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
