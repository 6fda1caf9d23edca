"""Tofino 1 parser rules of the target model (interp/target_parser.py) and the Tofino sense of
`Checksum.verify()`: true when the checksum is wrong (SDE tna_checksum.p4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from emu_helpers import program_text
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.interp.target import TargetRefusal

REPO = Path(__file__).resolve().parents[2]
HEADER = ("parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t "
          "ig_intr_md) {")


def checksum_program(tmp_path: Path, use: str) -> tuple[Path, str]:
    parser = f"""
    state parse_ethernet {{
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {{ 0x0800: parse_ipv4; default: accept; }}
    }}
    state parse_ipv4 {{
        pkt.extract(hdr.ipv4);
        ck.add(hdr.ipv4);
        {use}  // use
        transition accept;
    }}
    """
    text = program_text(parser=parser, apply="if (md.flag) { ig_dprsr_md.drop_ctl = 1; }")
    text = text.replace(HEADER, HEADER + "\n    Checksum() ck;")
    path = tmp_path / "ck.p4"
    path.write_text(text)
    return path, text


def use_line(text: str) -> int:
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// use" in s]
    return line


GOOD = (Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / b"hello").build()
BAD = bytearray(GOOD)
BAD[14 + 10] ^= 0x55  # the IPv4 header checksum


def test_verify_is_the_error_bit_good_passes_bad_is_dropped(tmp_path):
    path, _ = checksum_program(tmp_path, "md.flag = ck.verify();")
    p = Pipeline.from_file(path)
    assert [o.frame for o in p.process(0, GOOD)] == [GOOD]
    assert p.process(0, bytes(BAD)) == []
    assert p.stats["drop_ctl_ingress"] == 1


@pytest.mark.parametrize(("use", "shown"), [
    ("md.flag = !ck.verify();", "!ck.verify()"),
    ("md.flag = ck.verify() && hdr.ipv4.ttl == 1;", "ck.verify() && hdr.ipv4.ttl == 1"),
    ("verify(ck.verify(), error.ParserInvalidArgument);", "ck.verify()"),
])
def test_other_uses_of_verify_in_a_parser_are_refused(tmp_path, use, shown):
    path, text = checksum_program(tmp_path, use)
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)
    assert str(info.value) == (f"{path}:{use_line(text)}: Assignment source cannot be evaluated in the parser: "
                               f"{shown} (bf-p4c parde/extract_parser.cpp: write `x = c.verify()`, the checksum's "
                               "error bit)")
    Pipeline.from_file(path, target_model="none")  # the emulator itself runs it


def test_the_node_program_with_the_old_negated_verify_is_refused(tmp_path):
    shutil.copytree(REPO / "p4", tmp_path / "p4", ignore=shutil.ignore_patterns("tests", "build"))
    parser = tmp_path / "p4" / "include" / "parser.p4"
    lines = parser.read_text().splitlines()
    (i,) = [n for n, s in enumerate(lines) if "checksum_err = ipv4_checksum.verify()" in s]
    lines[i] = "        ig_md.checksum_err = !ipv4_checksum.verify();"
    parser.write_text("\n".join(lines) + "\n")
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(tmp_path / "p4" / "srchain_node.p4")
    assert str(info.value).startswith(f"{parser}:{i + 1}: Assignment source cannot be evaluated in the parser: "
                                      "!ipv4_checksum.verify()")
