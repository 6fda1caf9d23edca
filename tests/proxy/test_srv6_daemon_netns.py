"""100,000 malformed SRv6 frames into the running proxy daemon (network namespaces, real packet sockets,
the compiled loop): no crash, no traceback, every frame counted exactly once (in one SID's rx counters or in
one inbound drop reason), and the proxy still forwards afterwards. Same namespaces as test_proxy_netns.py:
End.AS on the UDP upper-case service (fmt), End.AD on the reflector (fw), End.AM on the one-port-per-
direction reflector (ids). Run under `flock /tmp/srchain-netns.lock`; bounded in frames and time."""

from __future__ import annotations

import random
import sys
import time

import pytest
from netlab import drain, packet_socket_in, recv_frames, spawn_in
from pxlib import SW_MAC, udp4, udp6
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from srv6lib import (
    HEAD,
    MID,
    PX,
    PX_AD,
    PX_AM,
    TAIL,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    frame,
    hmac_tlv,
    srv6_packet,
)
from test_proxy_netns import HERE, VNFCI_MAC, Lab

from srchain_proxy import compiled
from srchain_proxy.engine import SRV6_INBOUND_DROPS
from waiting import wait_until

pytestmark = pytest.mark.netns

N = 100_000
SRV6_SIDS = [
    {"sid": PX, "behaviour": "end.as", "vnf": "fmt", "source": HEAD, "segments": [[TAIL]], "hop_limit": 64},
    {"sid": PX_AD, "behaviour": "end.ad", "vnf": "fw"},
    {"sid": PX_AM, "behaviour": "end.am", "vnf": "ids"},
]
SERVICE = udp4(src="10.80.0.5", dst="10.70.0.9", sport=5555, dport=7000, payload=b"still here")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("px6lab"))
    try:
        lab.build()
        with spawn_in(lab.a, sys.executable, str(HERE / "vnf_upper.py"), "7000", "240", "10.70.0.9"), \
                spawn_in(lab.b, sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240"), \
                spawn_in(lab.c, sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240", "eth1", VNFCI_MAC):
            lab.sw = packet_socket_in(lab.s, "sw0")
            yield lab
            lab.sw.close()
    finally:
        lab.teardown()


def _srv6_from_proxy(f: bytes) -> bool:
    return f[:6] == bytes.fromhex(SW_MAC.replace(":", "")) and f[12:14] == b"\x86\xdd"


def fixed_frames() -> dict[str, bytes]:
    inner = udp4()
    bad = bytearray(frame(srv6_packet(inner, [PX, TAIL], sl=1)))
    bad[14 + 40 + 3] = 3  # SL > Last Entry + 1 (SL = Last Entry + 1 is a reduced SRH: legal)
    return {
        "srv6_sl_zero": frame(srv6_packet(inner, [TAIL, PX], sl=0)),
        "srv6_hop_limit": frame(srv6_packet(inner, [PX_AD, TAIL], sl=1, hlim=1)),
        "srv6_fragment": frame(srv6_packet(inner, [PX, TAIL], sl=1, before=[IPv6ExtHdrFragment()])),
        "srv6_no_srh": frame(IPv6(src=HEAD, dst=PX_AM) / inner),
        "srv6_unknown_sid": frame(srv6_packet(inner, [MID, TAIL], sl=1)),
        "srv6_bad_srh": bytes(bad),
        "srv6_inner_type": frame(srv6_packet(None, [PX_AD, TAIL], sl=1, nh=59)),
        "srv6_ext_header": frame(srv6_packet(inner, [PX, TAIL], sl=1,
                                             before=[IPv6ExtHdrDestOpt(), IPv6ExtHdrHopByHop()])),
        # H.Encaps.Red onto End.AM: a legal reduced SRH (SL = Last Entry + 1) End.AM cannot take
        "srv6_am_reduced_srh": frame(srv6_packet(udp6(), [TAIL], sl=1, da=PX_AM)),
    }


def test_100k_malformed_srv6_frames_counted_once_no_crash_still_forwarding(lab):
    lab.write_config([], srv6_sids=SRV6_SIDS)
    lab.daemon.start(wait_ready=("fmt", "fw"))
    try:
        health = lab.api.ok("GET", "/v1/health")
        assert health["sr_loop"] == ("compiled" if compiled.load() is not None else "python")  # type: ignore[index]
        drain(lab.sw)
        rng = random.Random(1900)
        fixed = fixed_frames()
        seeds = [frame(srv6_packet(SERVICE, [PX, TAIL], sl=1, tlvs=[hmac_tlv()])),
                 frame(srv6_packet(udp6(), [MID, PX_AD, TAIL], sl=1, before=[IPv6ExtHdrHopByHop()])),
                 frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1)),
                 frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1, before=[IPv6ExtHdrDestOpt()])),
                 frame(srv6_packet(udp4(), [MID, TAIL], sl=2, da=PX_AD))]  # reduced SRH (H.Encaps.Red)
        expected = dict.fromkeys(fixed, 0)
        expected["srv6_truncated"] = 0
        frames = []
        names = list(fixed)
        for i in range(N):
            k = i % (len(names) + 2)
            if k < len(names):
                frames.append(fixed[names[k]])
                expected[names[k]] += 1
            elif k == len(names):
                good = rng.choice(seeds)
                frames.append(good[:rng.randrange(18, len(good))])  # cut anywhere after the ethertype
                expected["srv6_truncated"] += 1
            else:  # a valid frame with random bytes changed or cut: forwarded or dropped, counted once
                data = bytearray(rng.choice(seeds))
                for _ in range(rng.randint(1, 4)):
                    if rng.random() < 0.75:
                        data[rng.randrange(14, len(data))] = rng.randrange(256)
                    elif len(data) > 19:
                        del data[rng.randrange(19, len(data)):]
                frames.append(bytes(data))
        t0 = time.monotonic()
        for start in range(0, N, 500):  # paced: the point is accounting, not overload
            for f in frames[start:start + 500]:
                lab.sw.send(f)
            time.sleep(0.004)
            drain(lab.sw)  # what comes back (forwarded mutants) must not fill our socket
        assert time.monotonic() - t0 < 120

        def inbound(c) -> int:
            rx = sum(row["rx_packets"] for row in c["srv6_sids"].values())
            drops = sum(c["drops"][r] for r in (*SRV6_INBOUND_DROPS, "no_attachment", "no_neighbour", "truncated"))
            return rx + drops + c["kernel_drops"]

        counters = wait_until(lambda: (c := lab.api.ok("GET", "/v1/counters")) and inbound(c) >= N and c, 30,
                              interval=0.2, what=f"all {N} frames counted")
        drops = counters["drops"]
        assert counters["kernel_drops"] == 0 and drops["internal_error"] == 0
        for reason in fixed:  # every fixed refusal under its own reason (mutants add to some of them)
            assert drops[reason] >= expected[reason], reason
        assert drops["srv6_truncated"] >= expected["srv6_truncated"]
        assert inbound(counters) == N  # every frame counted exactly once
        print(f"{N} frames in {time.monotonic() - t0:.1f} s; rx", {s: r["rx_packets"] for s, r in
              counters["srv6_sids"].items()}, "tx", {s: r["tx_packets"] for s, r in counters["srv6_sids"].items()},
              "drops", {k: v for k, v in drops.items() if v}, "events", counters["srv6_events"])
        assert sum(counters["srv6_events"].values()) > 0
        # still forwarding: End.AS through the upper-case service and back, re-encapsulated
        drain(lab.sw)
        lab.sw.send(frame(srv6_packet(SERVICE, [PX, TAIL], sl=1)))
        got = recv_frames(lab.sw, 1, 3.0, accept=lambda f: _srv6_from_proxy(f) and b"STILL HERE" in f)
        pkt = Ether(got[0])
        assert pkt[IPv6].dst == TAIL and pkt[IPv6ExtHdrSegmentRouting].segleft == 0
        assert bytes(pkt[UDP].payload) == b"STILL HERE"
        assert lab.daemon.proc.poll() is None
    finally:
        code = lab.daemon.stop()
        log = lab.daemon.log.read_text()
        assert code == 0, log[-2000:]
        assert "Traceback" not in log and "failed on a frame" not in log, log[-3000:]


def test_end_ad_with_two_workers_returns_meet_the_learned_header(lab):
    """workers: 2 -- SR-side IPv6 goes to worker 0 (the fanout rule), and an SRv6 attachment's group sends
    its returns to worker 0 too: every End.AD flow restores its learned header, none is a miss, although
    the returning IPv4 packets' 5-tuples would spread them over both workers."""
    lab.write_config([], srv6_sids=SRV6_SIDS, workers=2)
    lab.daemon.start(wait_ready=("fmt", "fw"))
    try:
        health = lab.api.ok("GET", "/v1/health")
        assert [w["alive"] for w in health["workers"]] == [True]  # type: ignore[index]
        drain(lab.sw)
        flows = [frame(srv6_packet(udp4(sport=43000 + i), [MID, PX_AD, TAIL], sl=1, hlim=30)) for i in range(64)]
        for f in flows:
            lab.sw.send(f)
        got = recv_frames(lab.sw, 64, 5.0, accept=_srv6_from_proxy)
        assert len(got) == 64, lab.api.ok("GET", "/v1/counters")
        for f in got:  # the learned header with End applied: hop limit - 1, SL 0, DA = TAIL
            pkt = Ether(f)
            assert (pkt[IPv6].dst, pkt[IPv6].hlim, pkt[IPv6ExtHdrSegmentRouting].segleft) == (TAIL, 29, 0)
        counters = lab.api.ok("GET", "/v1/counters")
        row = counters["srv6_sids"][PX_AD]  # type: ignore[index]
        assert (row["rx_packets"], row["tx_packets"]) == (64, 64)
        assert (row["cache"]["hits"], row["cache"]["misses"]) == (64, 0)
        assert counters["drops"]["srv6_flow_miss"] == 0  # type: ignore[index]
    finally:
        assert lab.daemon.stop() == 0, lab.daemon.log.read_text()[-2000:]
