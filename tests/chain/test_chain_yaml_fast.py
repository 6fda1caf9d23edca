"""The fast YAML reader (libyaml) gives exactly what the line-keeping reader gives: the same data for every
document it takes, the same error text for every refused file, and it hands everything else to the
line-keeping reader (srchain.model.yamlsource)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from chainlib import EXAMPLES, INVENTORY, REFERENCE, ROOT

import srchain.model.yamlsource as ys
from srchain.errors import SrchainError
from srchain.model import SpecError, load_chain
from srchain.model.yamlsource import line_keeping, load_yaml
from srchain.plan import build_plan
from srchain.sidstore import SidStore

YAML_FILES = sorted(p for p in ROOT.rglob("*.yaml") if ".venv" not in p.parts)
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))

# Documents where the two readers could part: each is taken fast with the same data, or refused / handed
# over with the line-keeping reader's words.
EDGE_CASES = {
    "duplicate-top": "a: 1\nb: 2\na: 3\n",
    "duplicate-nested-flow": "x:\n  - {p: 1, q: 2, p: 3}\n",
    "duplicate-equal-values": "1: a\n0x1: b\n",
    "duplicate-booleans": "yes: a\ntrue: b\n",
    "merge-key": "base: &b {p: 1}\nx:\n  <<: *b\n  q: 2\n",
    "anchors": "a: &x [1, 2, {k: v}]\nb: *x\n",
    "tab-indent": "a:\n\t- 1\n",
    "empty": "",
    "comment-only": "# nothing\n",
    "two-documents": "a: 1\n---\nb: 2\n",
    "unknown-tag": "a: !foo 1\n",
    "tagged-mapping": "a: !foo {b: 1}\n",
    "set": "a: !!set {x, y}\n",
    "omap": "a: !!omap [{x: 1}, {y: 2}]\n",
    "complex-key": "? [1, 2]\n: v\n",
    "mapping-key": "? {a: 1}\n: v\n",
    "unterminated-flow": "a: [1, 2\nb: 3\n",
    "bad-indent": "a:\n  b: 1\n c: 2\n",
    "colon-in-flow": "a: {b:c: 1}\n",
    "scalars": "a: 0o17\nb: 1_000\nc: 1.5e3\nd: .inf\ne: ~\nf: 2001-12-14\ng: 'x'\nh: \"\\u00e9\"\ni: |\n  t\n",
    "binary": "a: !!binary aGVsbG8=\n",
    "directive": "%YAML 1.1\n---\na: 1\n",
    "directive-1.2": "%YAML 1.2\n---\na: 1\n",
    "bom": "\ufeffa: 1\n",
    "nul": "a: \x00\n",
    "long-key": "? " + "k" * 2000 + "\n: v\n",
    "recursive-alias": "a: &x [*x]\n",
}


def _both(path: Path) -> tuple[object, object]:
    """What each reader makes of a file: (data, lines), or the error's type and text."""

    def read() -> object:
        try:
            doc = load_yaml(path)
        except Exception as exc:  # a SpecError, or what the line-keeping reader lets through (unhashable key)
            return (type(exc).__name__, str(exc))
        doc.line_of(())  # reads the lines (from the text, for a document read fast)
        return (doc.data, doc.lines)

    fast = read()
    with line_keeping():
        strict = read()
    return fast, strict


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository_reads_the_same(path: Path) -> None:
    fast, strict = _both(path)
    assert fast == strict


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_read_the_same(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(EDGE_CASES[name])
    fast, strict = _both(path)
    assert fast == strict


def test_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("chain: c\nsegments:\n  - {name: a, name: b}\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}:3: duplicate key 'name'"


def _header(path: Path, name: str) -> str | None:
    m = re.search(rf"^# {name}: (.+)$", path.read_text(), re.M)
    return m.group(1).strip() if m else None


def _outcome(case: Path, tmp: Path) -> str:
    """The full text a refused example gives (spec, inventory or plan error)."""
    inventory = case.parent / rel if (rel := _header(case, "inventory")) else INVENTORY
    spec, inv = (REFERENCE, case) if case.name.startswith("inventory-") else (case, inventory)
    try:
        model = load_chain(spec, inv)
        with SidStore(tmp) as store:
            build_plan(model, store)
    except SrchainError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_give_byte_identical_errors(case: Path, tmp_path: Path) -> None:
    fast = _outcome(case, tmp_path / "fast")
    with line_keeping():
        strict = _outcome(case, tmp_path / "strict")
    assert fast != "accepted"
    assert fast == strict


def test_a_valid_chain_never_runs_the_line_keeping_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = ys._read

    def counting(name: str, text: str) -> ys.YamlDoc:
        calls.append(name)
        return real(name, text)

    monkeypatch.setattr(ys, "_read", counting)
    assert load_chain(EXAMPLES / "two-site.yaml", EXAMPLES / "inventory-two-site.yaml").segments
    assert calls == []
    with pytest.raises(SpecError):
        load_chain(EXAMPLES / "invalid" / "spec-unknown-switch.yaml", INVENTORY)
    assert calls == [str(EXAMPLES / "invalid" / "spec-unknown-switch.yaml")]  # the refused file only


def test_libyaml_is_there() -> None:
    # the fast path needs PyYAML built with libyaml (the lock's wheel is); without it every read is line-keeping
    assert yaml.__with_libyaml__
