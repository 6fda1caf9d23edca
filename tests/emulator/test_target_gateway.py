"""Tofino 1 gateway and immediate-data rules of the target model (interp/target_gateway.py): one small illegal
program per rule, refused with the rule's text and line, and its legal twin, accepted and run; plus the
TNA `min`/`max` the legal twins use. Each pair was also compiled with the real bf-p4c (docs/emulator.md)."""

from __future__ import annotations

import pytest
from emu_helpers import data_fields, data_frame, program_text

from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.interp.target import TargetRefusal

HASHES = """
    Hash<bit<32>>(HashAlgorithm_t.CRC32) h32;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) h16;
"""

# (name, locals, apply with a `// here` marker on the refused line, expected message start)
ILLEGAL = [
    ("relation of two fields", "",
     "        if (hdr.data.a < hdr.data.b) {  // here\n            hdr.data.d = 1;\n        }\n",
     "condition too complex, one operand of hdr.data.a < hdr.data.b must be constant (bf-p4c mau/gateway.cpp)"),
    ("a local computed by an expression", "",
     "        bit<8> diff = hdr.data.a ^ hdr.data.b;\n"
     "        if (diff == 0) {  // here\n            hdr.data.d = 1;\n        }\n",
     "condition expression too complex: diff = hdr.data.a ^ hdr.data.b is folded into the condition"),
    ("arithmetic in the condition", "",
     "        if (hdr.data.a + hdr.data.b == 3) {  // here\n            hdr.data.d = 1;\n        }\n",
     "condition expression too complex: hdr.data.a + hdr.data.b"),
    ("more than 4 bytes + 12 bits", "",
     "        if (hdr.ipv4.src_addr == 1 && hdr.data.c == 2 && hdr.data.a == 3) {  // here\n"
     "            hdr.data.d = 1;\n        }\n",
     "condition too complex, limit of 4 bytes + 12 bits of PHV input exceeded"),
    ("two hashes in one action", HASHES,
     "        hdr.data.d = h32.get({hdr.data.a});  // here\n        hdr.data.c = h16.get({hdr.data.b});\n",
     "these statements take 48 bits of hash data, more than the 32 bits of the immediate pathway"),
]

LEGAL = {
    "relation of two fields":
        ("    action low() { md.a = min(hdr.data.a, hdr.data.b); }\n"
         "    action diff() { md.b = md.a ^ hdr.data.a; }\n",
         "        low();\n        diff();\n        if (md.b == 0) {\n            hdr.data.d = 1;\n        }\n"),
    "a local computed by an expression":
        ("    action diff() { md.a = hdr.data.a ^ hdr.data.b; }\n",
         "        diff();\n        if (md.a == 0) {\n            hdr.data.d = 1;\n        }\n"),
    "arithmetic in the condition":
        ("    action sum() { md.a = hdr.data.a + hdr.data.b; }\n",
         "        sum();\n        if (md.a == 3) {\n            hdr.data.d = 1;\n        }\n"),
    "more than 4 bytes + 12 bits":
        ("",
         "        if (hdr.ipv4.src_addr == 1 && hdr.ipv4.isValid() && md.flag) {\n"
         "            hdr.data.d = 1;\n        }\n"),
    "two hashes in one action":
        (HASHES + "    action one() { hdr.data.d = h32.get({hdr.data.a}); }\n"
                  "    action two() { hdr.data.c = h16.get({hdr.data.b}); }\n",
         "        one();\n        two();\n"),
}


def write(tmp_path, locals: str, apply: str):
    path = tmp_path / "gw.p4"
    text = program_text(locals=locals, apply=apply)
    path.write_text(text)
    return path, text


@pytest.mark.parametrize(("name", "locals", "apply", "message"), ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_illegal_condition_or_action_is_refused_with_rule_and_line(tmp_path, name, locals, apply, message):
    path, text = write(tmp_path, locals, apply)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    Pipeline.from_file(path, target_model="none")  # the emulator itself runs it


@pytest.mark.parametrize("name", list(LEGAL))
def test_legal_twin_is_accepted(tmp_path, name):
    locals, apply = LEGAL[name]
    path, _ = write(tmp_path, locals, apply)
    Pipeline.from_file(path)


def test_a_local_from_an_extern_result_or_a_field_is_a_field(tmp_path):
    path, _ = write(tmp_path, HASHES, "        bit<16> h = h16.get({hdr.data.a});\n"
                                      "        bit<8> a = hdr.data.a;\n"
                                      "        if (h == 7 || a == 2) {\n            hdr.data.d = 1;\n        }\n")
    Pipeline.from_file(path)


def test_equality_of_two_fields_counts_one_side(tmp_path):
    # 4 + 4 bytes compared with each other: one side goes through the gateway's XOR path
    path, _ = write(tmp_path, "", "        if (hdr.ipv4.src_addr == hdr.ipv4.dst_addr) {\n"
                                  "            hdr.data.d = 1;\n        }\n")
    Pipeline.from_file(path)


def test_the_legal_ordering_twin_runs_as_the_relation_did(tmp_path):
    locals, apply = LEGAL["relation of two fields"]
    path, _ = write(tmp_path, locals, apply.replace("md.b == 0", "md.b == 0 && hdr.data.a != hdr.data.b"))
    p = Pipeline.from_file(path)
    for a, b in [(1, 2), (2, 1), (0, 255), (255, 0), (7, 7)]:
        (out,) = p.process(0, data_frame(a=a, b=b))
        assert data_fields(out.frame)[3] == (1 if a < b else 0), (a, b)


@pytest.mark.parametrize(("fn", "a", "b", "expect"), [("min", 3, 9, 3), ("min", 9, 3, 3), ("max", 3, 9, 9),
                                                      ("max", 200, 200, 200), ("min", 0, 255, 0)])
def test_min_and_max_are_tna_alu_instructions(tmp_path, fn, a, b, expect):
    path, _ = write(tmp_path, f"    action pick() {{ hdr.data.a = {fn}(hdr.data.a, hdr.data.b); }}\n",
                    "        pick();\n")
    (out,) = Pipeline.from_file(path).process(0, data_frame(a=a, b=b))
    assert data_fields(out.frame)[0] == expect


def test_min_refuses_non_bit_arguments(tmp_path):
    path, _ = write(tmp_path, "    action pick() { md.flag = min(md.flag, true); }\n", "        pick();\n")
    with pytest.raises(Exception, match=r"min\(\) needs bit<W> arguments"):
        Pipeline.from_file(path)


def test_only_the_hash_bits_an_action_keeps_count(tmp_path):
    """Intel's tna_dyn_hashing keeps [31:0] of a CRC64 `get` (bf-p4c 9.13.4 compiles it): 32 bits travel to the
    action; the whole 64-bit result is refused."""
    loc = "    Hash<bit<64>>(HashAlgorithm_t.CRC64) h64;\n"
    path, _ = write(tmp_path, loc + "    bit<32> low32;\n    action low() { low32 = h64.get({hdr.data.a})[31:0]; }\n",
                    "        low();\n        hdr.data.d = low32;\n")
    Pipeline.from_file(path)
    path, _ = write(tmp_path, loc + "    bit<64> wide;\n    action all() { wide = h64.get({hdr.data.a}); }\n",
                       "        all();\n        hdr.data.d = wide[31:0];\n")
    with pytest.raises(TargetRefusal, match="64 bits of hash data, more than the 32 bits of the immediate pathway"):
        Pipeline.from_file(path)
