"""Helpers for the emulator tests: small P4 snippets dropped into a complete TNA program.

(A uniquely named module, so `import` never picks another directory's conftest.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from srchain_emu.interp.pipeline import Pipeline

P4_DIR = Path(__file__).parent / "p4"

TEMPLATE = """
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
header mpls_h { bit<20> label; bit<3> exp; bit<1> bos; bit<8> ttl; }
header ipv4_h {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> total_len; bit<16> identification;
    bit<3> flags; bit<13> frag_offset; bit<8> ttl; bit<8> protocol; bit<16> hdr_checksum;
    bit<32> src_addr; bit<32> dst_addr;
}
header data_h { bit<8> a; bit<8> b; bit<16> c; bit<32> d; }
@@TYPES@@
struct headers_t { ethernet_h ethernet; mpls_h[4] mpls; ipv4_h ipv4; data_h data; }
struct metadata_t { bit<8> a; bit<8> b; bit<16> c; int<8> s; bool flag; bit<32> x; }

parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        transition parse_ethernet;
    }
@@PARSER@@
}

control Ig(inout headers_t hdr, inout metadata_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
@@LOCALS@@
    apply {
        ig_tm_md.ucast_egress_port = 1;
@@APPLY@@
    }
}

control IgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
@@DEPARSER_LOCALS@@
    apply {
@@DEPARSER@@
        pkt.emit(hdr);
    }
}

parser EgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out egress_intrinsic_metadata_t eg_intr_md) {
    state start { pkt.extract(eg_intr_md); transition eg_ethernet; }
    state eg_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x88b5: eg_data; default: accept; }
    }
    state eg_data { pkt.extract(hdr.data); transition accept; }
}

control Eg(inout headers_t hdr, inout metadata_t md, in egress_intrinsic_metadata_t eg_intr_md,
           in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
           inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply {
@@EGRESS@@
    }
}

control EgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}

Pipeline(IgParser(), Ig(), IgDeparser(), EgParser(), Eg(), EgDeparser()) pipe;
Switch(pipe) main;
"""

# Default parser: ethernet, then 0x88b5 -> data_h (the scratch header the snippets compute into).
DEFAULT_PARSER = """
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            0x88b5: parse_data;
            default: accept;
        }
    }
    state parse_data { pkt.extract(hdr.data); transition accept; }
"""

ETH_DATA = bytes.fromhex("020000000002" "020000000001" "88b5")


def data_frame(a: int = 0, b: int = 0, c: int = 0, d: int = 0, tail: bytes = b"") -> bytes:
    return ETH_DATA + bytes([a, b]) + c.to_bytes(2, "big") + d.to_bytes(4, "big") + tail


def data_fields(frame: bytes) -> tuple[int, int, int, int]:
    body = frame[14:22]
    return body[0], body[1], int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:8], "big")


def program_text(apply: str = "", locals: str = "", parser: str = DEFAULT_PARSER, types: str = "",
                 deparser: str = "", deparser_locals: str = "", egress: str = "") -> str:
    return (
        TEMPLATE.replace("@@TYPES@@", types)
        .replace("@@PARSER@@", parser)
        .replace("@@LOCALS@@", locals)
        .replace("@@APPLY@@", apply)
        .replace("@@DEPARSER_LOCALS@@", deparser_locals)
        .replace("@@DEPARSER@@", deparser)
        .replace("@@EGRESS@@", egress)
    )


@pytest.fixture
def build(tmp_path):
    """build(apply=..., locals=..., ...) -> Pipeline loaded from a real file (so errors carry a path)."""

    def _build(target_model: str = "tofino1", **parts: str) -> Pipeline:
        path = tmp_path / "snippet.p4"
        path.write_text(program_text(**parts))
        return Pipeline.from_file(path, target_model=target_model)

    return _build


@pytest.fixture
def snippet_path(tmp_path):
    def _write(**parts: str) -> Path:
        path = tmp_path / "snippet.p4"
        path.write_text(program_text(**parts))
        return path

    return _write


def batch_codes(exc) -> list[str]:
    """The per-update codes of a Write/Read that failed as the SDE's server answers (status UNKNOWN, one
    bfrt_proto.Error per update up to the last failed one in the binary details), by name."""
    import grpc
    from google.rpc import status_pb2

    from srchain_contracts.bfrt import bfruntime_pb2 as pb

    assert exc.code() == grpc.StatusCode.UNKNOWN, exc
    (raw,) = [md.value for md in exc.trailing_metadata() if md.key == "grpc-status-details-bin"]
    names = {c.value[0]: c.name for c in grpc.StatusCode}
    out = []
    for detail in status_pb2.Status.FromString(raw).details:
        err = pb.Error()
        assert detail.Unpack(err)
        out.append(names[err.canonical_code])
    return out
