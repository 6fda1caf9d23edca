"""Short traffic runs for the recovery checks: a sequence-numbered probe flow (gaming server -> client, so it
is chained) and a cloud-gaming session whose prioritisation is polled on the switch."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from srchain_contracts.records import FlowKey

from . import topology as topo
from .netns import TestbedError, sh
from .observe import SwitchReader, udp_key
from .testbed import Testbed

GS, GC = "10.0.1.10", "10.0.2.10"
START_DELAY_S = 2.5  # agents need a moment (Python imports)


@dataclass
class ProbeFlow:
    key: str
    port: int
    rate_pps: float
    duration_s: float
    t0: float  # wall clock of seq 0
    out: Path

    def send_time(self, seq: int) -> float:
        return self.t0 + seq / self.rate_pps


@dataclass
class ProbeResult:
    sent: int
    seqs: list[int]  # in arrival order

    def lost(self) -> list[int]:
        got = set(self.seqs)
        return [q for q in range(self.sent) if q not in got]


def _agent(tb: Testbed, key: str, role: str, *args: str) -> None:
    tb.spawn(f"agent-{key}", role, [sys.executable, "-m", "srchain_demo.agent", *args])


def start_probe(tb: Testbed, key: str, out_dir: Path, port: int, rate_pps: float, duration_s: float) -> ProbeFlow:
    out_dir.mkdir(parents=True, exist_ok=True)
    flow = ProbeFlow(key, port, rate_pps, duration_s, time.time() + START_DELAY_S, out_dir / f"rx-{key}.json")
    _agent(tb, f"{key}-rx", "gc", "peer", "--bind", f"{GC}:{port}", "--duration", f"{duration_s + 8:.1f}",
           "--out", str(flow.out))
    _agent(tb, f"{key}-tx", "gs", "blast", "--to", f"{GC}:{port}", "--src", f"{GS}:{port}", "--stream", "41",
           "--rate-pps", f"{rate_pps:.1f}", "--size", "100", "--start-at", f"{flow.t0:.3f}",
           "--duration", f"{duration_s:.2f}")
    return flow


def finish_probe(tb: Testbed, flow: ProbeFlow) -> ProbeResult:
    """Wait for the sender, give the last probes a second, stop the receiver and read what arrived."""
    tx = tb.procs[f"agent-{flow.key}-tx"]
    tx.wait(timeout=max(5.0, flow.t0 + flow.duration_s + 5 - time.time()))
    lines = [ln for ln in tb.log_tail(f"agent-{flow.key}-tx", 4000).splitlines() if ln.startswith("{")]
    if not lines:
        raise TestbedError(f"probe sender printed no result: {tb.log_tail(f'agent-{flow.key}-tx')}")
    time.sleep(1.0)
    tb.procs[f"agent-{flow.key}-rx"].terminate()
    deadline = time.time() + 10
    while not flow.out.exists():
        if time.time() > deadline:
            raise TestbedError(f"probe receiver wrote nothing: {tb.log_tail(f'agent-{flow.key}-rx')}")
        time.sleep(0.1)
    doc = json.loads(flow.out.read_text())
    return ProbeResult(int(json.loads(lines[-1])["sent"]), doc["streams"].get("41", {"seq": []})["seq"])


@dataclass
class GamingSession:
    """A cloud-gaming session (both directions, one 5-tuple) between the gaming hosts, run by two agents."""

    tb: Testbed
    key: str
    start: float  # when the first packet is due (time.time())
    flow_key: FlowKey

    def prioritised_within(self, bound_s: float, since: float | None = None, client_id: int = 14) -> float | None:
        """Poll the switch's priority register: seconds from `since` (default: the session's start) to class 1,
        or None when it did not happen by `since + bound_s`."""
        t0 = self.start if since is None else since
        sw = SwitchReader(f"unix:{self.tb.switch_sock}", client_id=client_id)
        try:
            while time.time() < t0 + bound_s:
                if sw.session_class(self.flow_key) == 1:
                    return time.time() - t0
                time.sleep(0.1)
            return None
        finally:
            sw.close()

    def stop(self) -> None:
        for side in ("gs", "gc"):
            self.tb.procs[f"agent-{self.key}-{side}"].terminate()


def start_gaming(tb: Testbed, key: str, out_dir: Path, port: int, session_s: float, seed: int = 25) -> GamingSession:
    """Start a cloud-gaming session of `session_s` seconds on `port` (agents `agent-{key}-gs|gc`)."""
    start = time.time() + START_DELAY_S
    for side, (me, peer), up in (("gs", (GS, GC), False), ("gc", (GC, GS), True)):
        _agent(tb, f"{key}-{side}", side, "peer", "--bind", f"{me}:{port}", "--duration", f"{session_s + 4:.1f}",
               "--out", str(out_dir / f"rx-{key}-{side}.json"), "--profile", "cloud_gaming", "--seed", str(seed),
               "--to", f"{peer}:{port}", "--stream", "1" if side == "gs" else "2", "--start-at", f"{start:.3f}",
               "--session-s", f"{session_s:.1f}", *(["--upstream"] if up else []))
    return GamingSession(tb, key, start, udp_key(GS, port, GC, port)[0])


def gaming_prioritised(tb: Testbed, key: str, out_dir: Path, port: int, timeout_s: float = 6.0) -> float | None:
    """Start a cloud-gaming session on `port` and poll the switch's priority register; seconds from the
    session's start to class 1, or None when it did not happen in time."""
    session = start_gaming(tb, key, out_dir, port, session_s=timeout_s + 1)
    try:
        return session.prioritised_within(timeout_s)
    finally:
        session.stop()


def snmp(tb: Testbed, role: str, proto: str, field: str) -> int:
    """A kernel counter of a namespace from /proc/net/snmp, e.g. ("Udp", "NoPorts"): datagrams dropped for
    lack of a listening socket; ("Icmp", "OutDestUnreachs"): the port-unreachable errors sent for them."""
    rows = [ln.split() for ln in sh("ip", "netns", "exec", tb.ns(role), "cat", "/proc/net/snmp").splitlines()
            if ln.startswith(f"{proto}:")]
    return int(rows[1][rows[0].index(field)])


def formatter_role() -> str:
    return next(v.role for v in topo.VNFS if v.name == "formatter")
