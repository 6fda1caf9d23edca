"""JSON bodies of the control API, parsed within bounds: UTF-8 only, nesting and number sizes limited.

Python's `json` recurses once per nesting level (a RecursionError deep down) and converts every integer
literal with `int()` (a ValueError past 4,300 digits, quadratic work below that), so both limits are
checked before those costs: the depth on the brackets outside strings, the numbers by hooks that see
each literal as text. No field of the API needs more (docs/proxy.md, "Limits").
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32  # the deepest valid body, a batch, nests 4 levels ({"put": [{"restore": [[label]]}]})
MAX_INT_DIGITS = 20  # any 64-bit integer
MAX_FLOAT_CHARS = 32

# A JSON string, unrolled (linear even on an unterminated one), on the raw UTF-8: a multi-byte character
# never holds an ASCII byte, so quotes and brackets are found on bytes as in the text.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 1 << 16
_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


class JsonRefused(ValueError):
    """The body is not JSON this API accepts; the message says why, in one line."""


def loads(body: bytes) -> Any:
    """The JSON document in body (an empty body is null), or JsonRefused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"body: not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        return None
    _check_depth(body)
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _check_depth(body: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH before json recurses into it. The brackets outside strings lose
    their innermost pairs once per level (C-speed passes): gone within MAX_DEPTH passes, the body is
    shallow enough. Otherwise the running depth decides: the nesting json would reach (a body that is
    not JSON fails in json.loads, before that point)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    left = brackets
    for _ in range(MAX_DEPTH):
        inner_removed = left.replace(b"[]", b"").replace(b"{}", b"")
        if not inner_removed:
            return
        if len(inner_removed) == len(left):
            break  # no pair left to remove: not JSON, the running depth below tells where it ends
        left = inner_removed
    depth = 0
    for start in range(0, len(brackets), _CHUNK):  # by chunks: a deep or broken start ends it early
        depths = list(accumulate(map(_STEP.__getitem__, brackets[start:start + _CHUNK]), initial=depth))
        broken = min(depths) < 0  # a closing bracket too many: json.loads stops there (steps of 1: at -1)
        if max(depths[:depths.index(-1)] if broken else depths) > MAX_DEPTH:
            raise JsonRefused(f"body: nested deeper than {MAX_DEPTH} levels")
        if broken:
            return
        depth = depths[-1]


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(f"body: integer of {len(literal.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_FLOAT_CHARS:
        raise JsonRefused(f"body: number of {len(literal)} characters (at most {MAX_FLOAT_CHARS})")
    return float(literal)


def _constant(literal: str) -> Any:
    raise JsonRefused(f"body: {literal} is not JSON")
