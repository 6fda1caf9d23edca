"""Tokenizer for preprocessed P4_16 text; follows `#line` markers so tokens keep original locations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Loc, P4Error

KEYWORDS = frozenset(
    [
    "action", "apply", "bit", "bool", "const", "control", "default", "else", "enum", "error",
    "exit", "extern", "false", "header", "header_union", "if", "in", "inout", "int", "match_kind",
    "out", "package", "parser", "return", "select", "state", "struct", "switch", "table",
    "transition", "true", "tuple", "typedef", "varbit", "void", "value_set", "list", "string",
    ]
)


@dataclass(slots=True)
class Token:
    kind: str  # "id", "kw", "int", "str", "op", "eof"
    value: object
    loc: Loc
    adjacent: bool = False  # next token starts right after this one (tells `>>` from `> >`)

    def is_op(self, op: str) -> bool:
        return self.kind == "op" and self.value == op

    def is_kw(self, kw: str) -> bool:
        return self.kind == "kw" and self.value == kw

    def int_lit(self) -> IntLit:
        """The literal of an "int" token."""
        assert isinstance(self.value, IntLit), f"{self.kind} token {self.value!r} is not an integer literal"
        return self.value


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    width: int | None
    signed: bool


_OPS = sorted(
    [
    "&&&", "|+|", "|-|", "...", "..", "++", "<<", "<=", ">=", "==", "!=", "&&", "||", "&", "|",
    "^", "~", "!", "+", "-", "*", "/", "%", "?", ":", ";", ",", ".", "(", ")", "{", "}", "[", "]",
    "=", "@", "<", ">", "#",
    ],
    key=len,
    reverse=True,
)
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<line>\#\s*line\s+(?P<lno>\d+)(?:\s+"(?P<lfile>[^"]*)")?[^\n]*)
  | (?P<hashdir>\#\s*(?:pragma|warning)[^\n]*)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<int>(?:\d+[ws])?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[dD][0-9_]+|\d[0-9_]*))
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<op>"""
    + "|".join(re.escape(o) for o in _OPS)
    + r""")
    """,
    re.VERBOSE | re.DOTALL,
)


def _parse_int(text: str, loc: Loc) -> IntLit:
    width: int | None = None
    signed = False
    m = re.match(r"(\d+)([ws])(.*)", text)
    if m and not text.startswith(("0x", "0X", "0b", "0B", "0o", "0O", "0d", "0D")):
        width = int(m.group(1))
        signed = m.group(2) == "s"
        text = m.group(3)
        if width == 0:
            raise P4Error(loc, "integer literal with width 0")
    body = text.replace("_", "")
    base = 10
    if body[:2].lower() == "0x":
        base, body = 16, body[2:]
    elif body[:2].lower() == "0b":
        base, body = 2, body[2:]
    elif body[:2].lower() == "0o":
        base, body = 8, body[2:]
    elif body[:2].lower() == "0d":
        body = body[2:]
    try:
        value = int(body, base)
    except ValueError:
        raise P4Error(loc, f"malformed integer literal {text!r}") from None
    if width is not None:
        limit = 1 << (width - 1 if signed else width)
        if value >= limit:
            raise P4Error(loc, f"integer literal {value} does not fit in {width} bits")
    return IntLit(value, width, signed)


def tokenize(text: str, filename: str = "<input>") -> list[Token]:
    tokens: list[Token] = []
    file, line = filename, 1
    pos, end = 0, len(text)
    while pos < end:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise P4Error(Loc(file, line), f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        value = m.group()
        loc = Loc(file, line)
        if kind == "line":
            # `#line N "f"` means: the NEXT line is line N of file f.
            line = int(m.group("lno")) - 1
            if m.group("lfile") is not None:
                file = m.group("lfile")
        elif kind == "nl":
            line += 1
        elif kind == "bcomment":
            line += value.count("\n")
        elif kind in ("ws", "lcomment", "hashdir"):
            pass
        elif kind == "int":
            tokens.append(Token("int", _parse_int(value, loc), loc))
        elif kind == "id":
            tokens.append(Token("kw" if value in KEYWORDS else "id", value, loc))
        elif kind == "str":
            tokens.append(Token("str", value[1:-1], loc))
        elif kind == "lno":
            pass
        else:
            if value == "#":
                raise P4Error(loc, "unexpected preprocessor directive")
            tokens.append(Token("op", value, loc))
        pos = m.end()
        if tokens and tokens[-1].loc is loc:
            tokens[-1].adjacent = pos < end and not text[pos].isspace()
    tokens.append(Token("eof", None, Loc(file, line)))
    return tokens
