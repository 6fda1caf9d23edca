"""VLAN, MAC and frame-size rules of the daemon with real frames on veth (docs/proxy.md, "VLAN and MAC rules").

    pxls<pid> (switch)  sw0 ── sr0  pxlp<pid> (proxy)  vnfa ── eth0  pxla<pid> (the VNF: this test's socket)

The kernel takes the outer 802.1Q/802.1ad tag off every frame before a packet socket sees it (with the
interface's rx VLAN offload on or off) and says so in the ring slot / PACKET_AUXDATA; it also says whom the
destination MAC addressed. Every loop (compiled, Python, io: socket) must refuse what the rules refuse,
count it under its reason, and forward the rest.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

import pytest
import yaml
from netlab import Api, Daemon, add_netns, add_veth, del_netns, drain, nsx, packet_socket_in, recv_frames
from pxlib import SR_MAC, SW_MAC, ip_frame, labels_of, mpls_frame, udp4
from scapy.layers.l2 import Ether

from srchain_net.packetsock import SOL_PACKET
from srchain_net.rings import PACKET_AUXDATA, TP_STATUS_VLAN_VALID, rx_max_frame
from srchain_proxy.engine import HEADROOM
from waiting import wait_until

pytestmark = pytest.mark.netns

VNF_IF_MAC, VNF_MAC = "02:00:00:00:0f:01", "02:00:00:00:0f:02"
OTHER_MAC, MULTICAST_MAC, BROADCAST_MAC = "02:00:00:00:0f:99", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff"
TOKEN = "px-link-token-0123456789abcdef"
MTU = 4000  # larger than a ring slot, so the slot decides what is oversize
STATIC = {"sid": 16001, "behaviour": "static", "vnf": "a", "restore": [[16002, 16004]], "ttl": 64}


class Lab:
    def __init__(self, tmp: Path) -> None:
        pid = os.getpid()
        self.s, self.p, self.a = (f"pxl{x}{pid}" for x in "spa")
        self.tmp = tmp
        self.api = Api(str(tmp / "ctl.sock"), TOKEN)
        self.config = tmp / "proxy.yaml"
        self.daemon = Daemon(self.p, self.config, tmp / "proxy.log", self.api)

    def build(self) -> None:
        for ns in (self.s, self.p, self.a):
            add_netns(ns)
        add_veth(self.s, "sw0", SW_MAC, self.p, "sr0", SR_MAC)
        add_veth(self.p, "vnfa", VNF_IF_MAC, self.a, "eth0", VNF_MAC)
        for ns, ifname in ((self.s, "sw0"), (self.p, "sr0"), (self.p, "vnfa"), (self.a, "eth0")):
            nsx(ns, "ip", "link", "set", ifname, "mtu", str(MTU))
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)
        self.sw = packet_socket_in(self.s, "sw0")
        self.vnf = packet_socket_in(self.a, "eth0")

    def start(self, **extra) -> None:
        cfg = {"sr_iface": "sr0", "sr_next_hop_mac": SW_MAC, "listen": f"unix:{self.api.path}",
               "token_file": str(self.tmp / "token"), "sids": [STATIC],
               "attachments": [{"vnf": "a", "iface": "vnfa", "mac": VNF_MAC}], **extra}
        self.config.write_text(yaml.safe_dump(cfg))
        Path(f"{self.config}.state.json").unlink(missing_ok=True)
        self.daemon.start(wait_ready=("a",))
        drain(self.sw)
        drain(self.vnf)

    def counters(self) -> dict:
        return self.api.ok("GET", "/v1/counters")  # type: ignore[return-value]

    def settle(self, total: int) -> dict:
        """Counters once `total` frames are accounted for (forwarded, dropped by a reason, or oversize)."""

        def accounted() -> dict | None:
            c = self.counters()
            sids = c["sids"]["16001"]
            n = sids["rx_packets"] + sids["tx_packets"] + c["drops_total"] + c["kernel_drops"]
            return c if n >= total else None

        return wait_until(accounted, 10, interval=0.1, what=f"{total} frames accounted for")

    def teardown(self) -> None:
        self.daemon.stop()
        for ns in (self.s, self.p, self.a):
            del_netns(ns)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("pxlink"))
    try:
        lab.build()
        yield lab
    finally:
        lab.teardown()


@pytest.fixture
def stopped(lab):
    """The lab; the daemon the test starts is stopped after it, and must stop cleanly."""
    yield lab
    assert lab.daemon.stop() == 0, lab.daemon.log.read_text()[-2000:]


LOOPS = [pytest.param({"fast_path": "compiled"}, id="compiled"), pytest.param({"fast_path": "python"}, id="python"),
         pytest.param({"io": "socket"}, id="socket")]


def _good(sport: int = 5555) -> bytes:
    return mpls_frame([16001, 16002], udp4(sport=sport))


def _tagged(frame: bytes, *tags: tuple[int, int]) -> bytes:
    """frame with (TPID, TCI) tags inserted after its MAC addresses, outermost first."""
    head = b"".join(tpid.to_bytes(2, "big") + tci.to_bytes(2, "big") for tpid, tci in tags)
    return frame[:12] + head + frame[12:]


def _recv_with_tag(sock: socket.socket, timeout: float) -> tuple[bytes, tuple[int, int] | None]:
    """One frame and the (TPID, TCI) of the VLAN tag the kernel took off it, None when untagged."""
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.settimeout(timeout)
    frame, ancillary, _flags, _addr = sock.recvmsg(65535, socket.CMSG_SPACE(20))
    for level, kind, data in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            status, _len, _snap, _mac, _net, tci, tpid = struct.unpack_from("IIIHHHH", data)
            if status & TP_STATUS_VLAN_VALID:
                return frame, (tpid, tci)
    return frame, None


def _to(frame: bytes, dst: str) -> bytes:
    return bytes.fromhex(dst.replace(":", "")) + frame[6:]


def _to_vnf(frame: bytes) -> bool:
    return frame[:6] == bytes.fromhex(VNF_MAC.replace(":", "")) and frame[6:12] == bytes.fromhex(
        VNF_IF_MAC.replace(":", ""))


def _to_switch(frame: bytes) -> bool:
    return frame[:6] == bytes.fromhex(SW_MAC.replace(":", ""))


def _nonzero(drops: dict[str, int]) -> dict[str, int]:
    """The drop counters that are not zero: compared with what a test expects, nothing else may be counted."""
    return {reason: n for reason, n in drops.items() if n}


@pytest.mark.parametrize("rxvlan", ["on", "off"])
@pytest.mark.parametrize("loop", LOOPS)
def test_tagged_and_foreign_frames_from_the_switch_never_reach_the_vnf(stopped, loop, rxvlan):
    """VLAN 1, 100 and 4094 (802.1Q), 802.1ad, 802.1ad + 802.1Q, a priority tag, and frames to another
    host's MAC, to a multicast and to the broadcast MAC, all with our SID: none reaches the VNF, each is
    counted under its reason; the good frames in between all go through."""
    lab = stopped
    nsx(lab.p, "ethtool", "-K", "sr0", "rxvlan", rxvlan)
    try:
        lab.start(**loop)
        tagged = [_tagged(_good(), (0x8100, 1)), _tagged(_good(), (0x8100, 100)), _tagged(_good(), (0x8100, 4094)),
                  _tagged(_good(), (0x88A8, 100)), _tagged(_good(), (0x88A8, 100), (0x8100, 200)),
                  _tagged(_good(), (0x8100, 100), (0x8100, 200)), _tagged(_good(), (0x8100, 3 << 13))]
        refused = {"vlan": tagged, "foreign_mac": [_to(_good(), OTHER_MAC)],
                   "multicast": [_to(_good(), MULTICAST_MAC), _to(_good(), BROADCAST_MAC)]}
        frames = []
        for i in range(10):
            frames.append(_good(6000 + i))
            frames += [f for group in refused.values() for f in group]
        for frame in frames:
            lab.sw.send(frame)
        got = recv_frames(lab.vnf, 10, timeout=3, accept=_to_vnf)
        c = lab.settle(len(frames))
        time.sleep(0.2)  # nothing else arrives late
        got += recv_frames(lab.vnf, 1, timeout=0.2, accept=_to_vnf)
        assert sorted(Ether(f).sport for f in got) == list(range(6000, 6010))
        assert c["sids"]["16001"]["rx_packets"] == 10
        want = {reason: 10 * len(group) for reason, group in refused.items()}
        assert _nonzero(c["drops"]) == want
    finally:
        nsx(lab.p, "ethtool", "-K", "sr0", "rxvlan", "on")


@pytest.mark.parametrize("loop", LOOPS)
def test_sr_vlan_takes_exactly_its_vlan_and_tags_what_goes_back(stopped, loop):
    lab = stopped
    lab.start(sr_vlan=100, **loop)
    ours = [_tagged(_good(7000 + i), (0x8100, (i % 8) << 13 | 100)) for i in range(8)]  # any priority
    refused = [_good(), _tagged(_good(), (0x8100, 101)), _tagged(_good(), (0x8100, 1100)),
               _tagged(_good(), (0x88A8, 100)), _tagged(_good(), (0x8100, 100), (0x8100, 100))]
    for frame in [*ours, *refused]:
        lab.sw.send(frame)
    got = recv_frames(lab.vnf, 8, timeout=3, accept=_to_vnf)
    assert sorted(Ether(f).sport for f in got) == list(range(7000, 7008))
    assert all(f[12:14] == b"\x08\x00" for f in got)  # handed to the VNF untagged
    reply = ip_frame(udp4(src="10.70.0.9", dst="10.80.0.5"), dst=VNF_IF_MAC, src=VNF_MAC)
    lab.vnf.send(reply)
    # the switch side's kernel takes the tag off as well: it shows in PACKET_AUXDATA
    frame, tag = _recv_with_tag(lab.sw, timeout=3)
    assert _to_switch(frame) and tag == (0x8100, 100), lab.counters()  # priority 0
    assert labels_of(frame) == [(16002, 0, 0, 64), (16004, 0, 1, 64)]
    c = lab.settle(len(ours) + len(refused) + 1)
    assert c["sids"]["16001"]["rx_packets"] == 8 and c["sids"]["16001"]["tx_packets"] == 1
    assert _nonzero(c["drops"]) == {"vlan": 5}


@pytest.mark.parametrize("loop", LOOPS)
def test_attachment_takes_untagged_frames_to_its_own_mac_only(stopped, loop):
    lab = stopped
    lab.start(**loop)
    reply = ip_frame(udp4(src="10.70.0.9", dst="10.80.0.5"), dst=VNF_IF_MAC, src=VNF_MAC)
    refused = {"return_vlan": [_tagged(reply, (0x8100, 5)), _tagged(reply, (0x88A8, 4094)),
                               _tagged(reply, (0x88A8, 7), (0x8100, 8)), _tagged(reply, (0x8100, 0))],
               "return_foreign_mac": [_to(reply, OTHER_MAC)],
               "return_multicast": [_to(reply, MULTICAST_MAC), _to(reply, BROADCAST_MAC)]}
    frames = [reply, *(f for group in refused.values() for f in group), reply]
    for frame in frames:
        lab.vnf.send(frame)
    got = recv_frames(lab.sw, 2, timeout=3, accept=_to_switch)
    c = lab.settle(len(frames))
    got += recv_frames(lab.sw, 1, timeout=0.2, accept=_to_switch)
    assert len(got) == 2 and all(f[12:14] == b"\x88\x47" for f in got)
    assert c["sids"]["16001"]["tx_packets"] == 2
    want = {reason: len(group) for reason, group in refused.items()}
    assert _nonzero(c["drops"]) == want


def test_frames_as_long_as_a_ring_slot_holds_go_through_one_byte_more_is_oversize(stopped):
    """The SR ring has no headroom: 1982-byte frames fit its 2048-byte slots; an attachment's ring keeps
    132 bytes for the push: 1850. One byte more is dropped as oversize, on either side."""
    lab = stopped
    sr_max, att_max = rx_max_frame(0), rx_max_frame(HEADROOM)
    assert (sr_max, att_max) == (1982, 1850)
    lab.start()
    assert "longer frames are dropped and counted as oversize" in lab.daemon.log.read_text()  # MTU 4000
    inbound = [mpls_frame([16001, 16002], udp4(sport=8000 + i, payload=b"s" * (sr_max + i - 50))) for i in (0, 1)]
    for frame in inbound:
        assert len(frame) in (sr_max, sr_max + 1)
        lab.sw.send(frame)
    got = recv_frames(lab.vnf, 2, timeout=3, accept=_to_vnf)
    assert [len(f) for f in got] == [sr_max - 8]  # popped: two labels fewer
    returning = [ip_frame(udp4(sport=9000 + i, payload=b"r" * (att_max + i - 42)), dst=VNF_IF_MAC, src=VNF_MAC)
                 for i in (0, 1)]
    for frame in returning:
        assert len(frame) in (att_max, att_max + 1)
        lab.vnf.send(frame)
    back = recv_frames(lab.sw, 2, timeout=3, accept=_to_switch)
    assert [len(f) for f in back] == [att_max + 8]  # two labels pushed
    c = lab.settle(4)
    assert _nonzero(c["drops"]) == {"oversize": 2}
    assert c["sr_ring"]["max_frame"] == sr_max
