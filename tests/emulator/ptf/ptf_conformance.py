"""PTF tests for the two conformance programs; run by test_ptf_netns.py with
`ptf --test-dir tests/emulator/ptf -i 0@IF0 -i 1@IF1 -i 2@IF2 --test-params "grpc_addr='unix:...';bundles='DIR'"`.
The switch is programmed through the project's BF Runtime client (srchain.bfrt.client).

Target-independent: nothing here depends on the emulator. With `target='emulator'` (the default) each test
pushes its program's bundle; with any other target (`tofino-model`, `hw`) the program must already be
loaded (`run_switchd.sh -p exact_forward`), and `ports='a,b,c'` maps PTF ports 0..2 to device ports."""

from __future__ import annotations

import ptf
from ptf import testutils
from ptf.base_tests import BaseTest

from srchain.bfrt.client import BfrtClient


class _ProgramTest(BaseTest):
    program = ""

    def setUp(self) -> None:
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()
        self.client = BfrtClient(testutils.test_param_get("grpc_addr"), client_id=1)
        self.client.subscribe(learn=True)
        if testutils.test_param_get("target", "emulator") == "emulator":
            self.client.push_program(self.program, f"{testutils.test_param_get('bundles')}/{self.program}")
        self.client.bind(self.program)
        self.ports = [int(p) for p in str(testutils.test_param_get("ports", "0,1,2")).split(",")]

    def tearDown(self) -> None:
        self.client.close()
        BaseTest.tearDown(self)


class ExactForward(_ProgramTest):
    program = "exact_forward"

    def runTest(self) -> None:
        c = self.client
        c.insert("SwitchIngress.forward", {"hdr.ethernet.dst_addr": 0x222222222222}, "SwitchIngress.hit",
                 {"port": self.ports[2]})
        pkt = testutils.simple_udp_packet(eth_dst="22:22:22:22:22:22", pktlen=100)
        testutils.send_packet(self, 0, pkt)
        testutils.verify_packet(self, pkt, 2)
        miss = testutils.simple_udp_packet(eth_dst="22:22:22:22:22:23", pktlen=100)
        testutils.send_packet(self, 1, miss)
        testutils.verify_no_other_packets(self, timeout=0.5)
        (entry,) = c.entries("SwitchIngress.forward")
        assert entry.action == "SwitchIngress.hit" and entry.data["port"] == self.ports[2], entry
        assert entry.data["$COUNTER_SPEC_PKTS"] == 1, entry
        c.delete("SwitchIngress.forward")
        testutils.send_packet(self, 0, pkt)
        testutils.verify_no_other_packets(self, timeout=0.5)


class FlowCounter(_ProgramTest):
    program = "flow_counter"

    def runTest(self) -> None:
        c = self.client
        c.insert("SwitchIngress.route", {"hdr.ipv4.dst_addr": (0x0A010000, 16)}, "SwitchIngress.set_port",
                 {"port": self.ports[1]})
        pkt = testutils.simple_udp_packet(ip_src="10.0.0.1", ip_dst="10.1.0.2", udp_sport=4000, udp_dport=53)
        for _ in range(4):
            testutils.send_packet(self, 0, pkt)
            testutils.verify_packet(self, pkt, 1)
        counts = []
        for _ in range(2):
            name, rows = c.digest(timeout=5)
            assert name.endswith("flow_digest"), name
            (row,) = rows
            assert (row["src_addr"], row["dst_addr"], row["src_port"], row["dst_port"]) == (
                0x0A000001, 0x0A010002, 4000, 53), row
            counts.append(row["count"])
        assert counts == [1, 4], counts
        nonzero = [e for e in c.entries("SwitchIngress.flow_packets") if any(any(v) for v in e.data.values())]
        assert len(nonzero) == 1, len(nonzero)
        idx = nonzero[0].key["$REGISTER_INDEX"]
        # one value per pipe: the packets came in on a pipe-0 port, the other pipes' cells stay 0
        assert c.register_read("SwitchIngress.flow_packets", idx) == {"f1": [4, 0, 0, 0]}
        # Malformed frame: bad IPv4 checksum -> the parser's error bit, dropped by ingress, nothing forwarded.
        bad = testutils.simple_udp_packet(ip_src="10.0.0.1", ip_dst="10.1.0.2")
        bad["IP"].chksum = 0x1234
        testutils.send_packet(self, 0, bad)
        testutils.verify_no_other_packets(self, timeout=0.5)
