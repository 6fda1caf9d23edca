"""C preprocessing of P4 sources with pcpp, keeping a source map.

pcpp writes `#line N "file"` markers into its output; the lexer follows them, so every token (and so
every error) carries the original file and line even after `#include` and macro expansion.
"""

from __future__ import annotations

import io
from pathlib import Path

import pcpp

from .annotations import check_pragma
from .errors import Loc, P4Error

P4INCLUDE = Path(__file__).resolve().parent.parent / "p4include"


class _Preprocessor(pcpp.Preprocessor):
    def __init__(self) -> None:
        super().__init__()
        self.line_directive = "#line"
        self.errors: list[P4Error] = []

    def on_error(self, file: str, line: int, msg: str) -> None:
        self.errors.append(P4Error(Loc(file or "<input>", line or 0), f"preprocessor: {msg}"))
        self.return_code += 1

    def on_include_not_found(self, is_malformed, is_system_include, curdir, includepath):
        d = self.lastdirective
        loc = Loc(d.source, d.lineno) if d is not None else Loc("<input>", 0)
        raise P4Error(loc, f"include file not found: {includepath}")

    def on_unknown_macro_in_defined_expr(self, tok):
        return False  # `#if defined(X)` with X unknown is simply false, as in cpp.

    def on_unknown_macro_in_expr(self, ident):
        return 0  # `#if X` with X undefined evaluates to 0, as in cpp.

    def on_directive_unknown(self, directive, toks, ifpassthru, precedingtoks):
        name = directive.value
        if name == "warning":
            return True  # a warning carries no meaning for the emulator
        if name == "pragma":  # a bf-p4c hint: only the documented no-effect ones pass (annotations.py)
            words = [t.value for t in toks if t.value.strip()]
            loc = Loc(directive.source or "<input>", directive.lineno or 0)
            if not words:
                raise P4Error(loc, "#pragma without a name")
            check_pragma(words[0], loc)
            return True
        if name == "error":
            text = "".join(t.value for t in toks).strip()
            self.on_error(directive.source, directive.lineno, f"#error {text}")
            return True
        self.on_error(directive.source, directive.lineno, f"unsupported directive #{name}")
        return True


def preprocess(
    path: str | Path,
    include_dirs: list[str | Path] | None = None,
    defines: dict[str, str] | None = None,
) -> str:
    """Return the preprocessed text of `path` (with `#line` markers). Raises P4Error on failure."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise P4Error(Loc(str(path), 0), f"cannot read program: {exc.strerror}") from None
    return preprocess_text(text, str(path), include_dirs=[path.parent, *(include_dirs or [])], defines=defines)


def preprocess_text(
    text: str,
    filename: str,
    include_dirs: list[str | Path] | None = None,
    defines: dict[str, str] | None = None,
) -> str:
    pp = _Preprocessor()
    cwd_rule = pp.rewrite_paths[:1]
    for d in [*(include_dirs or []), P4INCLUDE]:
        pp.add_path(str(d))
    # Show files under the working directory relative to it, everything else absolute (never `../..`).
    pp.rewrite_paths = cwd_rule
    # What bf-p4c defines for a Tofino 1 build, so `#if __TARGET_TOFINO__ == 2` picks tna.p4.
    for name, value in {"__TARGET_TOFINO__": "1", **(defines or {})}.items():
        pp.define(f"{name} {value}")
    pp.parse(text, filename)
    out = io.StringIO()
    pp.write(out)
    if pp.errors:
        raise pp.errors[0]
    return out.getvalue()
