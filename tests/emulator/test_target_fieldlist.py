"""Tofino 1 deparser field-list rules of the target model (interp/target_fieldlist.py): a mirror or digest field
list of at most 48 bytes (selector and session id included, each field rounded up to bytes), a mirror's data
of at most 32 bytes (the assembler's mirror table), no non-zero constants in either (a mirror's session id
included); each illegal program and its legal twin was also compiled with the real bf-p4c
(docs/emulator.md)."""

from __future__ import annotations

import pytest
from emu_helpers import program_text

from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.interp.target import TargetRefusal

# 45 bytes of distinct fields (each rounded up to bytes): with the selector (1) and the session id (2), 48.
# The first 12 of them (32 bytes, through hdr.data.a) are the most a Tofino 1 mirror carries.
FIELDS_45 = [("hdr.ethernet.dst", 48), ("hdr.ethernet.src", 48), ("hdr.ethernet.ether_type", 16),
             ("hdr.ipv4.src_addr", 32), ("hdr.ipv4.dst_addr", 32), ("hdr.ipv4.total_len", 16),
             ("hdr.ipv4.identification", 16), ("hdr.ipv4.hdr_checksum", 16), ("hdr.ipv4.ttl", 8),
             ("hdr.ipv4.protocol", 8), ("hdr.ipv4.diffserv", 8), ("hdr.data.a", 8), ("hdr.data.b", 8),
             ("hdr.data.c", 16), ("hdr.data.d", 32), ("md.x", 32), ("md.a", 8), ("md.b", 8)]


def mirror_program(fields: list[tuple[str, int]]) -> tuple[str, str]:
    """A mirror header with one field per (value, width), emitted with a session id from metadata."""
    types = "header big_h {" + "".join(f" bit<{w}> f{i};" for i, (_, w) in enumerate(fields)) + " }\n"
    values = ", ".join(v for v, _ in fields)
    deparser = f"""        if (ig_dprsr_md.mirror_type == 1) {{
            m.emit<big_h>(md.c[9:0], {{{values}}});  // here
        }}
"""
    return types, deparser


def build(tmp_path, types: str, deparser: str, apply: str = "        ig_dprsr_md.mirror_type = 1;\n") -> Pipeline:
    path = tmp_path / "fl.p4"
    text = program_text(types=types, apply=apply, deparser=deparser, deparser_locals="    Mirror() m;\n")
    path.write_text(text)
    return path, text


def test_mirror_field_list_over_48_bytes_is_refused(tmp_path):
    # 1 (mirror_type) + 2 (session) + 45 = 48 is the most; one more byte is 49
    types, dep = mirror_program([*FIELDS_45, ("(bit<8>)md.s", 8)])
    path, text = build(tmp_path, types, dep)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{line}: Learning quanta requires 49 bytes, which is greater than the "
                                      "maximum permissible 48 bytes: Mirror field list")
    Pipeline.from_file(path, target_model="none")


def test_mirror_data_over_32_bytes_is_refused(tmp_path):
    types, dep = mirror_program(FIELDS_45[:13])  # 33 bytes
    path, text = build(tmp_path, types, dep)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{line}: mirror digest limited to 32 bytes: Mirror field list")
    assert "takes at least 33 (bf-asm tofino/deparser.cpp" in str(info.value)


def test_mirror_data_of_32_bytes_is_accepted(tmp_path):
    types, dep = mirror_program(FIELDS_45[:12])  # 32 bytes
    path, _ = build(tmp_path, types, dep)
    Pipeline.from_file(path)


def emit(header: str, values: str, marker: str = "") -> str:
    return (f"        if (ig_dprsr_md.mirror_type == 1) {{\n            m.emit<{header}>(md.c[9:0], {{{values}}});"
            f"{marker}\n        }}\n")


def test_fields_count_in_whole_bytes(tmp_path):
    # a 20-bit field takes 3 bytes: 10 of them are 30 bytes (accepted), 11 and a 4-bit pad are 34 (refused), not 28
    for n, ok in ((10, True), (11, False)):
        fields = "".join(f" bit<20> f{i};" for i in range(n)) + (" bit<4> pad;" if n % 2 else "")
        values = ", ".join(["md.x[19:0]"] * n + (["md.x[3:0]"] if n % 2 else []))
        path, _ = build(tmp_path, f"header w_h {{{fields} }}\n", emit("w_h", values))
        if ok:
            Pipeline.from_file(path)
        else:
            with pytest.raises(TargetRefusal, match="takes at least 34"):  # + the 4-bit pad's byte
                Pipeline.from_file(path)


def test_constant_in_a_mirror_field_list_is_refused(tmp_path):
    types = "header k_h { bit<8> kind; }\n"
    dep = emit("k_h", "8w3", "  // here")
    path, text = build(tmp_path, types, dep)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value) == (f"{path}:{line}: Non-zero constant value 3 in digest field list is not supported on "
                               "tofino (bf-p4c parde/extract_deparser.cpp: put it in a metadata field)")


def test_a_constant_session_id_is_refused(tmp_path):
    types = "header k_h { bit<8> kind; }\n"
    dep = "        if (ig_dprsr_md.mirror_type == 1) {\n            m.emit<k_h>(5, {md.a});  // here\n        }\n"
    path, text = build(tmp_path, types, dep)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{line}: Non-zero constant value 5 in digest field list")


def test_the_constant_from_a_metadata_field_is_accepted(tmp_path):
    types = "header k_h { bit<8> kind; }\n"
    dep = "        if (ig_dprsr_md.mirror_type == 1) {\n            m.emit<k_h>(md.c[9:0], {md.a});\n        }\n"
    path, _ = build(tmp_path, types, dep, apply="        ig_dprsr_md.mirror_type = 1;\n        md.a = 3;\n")
    Pipeline.from_file(path)
