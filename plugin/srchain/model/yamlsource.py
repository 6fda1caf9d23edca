"""YAML loading that remembers where every value came from, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srchain.model.errors import Issue, SpecError

Loc = tuple[str | int, ...]


@dataclass
class YamlDoc:
    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the closest enclosing node that has a recorded position."""
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


def load_yaml(path: str | Path) -> YamlDoc:
    """Parse one YAML document; syntax errors and duplicate keys become a SpecError with the line."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError([Issue(name, "", f"cannot read file: {exc.strerror}")]) from exc
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
