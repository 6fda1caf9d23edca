"""Shared set-up of the SR node PTF suite: connection, port mapping, table helpers, packet builders.

Test parameters (`ptf --test-params "k='v';..."`):
  grpc_addr   BF Runtime address (`127.0.0.1:50052`, `unix:/path`)          [required]
  target      `emulator` pushes the program bundle before each test; anything else (`tofino-model`,
              `hw`) expects `run_switchd.sh -p srchain_node` to have loaded it                [emulator]
  bundle      directory with bf-rt.json + pipe/ (what `p4/build` writes)    [needed for emulator]
  ports       device port of PTF port 0,1,2,3 (`"1,2,3,4"`; tofino-model: `"0,1,2,3"`)   [1,2,3,4]

Nothing here depends on the emulator: tables are written through BF Runtime, counters and registers read
back through it, and assertions compare deltas, so the suite runs unchanged on tofino-model or a switch.
"""

from __future__ import annotations

import contextlib
import ipaddress
import struct

import ptf
from ptf import testutils
from ptf.base_tests import BaseTest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from srchain.bfrt.client import BfrtClient

PROGRAM = "srchain_node"
SWITCH_MAC = "02:00:00:00:01:00"  # what the PTF hosts send to; the program does not check it
HOST_MAC = ["02:00:00:00:10:01", "02:00:00:00:20:01", "02:00:00:00:30:01", "02:00:00:00:40:01"]

# Drop reasons (p4/include/defines.p4): the index into SwitchIngress.drops
DROP_STACK_TOO_DEEP, DROP_TTL_EXPIRED, DROP_UNKNOWN_LABEL, DROP_NO_ROUTE = 1, 2, 3, 4
DROP_IP_TTL, DROP_BAD_CHECKSUM, DROP_NOT_IPV4, DROP_DECISION, DROP_BAD_DECISION = 5, 6, 7, 8, 9

# SIDs the suite uses
SID_FF, SID_PRIO = 16000, 16005  # local: flow-features, priority
SID_REMOTE = [20000, 20001, 20002, 20003, 20004, 20005, 20006, 20007, 20008]  # forwarded elsewhere
TTL = 64


def ip(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


def mac(s: str) -> int:
    return int(s.replace(":", ""), 16)


def mpls_stack(labels: list[int], ttls: list[int] | int = TTL) -> Packet:
    ttl_list = ttls if isinstance(ttls, list) else [ttls] * len(labels)
    stack: Packet | None = None
    for i, (label, ttl) in enumerate(zip(labels, ttl_list, strict=True)):
        entry = MPLS(label=label, cos=0, s=1 if i == len(labels) - 1 else 0, ttl=ttl)
        stack = entry if stack is None else stack / entry
    assert stack is not None
    return stack


def udp_packet(src: str = "10.0.1.10", dst: str = "10.0.2.10", sport: int = 5000, dport: int = 6000,
               size: int = 100, ttl: int = 64, eth_dst: str = SWITCH_MAC,
               eth_src: str = HOST_MAC[0]) -> Packet:
    """An Ethernet/IPv4/UDP frame of `size` bytes (without FCS)."""
    head = Ether(dst=eth_dst, src=eth_src) / IP(src=src, dst=dst, ttl=ttl, id=1) / UDP(sport=sport, dport=dport)
    return head / Raw(b"\x00" * max(0, size - len(head)))


def labelled(labels: list[int], inner: Packet, ttls: list[int] | int = TTL, eth_dst: str = SWITCH_MAC,
             eth_src: str = HOST_MAC[3]) -> Packet:
    """`inner` (an Ethernet frame) with the label stack inserted after its Ethernet header."""
    return Ether(dst=eth_dst, src=eth_src, type=0x8847) / mpls_stack(labels, ttls) / inner.payload


class SrNodeTest(BaseTest):
    """Connects, loads the program when the target is the emulator, and clears every table it writes."""

    def setUp(self) -> None:
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()
        self.target = testutils.test_param_get("target", "emulator")
        self.ports = [int(p) for p in str(testutils.test_param_get("ports", "1,2,3,4")).split(",")]
        self.c = BfrtClient(testutils.test_param_get("grpc_addr"), client_id=1)
        self.c.subscribe(learn=False)
        if self.target == "emulator":
            self.c.push_program(PROGRAM, testutils.test_param_get("bundle"))
        self.c.bind(PROGRAM)
        self.written: list[str] = []

    def tearDown(self) -> None:
        for table in reversed(self.written):
            with contextlib.suppress(Exception):
                if table.startswith("$pre."):  # the SDE's PRE tables delete by key only ($pre.mgid before nodes)
                    for e in self.c.entries(table):
                        self.c.delete(table, e.key)
                else:
                    self.c.delete(table)
        self.c.close()
        BaseTest.tearDown(self)

    # -- table helpers -----------------------------------------------------------------------
    def add(self, table: str, key: dict, action: str | None = None, data: dict | None = None,
            priority: int | None = None) -> None:
        self.c.insert(table, key, action, data or {}, priority=priority)
        if table not in self.written:
            self.written.append(table)

    def dev(self, ptf_port: int) -> int:
        return self.ports[ptf_port]

    def local_sid(self, sid: int, action: str, data: dict | None = None) -> None:
        for table in ("SwitchIngress.sr.local_sid_0", "SwitchIngress.sr.local_sid_1"):  # the SID is its own data
            self.add(table, {"label": sid}, f"SwitchIngress.sr.{action}", {"sid": sid, **(data or {})})

    def sid_forward(self, sid: int, ptf_port: int) -> None:
        self.add("SwitchIngress.sr.sid_forward", {"label": sid}, "SwitchIngress.sr.forward",
                 {"port": self.dev(ptf_port), "dst_mac": mac(HOST_MAC[ptf_port])})

    def route(self, prefix: str, plen: int, ptf_port: int) -> None:
        self.add("SwitchIngress.ipv4.routes", {"dst_addr": (ip(prefix), plen)}, "SwitchIngress.ipv4.route",
                 {"port": self.dev(ptf_port), "dst_mac": mac(HOST_MAC[ptf_port])})

    def classify(self, labels: list[int], src: str = "0.0.0.0", src_mask: str = "0.0.0.0", protocol: int = 0,
                 protocol_mask: int = 0, priority: int = 100) -> None:
        key = {"ig_port": (0, 0), "src_addr": (ip(src), ip(src_mask)), "dst_addr": (0, 0),
               "protocol": (protocol, protocol_mask), "src_port": (0, 0), "dst_port": (0, 0),
               "lb_bucket": (0, 0)}
        data = {"ttl": TTL, **{f"label_{i}": label for i, label in enumerate(labels)}}
        self.add("SwitchIngress.classifier.rules", key, f"SwitchIngress.classifier.push_{len(labels)}", data,
                 priority=priority)

    # -- counters ----------------------------------------------------------------------------
    def counter(self, name: str, index: int) -> int:
        (entry,) = self.c.entries(name, {"$COUNTER_INDEX": index})
        return int(entry.data["$COUNTER_SPEC_PKTS"])

    def drops(self, reason: int) -> int:
        return self.counter("SwitchIngress.drops", reason)

    def register(self, name: str, index: int) -> int:
        values = self.c.register_read(name, index)
        (field,) = values.values()
        return int(field[0])

    def expect(self, pkt: Packet, ptf_port: int) -> None:
        testutils.verify_packet(self, pkt, ptf_port)

    def send(self, ptf_port: int, pkt: Packet | bytes) -> None:
        testutils.send_packet(self, ptf_port, pkt)


def decision_record(src: str, sport: int, dst: str, dport: int, proto: int, class_id: int, seq: int = 1) -> bytes:
    """A decision record v1 (docs/records.md) for the session of this packet 5-tuple."""
    from srchain_contracts.records import DecisionRecord, FlowKey

    key, _direction = FlowKey.from_packet(src, sport, dst, dport, proto)
    return DecisionRecord(key, issuer_id=7, class_id=class_id, confidence=255, ttl_s=0, seq=seq,
                          issued_ns=123).pack()


def udp_payload(frame: bytes, labels: int) -> bytes:
    """UDP payload of an Ethernet + `labels` MPLS + IPv4 (no options) + UDP frame, cut to the UDP length."""
    off = 14 + 4 * labels + 20
    (length,) = struct.unpack_from("!H", frame, off + 4)
    return frame[off + 8 : off + length]
