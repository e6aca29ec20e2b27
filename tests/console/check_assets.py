#!/usr/bin/env python3
"""The console's assets keep to what its Content-Security-Policy and its
escaping rule need: no inline script or style, no event-handler attributes, no
HTML parsing of strings (innerHTML and friends), no eval, nothing loaded from
another origin. Usage: check_assets.py [CONSOLE_DIR]; exit 1 naming each breach."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
console = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "worker" / "admin" / "console"

JS_BANNED = {
    r"\.innerHTML\b": "innerHTML parses HTML: use text nodes",
    r"\.outerHTML\b": "outerHTML parses HTML",
    r"insertAdjacentHTML": "insertAdjacentHTML parses HTML",
    r"document\.write": "document.write parses HTML",
    r"createContextualFragment": "parses HTML",
    r"\bDOMParser\b": "parses HTML",
    r"\beval\s*\(": "eval is refused by the CSP",
    r"new\s+Function\b": "new Function is refused by the CSP",
    r"setTimeout\s*\(\s*['\"`]": "string timers are eval",
    r"\.style\.": "inline style is refused by the CSP: use classes",
    r"setAttribute\(\s*['\"](style|on\w+|src|srcdoc)['\"]": "attribute that runs or loads something",
}
HTML_BANNED = {
    r"<script(?![^>]*\bsrc=)[^>]*>": "inline script",
    r"<style\b": "inline style element",
    r"\sstyle\s*=": "style attribute",
    r"\son[a-z]+\s*=": "event-handler attribute",
    r"javascript:": "javascript: URL",
}
ANY_BANNED = {
    r"(?i)\b(?:https?:)?//(?!/)[a-z0-9.-]+\.[a-z]{2,}[/\"')]": "a resource from another origin",
    r"@import": "CSS import",
}

def breaches(path: pathlib.Path):
    text = path.read_text(encoding="utf-8")
    rules = dict(ANY_BANNED)
    if path.suffix == ".js":
        rules.update(JS_BANNED)
    elif path.suffix == ".html":
        rules.update(HTML_BANNED)
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("//") or stripped.startswith("/*") or stripped.startswith("*"):
            continue
        for pattern, why in rules.items():
            if re.search(pattern, line):
                yield f"{path.name}:{n}: {why}: {stripped[:100]}"

def main() -> int:
    files = sorted(p for p in console.rglob("*") if p.is_file())
    if not any(p.name == "index.html" for p in files) or not any(p.name == "login.html" for p in files):
        print(f"no index.html/login.html under {console}")
        return 1
    found = [b for p in files for b in breaches(p)]
    print("\n".join(found + [f"{len(files)} console files, {len(found)} breaches"]))
    return int(bool(found))

if __name__ == "__main__":
    sys.exit(main())
