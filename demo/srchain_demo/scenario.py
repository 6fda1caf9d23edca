"""The demo scenario: background load congests the shaped port, a cloud-gaming session and two other
sessions start, and the chain detects and prioritises the gaming one. Returns every number the demo
prints and stores; knows nothing about the terminal (callbacks report progress)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import topology as topo
from .netns import TestbedError
from .observe import QueueSample, SwitchReader, hops, proxy_counters, udp_key, vnf_counters
from .testbed import Testbed

GC, GS, BG = "10.0.2.10", "10.0.1.10", "10.0.3.10"
STREAM_GAMING, STREAM_GAMING_UP, STREAM_VOIP, STREAM_WEB, STREAM_BLAST, STREAM_TWIN = 1, 2, 3, 5, 9, 11
TWIN_PORT = 5007
PAYLOAD = 1372  # blaster UDP payload: 1400-byte IPv4 packets
Event = Callable[[str, float], None]
Tick = Callable[[float, float], None]


@dataclass
class Settings:
    warmup_s: float = 2.0  # background only, so the queue is full when the session starts
    session_s: float = 10.0  # gaming and other sessions
    load: float = 1.3  # background rate / shaped port rate
    gaming_seed: int = 25  # cloud_gaming seed 25: ~6.9 Mbit/s, ~710 pps downstream (below the port rate)
    poll_s: float = 0.2
    twin: bool = False  # also replay the gaming downstream from an address no classifier rule matches
    reconfigure_at_s: float | None = None  # day 2 mid-scenario: insert the mitigation VNF (s after sessions start)


@dataclass
class Outcome:
    settings: dict[str, Any]
    timeline: dict[str, float | None]  # seconds since the gaming session's start
    delays: dict[str, dict[str, Any]]  # stream -> summary
    gaming_before_ms: list[float]
    gaming_after_ms: list[float]
    queue_series: list[dict[str, float]]
    hops: list[dict[str, Any]]
    switch: dict[str, Any]
    proxy: dict[str, Any]
    vnfs: dict[str, dict[str, int]]
    classes: dict[str, int]  # session -> class in the switch's priority register at the end
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("gaming_before_ms", "gaming_after_ms")} | {
            "gaming_delay_samples": {"before_ms": self.gaming_before_ms, "after_ms": self.gaming_after_ms}}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _summary(delays_ms: list[float], expected: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"packets": len(delays_ms), "p50_ms": percentile(delays_ms, 50),
                           "p99_ms": percentile(delays_ms, 99)}
    if expected is not None:
        out["expected"] = expected
        out["lost"] = expected - len(delays_ms)
    return out


def _agent(tb: Testbed, key: str, role: str, *args: str) -> None:
    tb.spawn(f"agent-{key}", role, [sys.executable, "-m", "srchain_demo.agent", *args])


# Session endpoints: (key, namespace role, bind, peer, stream, profile, seed, upstream). The client side
# sends the profile's upstream direction from the port the downstream arrives on: one 5-tuple per session.
PEERS = (
    ("game-gs", "gs", (GS, topo.GAMING_PORT), (GC, topo.GAMING_PORT), STREAM_GAMING, "cloud_gaming", None, False),
    ("game-gc", "gc", (GC, topo.GAMING_PORT), (GS, topo.GAMING_PORT), STREAM_GAMING_UP, "cloud_gaming", None, True),
    ("voip-bg", "bg", (BG, topo.VOIP_PORT), (GC, topo.VOIP_PORT), STREAM_VOIP, "voip", 0, False),
    ("voip-gc", "gc", (GC, topo.VOIP_PORT), (BG, topo.VOIP_PORT), STREAM_VOIP + 1, "voip", 0, True),
    ("web-bg", "bg", (BG, topo.WEB_PORT), (GC, topo.WEB_PORT), STREAM_WEB, "web", 0, False),
    ("web-gc", "gc", (GC, topo.WEB_PORT), (BG, topo.WEB_PORT), STREAM_WEB + 1, "web", 0, True),
)


def start_traffic(tb: Testbed, s: Settings, t0: float, out_dir: Path) -> float:
    """Start every agent; returns the sessions' start (wall clock). The background blaster starts at t0."""
    total = s.warmup_s + s.session_s
    start = t0 + s.warmup_s
    rec = f"{total + 4:.2f}"
    for key, role, (ip, port), (pip, pport), stream, profile, seed, up in PEERS:
        args = ["peer", "--bind", f"{ip}:{port}", "--duration", rec, "--out", str(out_dir / f"rx-{key}.json"),
                "--profile", profile, "--seed", str(s.gaming_seed if seed is None else seed),
                "--to", f"{pip}:{pport}", "--stream", str(stream), "--start-at", f"{start:.3f}",
                "--session-s", f"{s.session_s:.2f}"]
        _agent(tb, key, role, *args, *(["--upstream"] if up else []))
    if s.twin:  # the same gaming downstream (same profile and seed), outside the chain: the baseline
        _agent(tb, "twin-gc", "gc", "peer", "--bind", f"{GC}:{TWIN_PORT}", "--duration", rec,
               "--out", str(out_dir / "rx-twin-gc.json"))
        _agent(tb, "twin-bg", "bg", "peer", "--bind", f"{topo.BLASTER_SRC}:{TWIN_PORT}", "--duration", rec,
               "--out", str(out_dir / "rx-twin-bg.json"), "--profile", "cloud_gaming", "--seed",
               str(s.gaming_seed), "--to", f"{GC}:{TWIN_PORT}", "--stream", str(STREAM_TWIN),
               "--start-at", f"{start:.3f}", "--session-s", f"{s.session_s:.2f}")
    bp = topo.BLAST_PORT
    _agent(tb, "blast-gc", "gc", "peer", "--bind", f"{GC}:{bp}", "--duration", rec,
           "--out", str(out_dir / "rx-blast-gc.json"))
    rate = s.load * tb.port_rate_bps / ((PAYLOAD + 28) * 8)
    _agent(tb, "blast", "bg", "blast", "--to", f"{GC}:{bp}", "--src", f"{topo.BLASTER_SRC}:{bp}", "--stream",
           str(STREAM_BLAST), "--rate-pps", f"{rate:.1f}", "--size", str(PAYLOAD), "--start-at", f"{t0:.3f}",
           "--duration", f"{total:.2f}")
    return start


SESSIONS = {
    "cloud_gaming": udp_key(GS, topo.GAMING_PORT, GC, topo.GAMING_PORT)[0],
    "voip": udp_key(BG, topo.VOIP_PORT, GC, topo.VOIP_PORT)[0],
    "web": udp_key(BG, topo.WEB_PORT, GC, topo.WEB_PORT)[0],
}


Reconfigure = Callable[[Testbed], dict[str, Any]]


def run(tb: Testbed, s: Settings, out_dir: Path, on_event: Event, on_tick: Tick,
        reconfigure: Reconfigure | None = None) -> Outcome:
    """Run the scenario on a testbed whose chain is applied; blocks for about warmup + session + 5 s. `reconfigure`
    makes the day-2 change at `s.reconfigure_at_s` (default: the mitigation spec applied through srchain.apply) and
    returns what `_reconfigure` returns (spec, version, start, end, seconds, ops, drained)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sw = SwitchReader(f"unix:{tb.switch_sock}")
    try:
        return _run(tb, sw, s, out_dir, on_event, on_tick, reconfigure or _reconfigure)
    finally:
        sw.close()


def _aggregator_decided(tb: Testbed) -> bool:
    return bool(tb.vnf_health("ag")["counters"].get("decision:1", 0) > 0)


def _run(tb: Testbed, sw: SwitchReader, s: Settings, out_dir: Path, on_event: Event, on_tick: Tick,
         reconfigure: Reconfigure) -> Outcome:
    t0 = time.time() + 2.5  # agents need a moment to start (Python imports)
    start = start_traffic(tb, s, t0, out_dir)
    game_key, game_dir = udp_key(GS, topo.GAMING_PORT, GC, topo.GAMING_PORT)
    marks: dict[str, float | None] = {"session seen": None, "detected": None, "prioritised": None}
    series: list[dict[str, float]] = []
    for q in (0, 7):
        sw.reset_delay_sum(topo.SHAPED_PORT, q)
    q_prev = {0: sw.queue(topo.SHAPED_PORT, 0), 7: sw.queue(topo.SHAPED_PORT, 7)}
    end = t0 + s.warmup_s + s.session_s + 0.5
    blast_started = False
    change: dict[str, Any] = {}
    while (now := time.time()) < end:
        tb.check_running()
        on_tick(max(0.0, now - t0), end - t0)
        if not blast_started and now >= t0:
            blast_started = True
            on_event("background load on", now - start)
        if marks["session seen"] is None and sw.flow_packets(game_key, game_dir) > 0:
            marks["session seen"] = now
            on_event("session seen", now - start)
        if marks["detected"] is None and _aggregator_decided(tb):
            marks["detected"] = now
            on_event("detected", now - start)
        if marks["prioritised"] is None and sw.session_class(SESSIONS["cloud_gaming"]) == 1:
            # The decision may have reached the switch between the two reads above: look at the aggregator
            # again so the events keep their causal order (detected, then prioritised) within one tick.
            if marks["detected"] is None and _aggregator_decided(tb):
                marks["detected"] = now
                on_event("detected", now - start)
            marks["prioritised"] = now
            on_event("prioritised", now - start)
        row: dict[str, float] = {"t": now - start}
        for q in (0, 7):
            cur = sw.queue(topo.SHAPED_PORT, q)
            dn = cur.packets - q_prev[q].packets
            row[f"q{q}_packets"] = dn
            row[f"q{q}_delay_ms"] = (cur.delay_sum_us - q_prev[q].delay_sum_us) / dn / 1000 if dn else 0.0
            if cur.delay_sum_us > 2**30:  # far from saturation (2^32 units): restart the sum from 0
                sw.reset_delay_sum(topo.SHAPED_PORT, q)
                cur = QueueSample(cur.packets, 0.0, cur.delay_max_ns)
            q_prev[q] = cur
        series.append(row)
        if s.reconfigure_at_s is not None and not change and now >= start + s.reconfigure_at_s:
            change = reconfigure(tb)
            on_event(f"day 2: mitigation inserted (v{change['version']}, {change['seconds']:.2f} s)",
                     change["start"] - start)
        time.sleep(max(0.0, s.poll_s - (time.time() - now)))
    on_tick(end - t0, end - t0)
    # Let the queues drain and the recorders write their files.
    deadline = time.time() + 15
    keys = [p[0] for p in PEERS] + ["blast-gc"] + (["twin-gc", "twin-bg"] if s.twin else [])
    files = {k: out_dir / f"rx-{k}.json" for k in keys}
    while not all(f.exists() for f in files.values()):
        if time.time() > deadline:
            missing = [k for k, f in files.items() if not f.exists()]
            raise TestbedError(f"traffic agents wrote no results: {missing}: {tb.log_tail('agent-' + missing[0])}")
        time.sleep(0.2)
    docs = {k: json.loads(f.read_text()) for k, f in files.items()}
    sent = {k: int(d.get("sender", {}).get("sent", 0)) for k, d in docs.items()} | {"blast": _blast_sent(tb)}
    rx = {sid: st for d in docs.values() for sid, st in d["streams"].items()}
    rx_up = rx
    t_prio = marks["prioritised"]
    game = rx.get(str(STREAM_GAMING), {"send_ns": [], "delay_ns": []})
    before: list[float] = []
    after: list[float] = []
    for sent_ns, d in zip(game["send_ns"], game["delay_ns"], strict=True):
        (after if t_prio is not None and sent_ns / 1e9 >= t_prio else before).append(d / 1e6)
    first = min(game["send_ns"]) / 1e9 if game["send_ns"] else start
    timeline: dict[str, float | None] = {k: (v - first if v is not None else None) for k, v in marks.items()}

    def stream_ms(streams: dict[str, Any], sid: int, since: float | None = None) -> list[float]:
        st = streams.get(str(sid), {"send_ns": [], "delay_ns": []})
        pairs = zip(st["send_ns"], st["delay_ns"], strict=True)
        return [d / 1e6 for t, d in pairs if since is None or t / 1e9 >= since]

    delays = {
        "cloud_gaming": _summary(stream_ms(rx, STREAM_GAMING), sent.get("game-gs")),
        "cloud_gaming_before": _summary(before), "cloud_gaming_after": _summary(after),
        "cloud_gaming_up": _summary(stream_ms(rx_up, STREAM_GAMING_UP), sent.get("game-gc")),
        "voip": _summary(stream_ms(rx, STREAM_VOIP), sent.get("voip-bg")),
        "voip_after": _summary(stream_ms(rx, STREAM_VOIP, t_prio)) if t_prio else _summary([]),
        "web": _summary(stream_ms(rx, STREAM_WEB), sent.get("web-bg")),
        "background": _summary(stream_ms(rx, STREAM_BLAST), sent.get("blast")),
    }
    if s.twin:
        delays["cloud_gaming_twin"] = _summary(stream_ms(rx, STREAM_TWIN), sent.get("twin-bg"))
        delays["cloud_gaming_twin_after"] = _summary(stream_ms(rx, STREAM_TWIN, t_prio)) if t_prio else _summary([])
    extra: dict[str, Any] = {}
    if change:
        change["streams"] = {name: across_change(rx.get(str(sid), {}), change["start"], change["end"])
                             for name, sid in (("cloud_gaming", STREAM_GAMING), ("cloud_gaming_up", STREAM_GAMING_UP))}
        change["lost"] = sum(c["lost"] for c in change["streams"].values())
        change["late"] = sum(c["late"] for c in change["streams"].values())
        change["mitigation"] = tb.vnf_health(topo.MITIGATION_ROLE)["counters"]
        timeline["reconfigured"] = change["start"] - first
        extra["reconfigure"] = change
    time.sleep(0.5)  # the last reports reach the aggregator
    vnfs, switch = settled_counters(tb, sw)
    return Outcome(
        settings=s.__dict__ | {"port_rate_bps": tb.port_rate_bps, "dataplane": tb.dataplane},
        timeline=timeline, delays=delays, gaming_before_ms=before, gaming_after_ms=after,
        queue_series=series, hops=hops(tb, sw), switch=switch, proxy=proxy_counters(tb),
        vnfs=vnfs, classes={name: sw.session_class(key) for name, key in SESSIONS.items()},
        extra=extra | {"queue_port2": {q: sw.queue(topo.SHAPED_PORT, q).__dict__ for q in (0, 7)}},
    )


def settled_counters(tb: Testbed, sw: SwitchReader, timeout: float = 3.0) -> tuple[dict, dict]:
    """VNF and switch counters from one quiet moment of the report path: a decision still on its way from
    the aggregator to the switch would otherwise show as sent but not accepted. A decision that never
    arrives shows as that difference after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        vnfs, switch = vnf_counters(tb), sw.counters()
        quiet = vnfs == vnf_counters(tb)
        agreed = switch.get("decisions_accepted") == vnfs.get("aggregator", {}).get("sent")
        if (quiet and agreed) or time.monotonic() > deadline:
            return vnfs, switch
        time.sleep(0.1)


CHANGE_MARGIN_S = 1.0  # packets sent this long before the change started or after it ended count as "across"


def _reconfigure(tb: Testbed) -> dict[str, Any]:
    """Apply the day-2 insert (make-before-break) while the traffic runs."""
    started = time.time()
    spec = tb.spec("mitigation")
    plan, res = tb.apply(spec)
    return {"spec": spec.name, "version": plan.version, "start": started, "end": time.time(),
            "seconds": time.time() - started, "ops": len(res.ops), "drained": res.drained}


def across_change(stream: dict[str, list[int]], t_start: float, t_end: float) -> dict[str, Any]:
    """Loss and reordering of one flow among the packets sent from CHANGE_MARGIN_S before the change to
    CHANGE_MARGIN_S after it. A lost packet is placed by the send time of the last packet received before
    it in sequence order (its own send time is unknown: it never arrived)."""
    lo, hi = t_start - CHANGE_MARGIN_S, t_end + CHANGE_MARGIN_S
    seqs, sends = stream.get("seq", []), stream.get("send_ns", [])
    sent_at = dict(zip(seqs, (t / 1e9 for t in sends), strict=True))
    window = sorted(q for q, t in sent_at.items() if lo <= t <= hi)
    lost = 0
    if window:
        got = set(sent_at)
        lost = sum(1 for q in range(window[0], window[-1] + 1) if q not in got)
    in_window = set(window)
    late = top = 0
    for q in (q for q in seqs if q in in_window):  # arrival order: a packet below the highest seen is late
        if q < top:
            late += 1
        top = max(top, q)
    return {"received": len(window), "lost": lost, "late": late,
            "first_seq": window[0] if window else None, "last_seq": window[-1] if window else None}


def _blast_sent(tb: Testbed) -> int:
    """Packets the blaster reports having sent (its last stdout line)."""
    proc = tb.procs.get("agent-blast")
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except Exception:  # reported as 0 below
            return 0
    lines = [ln for ln in tb.log_tail("agent-blast", 4000).splitlines() if ln.startswith("{")]
    return int(json.loads(lines[-1]).get("sent", 0)) if lines else 0
