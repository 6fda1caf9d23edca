"""Namespace tests: the VNF daemons as real processes inside a private network namespace.

formatter -> classifier -> aggregator -> decision sink on the namespace's loopback, fed with the feature
reports the P4 flow-features model produces for generated sessions; and the flood mitigation bridging two
veth pairs with real frames on AF_PACKET sockets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from waiting import wait_until

pytestmark = pytest.mark.netns

PY = sys.executable
HEALTH = "import urllib.request as u, sys; sys.stdout.write(u.urlopen('http://127.0.0.1:{port}/healthz').read().decode())"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"vn{os.getpid()}t"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


class Procs:
    def __init__(self, ns: str, tmp: Path) -> None:
        self.ns, self.tmp, self.procs = ns, tmp, []  # type: ignore[var-annotated]

    def start(self, name: str, *args: str) -> subprocess.Popen[str]:
        err = open(self.tmp / f"{name}.err", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, PY, "-m", "srchain_vnfs.cli", *args],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        self.procs.append((proc, err))
        return proc

    def wait_ready(self, name: str, timeout: float = 20) -> dict[str, object]:
        """The JSON health line the service writes to stderr once it serves."""
        err = self.tmp / f"{name}.err"
        line = wait_until(lambda: next((ln for ln in err.read_text().splitlines() if ln.startswith("{")), None),
                          timeout, what=f"{name} ready (its stderr: {err})")
        return json.loads(line)

    def nsrun(self, *args: str, timeout: float = 60) -> str:
        res = subprocess.run(["ip", "netns", "exec", self.ns, *args], capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def stop_all(self) -> list[int | None]:
        codes = []
        for proc, err in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                codes.append(proc.wait(timeout=10))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(timeout=5))
            err.close()
        return codes


def test_chain_in_netns_decides_per_scripted_session(netns: str, tmp_path: Path) -> None:
    configs = {
        "formatter": "listen: {port: 47001}\nnext_hop: {port: 47003}\n",
        "classifier": "listen: {port: 47003}\nnext_hop: {port: 47004}\n",
        "aggregator": "listen: {port: 47004}\nnext_hop: {port: 47002}\nagree: 3\nidle_timeout_s: 1.5\n"
        "tick_s: 0.1\ndecision_ttl_s: 60\n",
    }
    procs = Procs(netns, tmp_path)
    try:
        sink = procs.start("sink", "sink", "--listen", "127.0.0.1:47002", "--duration", "60", "--idle", "4")
        for name, text in configs.items():
            (tmp_path / f"{name}.yaml").write_text(text)
            procs.start(name, "run", name, "--config", str(tmp_path / f"{name}.yaml"))
        health = {name: procs.wait_ready(name) for name in configs}
        # Gaming: only the first 10 reports of each session are sent -> detection within 10 reports.
        gaming = json.loads(procs.nsrun(PY, "-m", "srchain_vnfs.cli", "trafficgen", "reports",
                                        "--profile", "cloud_gaming", "--profile", "cloud_gaming",
                                        "--max-reports", "10", "--seed", "40"))
        others = json.loads(procs.nsrun(PY, "-m", "srchain_vnfs.cli", "trafficgen", "reports",
                                        "--profile", "video_streaming", "--profile", "video_streaming",
                                        "--profile", "bulk", "--profile", "bulk", "--seed", "50",
                                        "--client-offset", "10", "--rate", "4000"))
        # Garbage to the formatter: counted and dropped, the service keeps running.
        procs.nsrun(PY, "-c", "import socket; s=socket.socket(2,2); [s.sendto(b'\\x53\\x52\\x01\\x01junk', "
                    "('127.0.0.1', 47001)) for _ in range(5)]")
        out, _ = sink.communicate(timeout=60)
        port = health["formatter"]["health"][1]  # type: ignore[index]
        fmt_health = json.loads(procs.nsrun(PY, "-c", HEALTH.format(port=port)))
    finally:
        codes = procs.stop_all()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1] == {"done": True, "bad": 0}
    decisions: dict[str, list[int]] = {}
    for rec in lines[:-1]:
        decisions.setdefault(rec["key"], []).append(rec["class_id"])
    assert len(gaming) == 2 and len(others) == 4
    for key in gaming:
        assert decisions.get(key) == [1, 0], (key, decisions)  # gaming, then best effort once quiet
    for key, info in others.items():
        assert 1 not in decisions.get(key, []), (key, info, decisions.get(key))
        assert info["reports"] > 50  # they really got plenty of chances to be misclassified
    assert fmt_health["counters"]["dropped:truncated"] == 5
    assert fmt_health["counters"]["received"] == 5 + sum(v["reports"] for v in (gaming | others).values())
    assert codes[1:] == [0, 0, 0], codes  # services stop cleanly on SIGTERM
    for name in configs:
        assert "Traceback" not in (tmp_path / f"{name}.err").read_text()


MITIGATION_PROBE = r"""
import socket, struct, sys, time
def frame(src, dst):
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + bytes(8)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); tx.bind(("vnA0", 0))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
rx.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: hold every frame until read
rx.bind(("vnB0", 0)); rx.settimeout(0.5)
plan = [("10.1.0.1", 30), ("10.1.0.9", 300), ("192.168.5.5", 300)]   # normal, flooder, allow-listed flooder
for i in range(300):
    for src, n in plan:
        if i < n:
            tx.send(frame(src, "10.2.0.1"))
    if i % 10 == 0:
        time.sleep(0.002)
tx.send(b"\x02" * 12 + b"\x08\x00" + b"\x45\x00")   # malformed IPv4: counted and dropped
tx.send(b"\x02" * 12 + b"\x08\x06" + bytes(28))     # ARP-like: passes unchanged
back = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); back.bind(("vnA0", 0))
back.settimeout(0.5)
rtx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); rtx.bind(("vnB0", 0))
for _ in range(5):
    rtx.send(frame("10.1.0.9", "10.2.0.1"))   # the blocked source, the other way: not filtered
got = {}
for sock, prefix in ((rx, ""), (back, "reverse:")):
    try:
        while True:
            data, addr = sock.recvfrom(2048)
            if addr[2] == 4:
                continue
            if data[12:14] == b"\x08\x00":
                key = prefix + socket.inet_ntoa(data[26:30])
                got[key] = got.get(key, 0) + 1
            elif data[12:14] == b"\x08\x06":
                got[prefix + "non_ip"] = got.get(prefix + "non_ip", 0) + 1
    except TimeoutError:
        pass
print(__import__("json").dumps(got))
"""


def test_mitigation_drops_only_the_flooding_source(netns: str, tmp_path: Path) -> None:
    for a, b in (("vnA0", "vnA1"), ("vnB0", "vnB1")):
        _ip("-n", netns, "link", "add", a, "type", "veth", "peer", "name", b)
        for dev in (a, b):
            _ip("-n", netns, "link", "set", dev, "up")
    cfg = tmp_path / "mitigation.yaml"
    cfg.write_text("in_iface: vnA1\nout_iface: vnB1\nmax_pps: 20\nmax_fan_in: 50\nfan_in_source_pps: 1000\n"
                   "window_s: 5\nblock_s: 30\nallow: [192.168.0.0/16]\n")
    procs = Procs(netns, tmp_path)
    try:
        procs.start("mitigation", "run", "mitigation", "--config", str(cfg))
        health = procs.wait_ready("mitigation")
        got = json.loads(procs.nsrun(PY, "-c", MITIGATION_PROBE))
        port = health["health"][1]  # type: ignore[index]
        counters = json.loads(procs.nsrun(PY, "-c", HEALTH.format(port=port)))["counters"]
    finally:
        codes = procs.stop_all()
    assert got.get("10.1.0.1") == 30  # normal source: everything passes
    assert got.get("10.1.0.9") == 100, got  # flooder cut at max_pps * window_s
    assert got.get("192.168.5.5") == 300 and got.get("non_ip") == 1
    assert counters["dropped:rate"] == 1 and counters["dropped:blocked"] == 199
    assert counters["dropped:malformed_truncated"] == 1
    # received/sent count the filtered direction only (each frame passed or dropped for a reason; the
    # namespace's own IPv6 chatter passes as non-IP); the reverse direction passes, counted apart
    drops = sum(v for k, v in counters.items() if k.startswith("dropped:"))
    passed = counters["passed"] + counters["passed_allowed"] + counters["passed_non_ip"]
    assert counters["received"] == passed + drops and counters["sent"] == passed, sorted(counters.items())
    assert got.get("reverse:10.1.0.9") == 5 and counters["reverse_received"] == counters["reverse_sent"] >= 5
    assert codes == [0]
