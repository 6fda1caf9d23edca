"""show-decisions (aggregator) and show-blocked (mitigation) through ops.testing, against the real service
processes (started by the charm's restart command, as systemd would): the aggregator on loopback UDP fed
with window labels, the mitigation bridging two veth pairs `so<pid>i0/i1`, `so<pid>o0/o1` and fed with a
flood from one source through a raw socket."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from ops import testing
from osm_unitlab import free_port, service
from osmlib import charm_class

from srchain_contracts.records import FlowKey, TrafficClass, WindowLabel, ip_to_int
from waiting import wait_until

KEY = FlowKey(ip_to_int("10.0.1.10"), ip_to_int("10.0.2.10"), 5000, 5000, 17)


def _act(svc: dict, name: str) -> dict:
    ctx = testing.Context(charm_class(svc["charm"]), charm_root=svc["charm"])
    ctx.run(ctx.on.action(name), testing.State(config={"service-config": str(svc["cfg"]),
                                                       "restart-command": svc["restart"]}))
    assert ctx.action_results is not None
    return json.loads(ctx.action_results["output"])


def test_show_decisions_lists_the_sessions_of_the_running_aggregator(tmp_path: Path) -> None:
    listen = free_port(socket.SOCK_DGRAM)
    cfg = {"listen": {"port": listen}, "next_hop": {"port": free_port(socket.SOCK_DGRAM)}, "agree": 2,
           "refresh_s": 0.5}
    with service(tmp_path, "aggregator", cfg) as agg:
        assert _act(agg, "restart-service") == {"service": "aggregator", "status": "ok"}
        assert _act(agg, "show-decisions")["sessions"] == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for seq in range(2):
                label = WindowLabel(KEY, TrafficClass.CLOUD_GAMING, seq, confidence=255)
                tx.sendto(label.pack(), ("127.0.0.1", listen))
        shown = wait_until(lambda: (d := _act(agg, "show-decisions"))["sessions"] and d, 5,
                           what="the aggregator shows a session")
    assert shown["by_class"] == {"cloud_gaming": 1} and shown["refresh_s"] == 0.5
    (row,) = shown["decisions"]
    assert row["flow"] == {"ip_a": "10.0.1.10", "port_a": 5000, "ip_b": "10.0.2.10", "port_b": 5000, "proto": 17}
    assert row["class_name"] == "cloud_gaming" and row["age_s"] >= 0 and row["confidence"] == 1.0


@pytest.mark.netns
def test_show_blocked_names_the_flooding_source(tmp_path: Path, veths: tuple[str, str, str]) -> None:
    in_if, out_if, sender = veths
    cfg = {"in_iface": in_if, "out_iface": out_if, "max_pps": 20, "window_s": 1.0, "block_s": 60,
           "allow": ["10.9.0.0/16"]}
    with service(tmp_path, "mitigation", cfg) as mit:
        subprocess.run([mit["restart"]], check=True, timeout=30)  # as systemd would start it (no such action)
        up = wait_until(lambda: _act(mit, "show-blocked"), 15, interval=0.1, ignore=(testing.ActionFailed,),
                        what=f"the mitigation answers show-blocked (its log: {tmp_path / 'log'})")
        assert up["blocked"] == []
        # the legs are root-namespace veths: count from here, so a stray frame before the burst is not ours
        passed_before = _act(mit, "show-counters")["counters"].get("passed", 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton("10.66.0.9"),
                         socket.inet_aton("10.0.2.10"))
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + b"\x00" * 8
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((sender, 0))
            for _ in range(100):  # within well under a second: 100 > 20 pps
                tx.send(frame)
        shown = wait_until(lambda: (b := _act(mit, "show-blocked"))["blocked"] and b, 5,
                           what="the mitigation blocks the flooding source")
        counters = _act(mit, "show-counters")["counters"]
    (row,) = shown["blocked"]
    assert (row["source"], row["reason"], row["destination"], row["window_packets"]) == ("10.66.0.9", "rate",
                                                                                         "10.0.2.10", 21)
    assert row["dropped"] == counters["dropped:rate"] + counters.get("dropped:blocked", 0) >= 1
    assert counters["passed"] - passed_before == 20 and 55 <= row["remaining_s"] <= 60
    assert shown["allow"] == ["10.9.0.0/16"] and shown["thresholds"]["max_pps"] == 20
