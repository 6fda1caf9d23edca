"""Packet traces (emulator/srchain_emu/interp/trace.py, docs/emulator.md "Packet traces"): the stable text format,
filters, the stages the target model places tables in, `srchain switch trace` and `srchain switch run --trace`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from emu_helpers import P4_DIR, data_frame
from test_dataplane_netns import recv_all

from srchain_emu.cli import switch_cli
from srchain_emu.interp.pipeline import Pipeline, compile_source, load_source
from srchain_emu.interp.target_resources import estimate
from srchain_emu.interp.trace import TraceFilter, Tracer
from srchain_emu.netns import Netns
from srchain_emu.ports import open_port_socket
from waiting import wait_until

SRCHAIN = Path(sys.executable).parent / "srchain"
NODE = Path(__file__).resolve().parents[2] / "p4" / "srchain_node.p4"


def forward_pipeline(blocks: list[str], filt: TraceFilter | None = None) -> Pipeline:
    p = Pipeline.from_file(P4_DIR / "exact_forward.p4", tracer=Tracer(blocks.append, filt))
    p.table("forward").insert([0x020000000002], "SwitchIngress.hit", {"port": 2})
    return p


def test_the_trace_of_a_hit_and_a_miss_in_the_documented_format():
    blocks: list[str] = []
    p = forward_pipeline(blocks)
    frame = data_frame(1, 2, 3, 4)
    for item in p.ingress(0, frame):
        p.egress(item)
    p.ingress(1, bytes(14))
    assert blocks == [
        "packet 1 ingress port 0 len 22\n"
        "  parser SwitchIngressParser.start\n"
        "  parser TofinoIngressParser.start\n"
        "  parser TofinoIngressParser.parse_port_metadata\n"
        "  parser SwitchIngressParser.parse_ethernet\n"
        "  stage 0 table pipe.SwitchIngress.forward hit key hdr.ethernet.dst_addr=0x20000000002\n"
        "    action SwitchIngress.hit port=0x2\n"
        "    write ig_intr_md_for_tm.ucast_egress_port = 0x2\n"
        f"  to port 2 qid 0, 22 bytes: {frame.hex()}\n"
        "  ingress done: 1 packet(s) to the traffic manager",
        "packet 2 egress port 2 len 22\n"
        "  parser SwitchEgressParser.start\n"
        "  parser TofinoEgressParser.start\n"
        f"  out port 2, 22 bytes: {frame.hex()}",
        "packet 3 ingress port 1 len 14\n"
        "  parser SwitchIngressParser.start\n"
        "  parser TofinoIngressParser.start\n"
        "  parser TofinoIngressParser.parse_port_metadata\n"
        "  parser SwitchIngressParser.parse_ethernet\n"
        "  stage 0 table pipe.SwitchIngress.forward miss key hdr.ethernet.dst_addr=0x0\n"
        "    action SwitchIngress.miss drop=0x1\n"
        "    write ig_intr_md_for_dprsr.drop_ctl = 0x1\n"
        "  dropped: drop_ctl_ingress",
    ]


def test_filters_select_packets_and_bad_filters_are_refused():
    blocks: list[str] = []
    p = forward_pipeline(blocks, TraceFilter.parse("gress=ingress, port=1, max=2"))
    for port in (0, 1, 1, 1):
        for item in p.ingress(port, data_frame(port)):
            p.egress(item)
    assert [b.splitlines()[0] for b in blocks] == ["packet 1 ingress port 1 len 22", "packet 2 ingress port 1 len 22"]
    assert p.stats["tx"] == 4  # tracing changes nothing the packets do
    blocks.clear()
    p = forward_pipeline(blocks, TraceFilter.parse("match=14:09"))
    p.ingress(0, data_frame(8))
    p.ingress(0, data_frame(9))
    assert len(blocks) == 1 and blocks[0].startswith("packet 1 ingress port 0")
    for bad, why in (("port", "expected NAME=VALUE"), ("gress=both", "gress is ingress or egress"),
                     ("match=zz", "match takes OFFSET:HEX"), ("speed=1", "unknown name 'speed'"),
                     ("max=x", "max takes an integer")):
        with pytest.raises(ValueError, match=f"trace filter '{bad}': {why}"):
            TraceFilter.parse(bad)


def test_without_a_tracer_the_program_has_no_trace_calls():
    text = load_source(P4_DIR / "exact_forward.p4")
    assert "_TR" not in compile_source(text).source
    traced = compile_source(text, trace=True)
    assert "_TR.table(" in traced.source and traced.traced
    with pytest.raises(ValueError, match="needs a Tracer"):
        Pipeline(traced)


def test_the_sr_node_trace_shows_the_stages_the_target_model_places_its_tables_in():
    blocks: list[str] = []
    p = Pipeline.from_file(NODE, [NODE.parent], tracer=Tracer(blocks.append))
    placed = {f"pipe.{n.name}": n.stage for n in estimate(_checked(), "tofino1").nodes if n.kind == "table"}
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    p.ingress(0, bytes(Ether(dst="02:00:00:00:00:01") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2)
                       / bytes(20)))
    (block,) = blocks
    tables = [line.split()[3] for line in block.splitlines() if " table " in line]
    stages = [int(line.split()[1]) for line in block.splitlines() if " table " in line]
    assert tables == ["pipe.SwitchIngress.classifier.rules", "pipe.SwitchIngress.ipv4.routes"]
    assert stages == [placed[t] for t in tables] and stages == sorted(stages)
    assert "    action SwitchIngress.ipv4.no_route" in block and block.endswith("dropped: drop_ctl_ingress")


def _checked():
    from srchain_emu.frontend.parser import parse_text
    from srchain_emu.interp.checker import check_program

    return check_program(parse_text(load_source(NODE, [NODE.parent]), str(NODE)))


def test_switch_trace_command_takes_hex_or_pcap_and_entries(tmp_path):
    from scapy.utils import wrpcap

    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps([{"table": "forward", "key": [0x020000000002], "action": "SwitchIngress.hit",
                                    "data": {"port": 3}}]))
    frame = data_frame(5)
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), [frame, frame])
    args = ["trace", "--p4", str(P4_DIR / "exact_forward.p4"), "--entries", str(entries), "--port", "1"]
    res = CliRunner().invoke(switch_cli, [*args, "--packet", str(pcap)])
    assert res.exit_code == 0, res.output
    assert res.output.count("ingress port 1 len 22") == 2 and res.output.count("out port 3, 22 bytes") == 2
    res = CliRunner().invoke(switch_cli, [*args, "--packet", frame.hex()])
    assert res.exit_code == 0 and "action SwitchIngress.hit port=0x3" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"table": "forward", "key": [1], "action": "SwitchIngress.nope"}]))
    res = CliRunner().invoke(switch_cli, ["trace", "--p4", str(P4_DIR / "exact_forward.p4"), "--packet", "00",
                                          "--entries", str(bad)])
    assert res.exit_code == 1 and res.output.startswith(f"error: {bad}: entry 0: "), res.output
    res = CliRunner().invoke(switch_cli, ["trace", "--p4", str(P4_DIR / "exact_forward.p4"), "--packet", "xyz"])
    assert res.exit_code == 1 and "neither a file nor hex bytes" in res.output
    assert "Traceback" not in res.output


@pytest.mark.netns
def test_switch_run_trace_writes_the_packets_it_forwards(tmp_path):
    sock, trace = tmp_path / "bfrt.sock", tmp_path / "trace.txt"
    with Netns(3, tag="t") as ns:
        ports = tmp_path / "ports.json"
        ports.write_text(json.dumps({"PortToIf": [{"device_port": i, "if": n} for i, n in enumerate(ns.switch_ifs)]}))
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, str(SRCHAIN), "switch", "run", "--ports", str(ports),
             "--grpc", f"unix:{sock}", "--p4", str(P4_DIR / "exact_forward.p4"), "--trace", "port=0,max=1",
             "--trace-file", str(trace)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        host = []
        try:
            wait_until(lambda: proc.poll() is None and sock.exists(), 30, what="`srchain switch run` serves")
            host = ns.run_inside(lambda: [open_port_socket(h) for h in ns.host_ifs])
            host[1].send(data_frame(1, tail=b"t" * 40))  # not traced (the filter's port is 0)

            def traced() -> bool:  # port 0's frames until one is traced (the switch may still be opening ports)
                if trace.exists() and "dropped" in trace.read_text():
                    return True
                host[0].send(data_frame(0, tail=b"t" * 40))
                return False
            wait_until(traced, 10, interval=0.2, what="the trace is written")
            recv_all(host[2], 1, timeout=0.5)  # nothing forwards (no entries): the trace is the evidence
        finally:
            for s in host:
                s.close()
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)
    text = trace.read_text()
    assert text.count("packet ") == 1 and text.startswith("packet 1 ingress port 0 len 62\n")
    assert "stage 0 table pipe.SwitchIngress.forward miss" in text and "dropped: drop_ctl_ingress" in text
