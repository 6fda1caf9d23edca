"""show-decisions (aggregator) and show-blocked (mitigation) through ops.testing, against the real service
processes (started by the charm's restart command, as systemd would): the aggregator on loopback UDP fed
with window labels, the mitigation bridging two veth pairs `so<pid>i0/i1`, `so<pid>o0/o1` and fed with a
flood from one source through a raw socket."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ops import testing
from osmlib import REPO, charm_class

from srchain_contracts.records import FlowKey, TrafficClass, WindowLabel, ip_to_int
from waiting import wait_until

KEY = FlowKey(ip_to_int("10.0.1.10"), ip_to_int("10.0.2.10"), 5000, 5000, 17)
PFX = f"so{os.getpid()}"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def service(tmp_path: Path, name: str, cfg: dict) -> Iterator[dict]:
    """The service's YAML config (a fixed loopback health port) and a restart script that (re)starts it."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "http": {"host": "127.0.0.1", "port": _free_port(socket.SOCK_STREAM)},
                                    **cfg}))
    pid = tmp_path / "pid"
    script = tmp_path / "restart.sh"
    script.write_text(f"""#!/bin/sh
[ -f {pid} ] && kill $(cat {pid}) 2>/dev/null && while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.05; done
{sys.executable} -m srchain_vnfs.cli run {name} --config {path} >>{tmp_path}/log 2>&1 &
echo $! > {pid}
""")
    script.chmod(0o755)
    try:
        yield {"cfg": path, "restart": str(script), "charm": REPO / f"charms/srchain-{name}"}
    finally:
        if pid.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGTERM)


def _act(svc: dict, name: str) -> dict:
    ctx = testing.Context(charm_class(svc["charm"]), charm_root=svc["charm"])
    ctx.run(ctx.on.action(name), testing.State(config={"service-config": str(svc["cfg"]),
                                                       "restart-command": svc["restart"]}))
    assert ctx.action_results is not None
    return json.loads(ctx.action_results["output"])


def test_show_decisions_lists_the_sessions_of_the_running_aggregator(tmp_path: Path) -> None:
    listen = _free_port(socket.SOCK_DGRAM)
    cfg = {"listen": {"port": listen}, "next_hop": {"port": _free_port(socket.SOCK_DGRAM)}, "agree": 2,
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


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture
def veths() -> Iterator[tuple[str, str, str]]:
    """Two veth pairs for the mitigation's legs (in: i0, out: o0) and the sender's end i1."""
    names = [(f"{PFX}i0", f"{PFX}i1"), (f"{PFX}o0", f"{PFX}o1")]
    try:
        for a, b in names:
            subprocess.run(["ip", "link", "del", a], capture_output=True, timeout=30)
            _sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            for n in (a, b):
                subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{n}.disable_ipv6=1"], capture_output=True, timeout=30)
                _sh("ip", "link", "set", n, "up")
        yield names[0][0], names[1][0], names[0][1]
    finally:
        for a, _ in names:
            subprocess.run(["ip", "link", "del", a], capture_output=True, timeout=30)


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
