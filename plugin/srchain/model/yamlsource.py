"""YAML loading that remembers where every value came from, so errors can name the line.

Two readers, one result. The fast one (libyaml, `yaml.CSafeLoader`) builds the data without positions;
the line-keeping one (PyYAML's pure-Python loader, ~20x slower) records the line of every node. A document
is read fast, and its lines are read only when something asks for one (`YamlDoc.line_of`: a validation
issue is being reported), by the line-keeping reader over the same text, so every message is the one that
reader alone would give. Anything the fast reader does not take exactly as the line-keeping one would — a
syntax error, a duplicate key, an empty file, a merge key (`<<`), an unknown tag — sends the whole document
to the line-keeping reader, whose error is reported. `line_keeping()` turns the fast reader off (tests and
`bench/multisite_plan.py` compare the two).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srchain.model.errors import Issue, SpecError

Loc = tuple[str | int, ...]

_FAST: ContextVar[bool] = ContextVar("srchain_yaml_fast", default=yaml.__with_libyaml__)


@contextmanager
def line_keeping() -> Iterator[None]:
    """Read every document with the line-keeping reader only (the behaviour before the fast path)."""
    token = _FAST.set(False)
    try:
        yield
    finally:
        _FAST.reset(token)


@dataclass
class YamlDoc:
    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    text: str | None = None  # read fast: the lines are still to be read from this text

    def line_of(self, loc: Loc) -> int | None:
        """Line of the closest enclosing node that has a recorded position."""
        if self.text is not None:
            self.lines = _read(self.file, self.text).lines  # raises the line-keeping reader's error, if any
            self.text = None
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())

    def issue(self, loc: Loc, message: str) -> Issue:
        from srchain.model.errors import format_path

        return Issue(self.file, format_path(loc), message, self.line_of(loc))


def _construct(node: yaml.Node, loc: Loc, doc: YamlDoc, loader: yaml.SafeLoader) -> Any:
    doc.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise SpecError([Issue(doc.file, "", f"duplicate key '{key}'", key_node.start_mark.line + 1)])
            out[key] = _construct(value_node, (*loc, key), doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), doc, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


class _NotFast(Exception):
    """The fast reader does not take this document as the line-keeping one would: read it that way."""


def _plain(node: yaml.Node, loader: yaml.CSafeLoader) -> Any:
    """`_construct` without the lines: the same data from the same node tree."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise _NotFast  # the line-keeping reader names the duplicate's line
            out[key] = _plain(value_node, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loader) for item in node.value]
    return loader.construct_object(node, deep=True)


def _read_fast(name: str, text: str) -> YamlDoc | None:
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return YamlDoc(name, _plain(node, loader), text=text)
    except Exception:  # whatever it is, the line-keeping reader decides (and words it)
        return None
    finally:
        loader.dispose()


def _read(name: str, text: str) -> YamlDoc:
    doc = YamlDoc(name, None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Issue(name, "", "the file is empty")])
        doc.data = _construct(node, (), doc, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise SpecError([Issue(name, "", f"YAML syntax error: {reason}", line)]) from exc
    finally:
        loader.dispose()
    return doc


def load_yaml(path: str | Path) -> YamlDoc:
    """Parse one YAML document; syntax errors and duplicate keys become a SpecError with the line."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError([Issue(name, "", f"cannot read file: {exc.strerror}")]) from exc
    if _FAST.get():
        doc = _read_fast(name, text)
        if doc is not None:
            return doc
    return _read(name, text)
