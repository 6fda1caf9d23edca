"""Two emulated border switches running profile wan, joined by the project's WAN link emulator (srchain_net.linkem,
10 ms one way), over veth pairs in a network namespace (root only). The two-site plan's a2 and b1 rows are applied
over BF Runtime; a chain's packets then cross the sites both ways: the formatter's label from a2 to b1's proxy
port, priority's label from b1 back to a2's port toward a1. Frames are checked byte for byte where they leave,
and on the WAN veths as MPLS-in-UDP (RFC 7510).

    veth pairs (switch side s<i> | host side h<i>):
      h0 (a1's side) | s0 = a2 port 8      a2      s1 = a2 port 9 | h1 --- linkem --- h2 | s2 = b1 port 9
      b1      s3 = b1 port 4 | h3 (pxb's side)
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apply_helpers import WAN_PROFILE, Switch, drivers_for, node_bundle, only, two_site_plan
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain.apply import AppliedStore, Controller, Options
from srchain.plan import tables as T
from srchain_emu.netns import Netns
from srchain_emu.ports import PortSpec, open_port_socket
from srchain_emu.switch import DataPlane

pytestmark = pytest.mark.netns

DELAY_S = 0.010
OUTGOING = 4  # PACKET_OUTGOING: a frame this host sent, seen by its own packet socket


def wait_frames(sock: socket.socket, want: int, timeout: float = 5.0) -> list[tuple[bytes, float]]:
    """Frames arriving at `sock` (not those it sent), with their arrival time (monotonic)."""
    got: list[tuple[bytes, float]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.05)
        if r:
            frame, addr = sock.recvfrom(16384)
            if addr[2] != OUTGOING:
                got.append((frame, time.monotonic()))
    return got


def test_a_chain_crosses_two_emulated_borders_over_the_wan_link_emulator(tmp_path: Path) -> None:
    plan = two_site_plan(tmp_path / "sids")
    border = only(plan, ("a2", "b1"))
    fmt = next(e.key["label"] for e in border.entries if e.role == "wan_encap" and e.target == "a2")
    prio = next(e.key["label"] for e in border.entries if e.role == "wan_encap" and e.target == "b1")
    to_pxb = next(e for e in border.entries_of("switch", "b1") if e.table == T.SID_FORWARD and e.key["label"] == fmt)
    to_a1 = next(e for e in border.entries_of("switch", "a2") if e.table == T.SID_FORWARD and e.key["label"] == prio)
    b = node_bundle(tmp_path / "wan", WAN_PROFILE)
    switches = {"a2": Switch(), "b1": Switch()}
    layout = {"a2": {8: 0, 9: 1}, "b1": {9: 2, 4: 3}}  # device port -> veth pair
    drivers = drivers_for(switches, b)
    planes: list[DataPlane] = []
    hosts: list[socket.socket] = []
    linkem: subprocess.Popen[str] | None = None
    with Netns(4, "w") as ns:
        try:
            Controller(drivers, AppliedStore(tmp_path / "state"), Options(drain_timeout=1.0)).apply(border)
            for name, ports in layout.items():
                specs = [PortSpec(dev, ns.switch_ifs[i]) for dev, i in ports.items()]
                socks = ns.run_inside(lambda specs=specs: {s.device_port: open_port_socket(s.ifname) for s in specs})
                dp = DataPlane(switches[name].servicer, specs, socks)
                dp.start()
                planes.append(dp)
            hosts = ns.run_inside(lambda: [open_port_socket(h) for h in ns.host_ifs])
            # the WAN: h1 <-> h2 through the link emulator, 10 ms each way
            linkem = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-m", "srchain_net.linkem",
                                       ns.host_ifs[1], ns.host_ifs[2], "--delay-ms", str(DELAY_S * 1e3),
                                       "--reverse-delay-ms", str(DELAY_S * 1e3)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert linkem.stdout is not None and linkem.stdout.readline().strip() == "ready"
            inner = IP(src="10.0.1.10", dst="10.0.2.10") / UDP(sport=4000, dport=6000)

            # site-a -> site-b: a1 sent the formatter's label (priority's below it) to a2
            for i in range(5):
                pkt = inner / Raw(bytes([i]) * 64)
                sent = (Ether(src="02:00:00:00:01:08", dst="02:00:00:00:02:08") / MPLS(label=fmt, ttl=63, s=0)
                        / MPLS(label=prio, ttl=64, s=1) / pkt)
                t0 = time.monotonic()
                hosts[0].send(bytes(sent))
                ((wire, _),) = wait_frames(hosts[1], 1)  # on the WAN veth, as a2 sent it
                w = Ether(wire)
                assert (w[IP].src, w[IP].dst, w[IP].flags, w[IP].ttl) == ("198.51.100.1", "198.51.100.2", 2, 64)
                assert w[UDP].dport == 6635 and w[UDP].sport >= 49152 and w[UDP].chksum == 0
                fresh = w[IP].copy()
                del fresh.chksum
                assert IP(bytes(fresh)).chksum == w[IP].chksum  # the deparser's outer checksum
                assert bytes(w[UDP].payload) == bytes(MPLS(label=fmt, ttl=62, s=0) / MPLS(label=prio, ttl=64, s=1)
                                                      / pkt)
                ((there, t1),) = wait_frames(hosts[3], 1)  # b1 took it out of the tunnel, toward pxb
                assert t1 - t0 >= DELAY_S
                # forward rewrites the destination MAC only: the source is still a2's WAN port's
                assert there == bytes(Ether(src="02:00:00:00:02:09", dst=to_pxb.params["dst_mac"])
                                      / MPLS(label=fmt, ttl=61, s=0) / MPLS(label=prio, ttl=64, s=1) / pkt)

            # site-b -> site-a: pxb returns priority's label to b1, which sends it back over the WAN to a2 -> a1
            back = inner / Raw(b"r" * 40)
            hosts[3].send(bytes(Ether(src="02:00:00:00:4b:01", dst="02:00:00:00:0b:04")
                                / MPLS(label=prio, ttl=60, s=1) / back))
            ((wire, _),) = wait_frames(hosts[2], 1)
            w = Ether(wire)
            assert (w[IP].src, w[IP].dst, w[UDP].dport) == ("198.51.100.2", "198.51.100.1", 6635)
            ((home, _),) = wait_frames(hosts[0], 1)
            assert home == bytes(Ether(src="02:00:00:00:0b:09", dst=to_a1.params["dst_mac"])
                                 / MPLS(label=prio, ttl=58, s=1) / back)
        finally:
            if linkem is not None:
                linkem.terminate()
                linkem.wait(timeout=10)
            for dp in planes:
                dp.stop()
            for s in hosts:
                s.close()
            drivers.close()
            for sw in switches.values():
                sw.stop()
