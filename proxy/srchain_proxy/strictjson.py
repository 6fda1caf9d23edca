"""JSON bodies of the control API, parsed within bounds: UTF-8 only, nesting and number sizes limited.

Python's `json` recurses once per nesting level (a RecursionError deep down) and converts every integer
literal with `int()` (a ValueError past 4,300 digits, quadratic work below that), so both limits are
checked before those costs: the depth by a scan of the brackets outside strings, the numbers by hooks
that see each literal as text. No field of the API needs more (docs/proxy.md, "Limits").
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # the deepest valid body, a batch, nests 4 levels ({"put": [{"restore": [[label]]}]})
MAX_INT_DIGITS = 20  # any 64-bit integer
MAX_FLOAT_CHARS = 32

# A JSON string (unrolled: linear even on an unterminated one) or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JsonRefused(ValueError):
    """The body is not JSON this API accepts; the message says why and where, in one line."""


def loads(body: bytes) -> Any:
    """The JSON document in body (an empty body is null), or JsonRefused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"body: not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        return None
    _check_depth(text)
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _check_depth(text: str) -> None:
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonRefused(f"body: nested deeper than {MAX_DEPTH} levels (at offset {match.start()})")
        elif token in ("]", "}"):
            depth -= 1


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
