"""References in the docs point at things that exist: every relative markdown link (and its #anchor), and
every repository path written as code (`plugin/srchain/cli.py`, commands in fenced blocks), in README.md
and docs/*.md. A moved or deleted file then fails here instead of leaving a dangling reference."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Only paths under a top-level folder of the repository count as repository paths (not `/etc/...`,
# `results/demo-*/`, or a package-relative `srchain_proxy/cli.py`). Folders of generated files are out:
# `packages/` holds what `srchain osm package|pdu` writes, so the docs name files that are not committed.
GENERATED = {"packages", "results", "build", "state"}
FOLDERS = (p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in GENERATED)
TOP = [*sorted(name for name in FOLDERS if not name.endswith(".egg-info")), ".ci"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
TREE_ENTRY = re.compile(r"^ +\S+ {2,}\S", re.M)  # `  tests/ptf/     the PTF suite`: relative to a folder above
REPO_PATH = re.compile(r"(?<![\w./~$-])((?:" + "|".join(re.escape(t) for t in TOP) + r")/[\w./-]*)")
PLACEHOLDER = re.compile(r"[<>{}*?$]|\.\.\.")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (code marks too), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(doc: Path) -> set[str]:
    found: set[str] = set()
    text = FENCE.sub("", doc.read_text())
    for line in text.splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            base, n = slug(m.group(1)), 0
            while (name := base if n == 0 else f"{base}-{n}") in found:
                n += 1
            found.add(name)
    return found


def links(doc: Path) -> list[str]:
    text = FENCE.sub("", doc.read_text())
    return [t for t in LINK.findall(CODE_SPAN.sub("", text)) if not re.match(r"[a-z]+:", t)]


def repo_paths(doc: Path) -> set[str]:
    text = doc.read_text()
    fenced = [line for m in FENCE.finditer(text) for line in m.group(0).splitlines() if not TREE_ENTRY.match(line)]
    code = fenced + [m.group(2) for m in CODE_SPAN.finditer(FENCE.sub("", text))]
    paths = set()
    for chunk in code:
        for m in REPO_PATH.finditer(chunk):
            path = re.sub(r":\d+(-\d+)?$", "", m.group(1).rstrip(".,:;"))  # a trailing line number
            end = chunk[m.end():m.end() + 1]
            if not PLACEHOLDER.search(path) and not PLACEHOLDER.match(end):
                paths.add(path)
    return paths


def _id(doc: Path) -> str:
    return str(doc.relative_to(REPO))


@pytest.mark.parametrize("doc", DOCS, ids=_id)
def test_relative_links_and_anchors_exist(doc: Path) -> None:
    broken = []
    for target in links(doc):
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(f"{target}: no {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    assert broken == [], f"{_id(doc)}: broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=_id)
def test_repository_paths_in_code_exist(doc: Path) -> None:
    missing = sorted(p for p in repo_paths(doc) if not (REPO / p).exists())
    assert missing == [], f"{_id(doc)}: paths not in the repository: {missing}"


def test_the_checks_see_references_and_catch_a_dangling_one(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# Title: one `code`\n\nSee [proxy](proxy.md#data-path), [gone](gone.md), [web](https://x.y).\n"
                   "Code in `plugin/srchain/cli.py:12` and `plugin/srchain/records.py`, not `srchain_proxy/x.py`"
                   " nor `results/demo-*/` nor `packages/<name>.tar.gz`.\n"
                   "```\n.venv/bin/python bench/plan_reference.py --x\np4/\n  tests/ptf/    a tree entry\n```\n")
    assert links(doc) == ["proxy.md#data-path", "gone.md"]
    assert repo_paths(doc) == {"plugin/srchain/cli.py", "plugin/srchain/records.py", "bench/plan_reference.py", "p4/"}
    assert anchors(doc) == {"title-one-code"}
    assert "data-path" in anchors(REPO / "docs" / "proxy.md")
