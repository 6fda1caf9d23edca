"""Front end: preprocessing with a source map, literals, and `file:line: message` errors for anything
outside the subset (never silently ignored)."""

from __future__ import annotations

import re

import pytest
from emu_helpers import P4_DIR, data_fields, data_frame, program_text
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain_emu.frontend.errors import P4Error
from srchain_emu.frontend.lexer import tokenize
from srchain_emu.frontend.parser import parse_text
from srchain_emu.frontend.preprocess import preprocess
from srchain_emu.interp.pipeline import Pipeline, load_source


def line_of(path, snippet: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if snippet.splitlines()[0] in line)


def load_error(path) -> P4Error:
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(path)
    return info.value


def test_define_ifdef_and_include_with_source_map(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "consts.p4").write_text("// consts\n\n#define BUMP 3\nconst bit<8> BASE = 40;\n")
    text = program_text(
        types='#include "consts.p4"\n#ifdef FAST\nconst bit<8> EXTRA = 1;\n#else\nconst bit<8> EXTRA = 2;\n#endif',
        apply="hdr.data.a = BASE + BUMP + EXTRA;",
    )
    main = tmp_path / "main.p4"
    main.write_text(text)
    p = Pipeline.from_file(main, [inc])
    assert data_fields(p.process(0, data_frame())[0].frame)[0] == 45
    p = Pipeline.from_file(main, [inc], {"FAST": "1"})
    assert data_fields(p.process(0, data_frame())[0].frame)[0] == 44
    # An error inside the included file names that file and its own line.
    (inc / "consts.p4").write_text("// consts\n\n#define BUMP 3\nconst bit<8> BASE = 40 + true;\n")
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(main, [inc])
    assert info.value.loc.file.endswith("inc/consts.p4")
    assert info.value.loc.line == 4


def test_missing_include_is_an_error_with_location(tmp_path):
    path = tmp_path / "m.p4"
    path.write_text('#include <core.p4>\n\n#include "nope.p4"\n')
    with pytest.raises(P4Error) as info:
        preprocess(path)
    assert str(info.value) == f"{path}:3: include file not found: nope.p4"


def test_error_directive(tmp_path):
    path = tmp_path / "e.p4"
    path.write_text("#ifndef X\n#error X must be set\n#endif\n")
    with pytest.raises(P4Error, match=r"e\.p4:2: preprocessor: #error X must be set"):
        preprocess(path)


def test_literals_widths_and_bases():
    toks = tokenize("8w255 16w0x800 0b1010 0o17 4s3 1_000 32w0xFFFF_FFFF")
    vals = [(t.value.value, t.value.width, t.value.signed) for t in toks if t.kind == "int"]
    assert vals == [(255, 8, False), (0x800, 16, False), (10, None, False), (15, None, False), (3, 4, True),
                    (1000, None, False), (0xFFFFFFFF, 32, False)]
    with pytest.raises(P4Error, match=r"x\.p4:1: integer literal 256 does not fit in 8 bits"):
        tokenize("8w256", "x.p4")


def test_line_markers_drive_locations():
    with pytest.raises(P4Error) as info:
        parse_text('#line 40 "orig.p4"\nconst bit<8> a = ;\n', "pp.p4")
    assert (info.value.loc.file, info.value.loc.line) == ("orig.p4", 40)


@pytest.mark.parametrize(
    ("where", "snippet", "message"),
    [
        ("types", "header_union u_t { data_h a; }", "header_union is not supported by the emulator"),
        ("types", "header v_t { varbit<32> x; }", "varbit is not supported by the emulator"),
        ("types", "header odd_t { bit<7> x; }", "header odd_t is 7 bits long, not a multiple of 8"),
        ("types", "bit<8> f(in bit<8> x) { return x; }", "function declarations are not supported by the emulator"),
        ("locals", "ParserCounter() m;", "unknown type 'ParserCounter'"),
        ("locals", "table t { key = { hdr.data.a : exact; } actions = { NoAction; } support_timeout = true; }",
         "table property 'support_timeout' is not supported by the emulator"),
        ("locals", "table t { key = { hdr.data.a : exact; } actions = { NoAction; } idle_timeout = 1; }",
         "'idle_timeout' must be true or false"),
        ("locals", "table t { key = { hdr.data.a : selector; } actions = { NoAction; } }",
         "table t: 'selector' keys need 'implementation = <ActionSelector>'"),
        ("locals", '@name(".fwd") table t { key = { hdr.data.a : exact; } actions = { NoAction; } }',
         "@name on table t is not supported by the emulator"),
        ("apply", "hdr.data.a = hdr.data.c;", "type mismatch: expected bit<8>, got bit<16>"),
        ("apply", "hdr.data.a = hdr.data.a + hdr.data.c;", "operands of '+' have different types bit<8> and bit<16>"),
        ("apply", "hdr.data.zz = 1;", "header data_h has no field 'zz'"),
        ("apply", "undefined_thing.apply();", "unknown name 'undefined_thing'"),
        ("apply", "if (hdr.data.a) { }", "if condition must be bool, not bit<8>"),
        ("apply", "hdr.data.a = hdr.data.a[8:1];", "slice [8:1] is not valid for bit<8>"),
        ("apply", "hdr.mpls[7].ttl = 1;", "index 7 out of bounds for mpls_h[4]"),
        ("apply", "hdr.mpls.next.ttl = 1;", "'next' is only allowed in parsers"),
    ],
)
def test_unsupported_or_wrong_constructs_name_file_and_line(snippet_path, where, snippet, message):
    path = snippet_path(**{where: snippet})
    err = load_error(path)
    assert str(err) == f"{path}:{line_of(path, snippet)}: {message}"


def test_parse_error_reports_the_token(snippet_path):
    path = snippet_path(apply="hdr.data.a = ;")
    err = load_error(path)
    assert str(err) == f"{path}:{line_of(path, 'hdr.data.a = ;')}: expected an expression but found ';'"


_SOURCES = [load_source(P4_DIR / f"{n}.p4") for n in ("flow_counter", "five_tables")]
_TOKEN = re.compile(r"\w+|[^\w\s]")
_INSERTS = ["1", "8w3", "true", "hdr", "{", "}", "(", ")", ";", "<", ">", "bit", "x", "apply", "_", "..", "&&&",
            "error", "-", "~", "!", "++"]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 10**6),
                                             st.sampled_from(_INSERTS)), min_size=1, max_size=3))
def test_mutated_programs_fail_only_with_p4_errors(which, edits):
    """Random token edits of real programs: either a clean P4Error or a program that runs without faults."""
    lines = _SOURCES[which].split("\n")
    for line_no, op, pos, new in edits:
        i = line_no % len(lines)
        toks = _TOKEN.findall(lines[i])
        if lines[i].startswith("#line") or not toks:
            continue
        j = pos % len(toks)
        if op == 0:
            del toks[j]
        elif op == 1:
            toks.insert(j, new)
        elif op == 2:
            toks[j] = new
        else:
            toks[j], toks[-1] = toks[-1], toks[j]
        lines[i] = " ".join(toks)
    try:
        p = Pipeline.from_source("\n".join(lines), "mutant")
    except P4Error as exc:
        assert re.match(r"^[^:]+:\d+: \S", str(exc)), str(exc)
        return
    p.process(1, bytes.fromhex("020000000002020000000001080045000030000000004011") + bytes(40))
    assert p.stats["drop_internal_error"] == 0
