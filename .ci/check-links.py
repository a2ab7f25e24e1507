#!/usr/bin/env python3
"""Checks that every relative link in the repository's Markdown files resolves.

For each Markdown file git knows of (`git ls-files '*.md'`, plus untracked files that are not
ignored, so a new README is checked before it is committed; on a clean clone the two sets are
the same), every relative link

    [text](path)   [text](path#anchor)   ![alt](path)   [ref]: path

must name an existing file or directory, relative to the Markdown file (a leading `/` means the
repository root, as on GitHub). When the target is a Markdown file and the link has an
`#anchor`, the anchor must be one of its headings, slugged the way GitHub does.

Ignored: links with a scheme (`https:`, `http:`, `mailto:`...), pure `#anchor` links, and
anything inside fenced code blocks, inline code or HTML comments.

Prints each broken link as `file:line: target` and exits 1; otherwise prints a count and
exits 0. Python 3 standard library only.

    python3 .ci/check-links.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import unquote

FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# `](destination "optional title")`: the destination is <...> or has no spaces, and may hold
# one level of balanced parentheses.
INLINE_LINK = re.compile(
    r"\]\(\s*(<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)", re.MULTILINE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def repository_root() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=here, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def markdown_files(root: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.md"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    names = {name.decode() for name in out.stdout.split(b"\0") if name}
    # A tracked file deleted in the working tree is still listed: nothing to check there.
    return sorted(name for name in names if os.path.isfile(os.path.join(root, name)))


def blank(text: str) -> str:
    """The same text with every character but newlines replaced by a space."""
    return re.sub(r"[^\n]", " ", text)


def fenced_lines(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a fenced code block (fences included)."""
    inside = [False] * len(lines)
    fence: tuple[str, int] | None = None
    for index, line in enumerate(lines):
        if fence is None:
            match = FENCE_OPEN.match(line)
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = (match.group(1)[0], len(match.group(1)))
                inside[index] = True
        else:
            inside[index] = True
            stripped = line.strip()
            char, length = fence
            if len(stripped) >= length and set(stripped) == {char}:
                fence = None
    return inside


def mask_code_spans(text: str) -> str:
    """Blanks inline code spans: a run of N backticks up to the next run of exactly N, within
    one paragraph (a blank line ends the search)."""
    out = list(text)
    i = 0
    n = len(text)
    while i < n:
        if text[i] != "`":
            i += 1
            continue
        j = i
        while j < n and text[j] == "`":
            j += 1
        run = j - i
        paragraph_end = re.compile(r"\n[ \t]*\n").search(text, j)
        limit = paragraph_end.start() if paragraph_end else n
        k = j
        close = -1
        while k < limit:
            if text[k] == "`":
                m = k
                while m < n and text[m] == "`":
                    m += 1
                if m - k == run:
                    close = m
                    break
                k = m
            else:
                k += 1
        if close == -1:
            i = j  # literal backticks
            continue
        for p in range(i, close):
            if out[p] != "\n":
                out[p] = " "
        i = close
    return "".join(out)


def masked_text(text: str) -> str:
    """The file with code blocks, code spans and HTML comments blanked, offsets unchanged."""
    lines = text.split("\n")
    inside = fenced_lines(lines)
    text = "\n".join(blank(line) if code else line for line, code in zip(lines, inside))
    text = re.sub(r"<!--.*?-->", lambda m: blank(m.group(0)), text, flags=re.DOTALL)
    return mask_code_spans(text)


def heading_text(raw: str) -> str:
    """The rendered text of a heading's inline Markdown, roughly: what GitHub slugs."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis markers
    return text.strip()


def github_slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation removed (letters, digits, `_`, `-` and
    spaces kept), spaces turned into hyphens."""
    slug = text.lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


_anchor_cache: dict[str, set[str]] = {}


def anchors_of(path: str) -> set[str]:
    if path in _anchor_cache:
        return _anchor_cache[path]
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    inside = fenced_lines(lines)
    seen: dict[str, int] = {}
    anchors: set[str] = set()

    def add(text: str) -> None:
        base = github_slug(heading_text(text))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")

    for index, line in enumerate(lines):
        if inside[index]:
            continue
        match = ATX_HEADING.match(line)
        if match:
            add(match.group(2) or "")
        elif (
            index + 1 < len(lines)
            and not inside[index + 1]
            and line.strip()
            and not line.lstrip().startswith(("|", "-", "*", "+", ">"))
            and SETEXT_UNDERLINE.match(lines[index + 1])
            and (index == 0 or not lines[index - 1].strip())
        ):
            add(line.strip())
        for name in HTML_ANCHOR.findall(line):
            anchors.add(name.lower())
    _anchor_cache[path] = anchors
    return anchors


def check_target(root: str, source: str, target: str) -> bool:
    """Whether a link target written in `source` (a path relative to root) resolves."""
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    path, _, anchor = target.partition("#")
    path = unquote(path.split("?", 1)[0])
    if path.startswith("/"):
        resolved = os.path.join(root, path.lstrip("/"))
    else:
        resolved = os.path.join(root, os.path.dirname(source), path)
    resolved = os.path.normpath(resolved)
    if not os.path.exists(resolved):
        return False
    if anchor and os.path.isfile(resolved) and resolved.lower().endswith(".md"):
        return unquote(anchor).lower() in anchors_of(resolved)
    return True


def links_in(text: str) -> list[tuple[int, str]]:
    """(line, target) of every inline link and reference definition outside code."""
    masked = masked_text(text)
    found: list[tuple[int, str]] = []
    for pattern in (INLINE_LINK, REFERENCE_DEFINITION):
        for match in pattern.finditer(masked):
            line = masked.count("\n", 0, match.start(1)) + 1
            found.append((line, match.group(1)))
    return sorted(found)


def main() -> int:
    root = repository_root()
    files = markdown_files(root)
    broken: list[str] = []
    checked = 0
    for source in files:
        with open(os.path.join(root, source), encoding="utf-8") as handle:
            text = handle.read()
        for line, target in links_in(text):
            bare = target[1:-1] if target.startswith("<") and target.endswith(">") else target
            if not bare or bare.startswith("#") or SCHEME.match(bare):
                continue
            checked += 1
            if not check_target(root, source, target):
                broken.append(f"{source}:{line}: {bare}")
    for entry in broken:
        print(entry)
    sys.stdout.flush()
    if broken:
        print(f"check-links: {len(broken)} broken of {checked} relative links in {len(files)} Markdown files",
              file=sys.stderr)
        return 1
    print(f"check-links: {checked} relative links in {len(files)} Markdown files, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
