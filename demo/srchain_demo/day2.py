"""Day 2 under load: chained traffic with sequence numbers crosses the chain while the controller inserts the
attack-mitigation VNF (`examples/cloud-gaming-mitigation.yaml`), optionally reorders it in front of the
flow-features module (`examples/cloud-gaming-mitigation-first.yaml`), and later removes it again (the reference
chain). Measures loss, duplicates and reordering per flow at the receiver, the label stack of every probe
on both SR wires of the proxy (switch -> proxy and proxy -> switch), and reads back what is live after
each apply returned.

The probe flow goes gaming server -> gaming client (rule `from-gaming-server`), so it is chained data
traffic: v1 stack [features, priority] stays on the switch; v2 stack [features, mitigation, priority]
takes the detour through the proxy and the mitigation VNF; the reordered stack [mitigation, features,
priority] takes it too, but reaches the proxy with all three labels.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srchain.bfrt.client import BfrtClient

from .netns import TestbedError, sh
from .testbed import Testbed

GS, GC = "10.0.1.10", "10.0.2.10"
PROBE_PORT = 5004
PROBE_STREAM = 40


@dataclass
class Day2Settings:
    rate_pps: float = 10_000
    duration_s: float = 8.0
    insert_at_s: float | None = 2.0  # after the first probe is due (< 0: before the traffic; None: never)
    reorder_at_s: float | None = None  # mitigation moved in front of flow-features (None: never)
    move_at_s: float | None = None  # mitigation moved to its instance in another site (layouts with one; None: never)
    remove_at_s: float | None = 5.0  # back to the reference chain (None: keep the mitigation)
    payload: int = 100  # UDP payload bytes (128-byte IPv4 packets)
    drain_interval_s: float = 0.3


@dataclass
class ApplyRecord:
    spec: str
    version: int
    at_s: float  # since the first probe was due
    seconds: float
    drained: bool | None
    ops: int
    live_after: dict[str, Any]


@dataclass
class Day2Outcome:
    settings: dict[str, Any]
    sent: int
    send_errors: int
    received: int
    lost: int
    duplicates: int
    late: int  # packets that arrived after a higher sequence number of the same flow
    late_seqs: list[int]
    achieved_pps: float
    applies: list[ApplyRecord]
    stacks_to_proxy: dict[str, int]  # label stack (top first) -> probes seen switch -> proxy
    stacks_from_proxy: dict[str, int]  # proxy -> switch
    detour_seqs: dict[str, Any]  # the probes that went through the mitigation (any version): range, contiguity
    detours: list[dict[str, Any]]  # per detoured version, in apply order: stack seen by the proxy, its probes
    capture: dict[str, Any]
    proxy: dict[str, Any] = field(default_factory=dict)
    mitigation: dict[str, int] = field(default_factory=dict)
    receiver_kernel_drops: int = 0  # probes the receiving host's kernel dropped (its socket buffer was full)
    delays_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # one-way, "detour" / "direct": min, p50, max

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# The label-keyed SR tables of each P4 profile (a `wan` border has no module, so no local SIDs).
LABEL_TABLES = {
    "full": ("SwitchIngress.sr.sid_forward", "SwitchIngress.sr.local_sid_0", "SwitchIngress.sr.local_sid_1"),
    "wan": ("SwitchIngress.sr.sid_forward",),
}


def _switch_state(sock: Path, profile: str) -> tuple[dict[str, list[int]], list[list[int]]]:
    """The SIDs in a switch's SR tables (by table) and the stacks its classifier pushes."""
    client = BfrtClient.connect(f"unix:{sock}", client_id=13, timeout=5, attempts=3)
    try:
        client.bind("srchain_node")
        labels: dict[str, list[int]] = {}
        for table in LABEL_TABLES[profile]:
            labels[table.rsplit(".", 1)[1]] = sorted(e.key_int("label") for e in client.entries(table))
        stacks = []
        for e in client.entries("SwitchIngress.classifier.rules"):
            stacks.append([e.data_int(k) for k in sorted(e.data) if k.startswith("label_")])
    finally:
        client.close()
    return labels, sorted(stacks)


def live_state(tb: Testbed) -> dict[str, Any]:
    """What the switches and the proxies hold now: SIDs in the edge switch's SR tables (`switch`) and in every
    switch's (`switches`, by name), the stacks the edge switch's classifier pushes, every proxy's SIDs (with
    version; SIDs are unique across proxies) and attachments."""
    switches = {sw.name: _switch_state(tb.switch_socks[sw.name], sw.profile)[0] for sw in tb.layout.switches[1:]}
    labels, stacks = _switch_state(tb.switch_sock, tb.layout.edge.profile)
    sids: dict[int, dict[str, Any]] = {}
    atts: list[str] = []
    for px in tb.layout.proxies:
        api = tb.proxy_api(px.name)
        sids |= {int(s["sid"]): {"vnf": s.get("vnf"), "version": s.get("version")}
                 for s in api.call("GET", "/v1/sids")["sids"]}
        atts += [a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]]
    atts.sort()
    return {"switch": labels, "switches": {tb.layout.edge.name: labels} | switches, "classifier_stacks": stacks,
            "proxy_sids": sids, "proxy_attachments": atts}


def _agent(tb: Testbed, key: str, role: str, *args: str) -> None:
    tb.spawn(f"agent-{key}", role, [sys.executable, "-m", "srchain_demo.agent", *args])


def wait_files(tb: Testbed, files: dict[str, Path], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.time() + timeout
    while not all(f.exists() for f in files.values()):
        if time.time() > deadline:
            missing = [k for k, f in files.items() if not f.exists()]
            raise TestbedError(f"agents wrote no results: {missing}: {tb.log_tail('agent-' + missing[0])}")
        time.sleep(0.1)
    return {k: json.loads(f.read_text()) for k, f in files.items()}


def sender_stats(tb: Testbed, key: str, timeout: float) -> dict[str, int]:
    proc = tb.procs[f"agent-{key}"]
    proc.wait(timeout=timeout)
    lines = [ln for ln in tb.log_tail(f"agent-{key}", 4000).splitlines() if ln.startswith("{")]
    if not lines:
        raise TestbedError(f"blaster printed no result: {tb.log_tail(f'agent-{key}')}")
    return json.loads(lines[-1])


def _rx_packets(tb: Testbed, role: str) -> int:
    doc = json.loads(sh("ip", "-n", tb.ns(role), "-j", "-s", "link", "show", "dev", "eth0"))
    return int(doc[0]["stats64"]["rx"]["packets"])


def wait_quiet(tb: Testbed, role: str, quiet_s: float = 0.5, max_s: float = 8.0) -> None:
    """Until the host's interface received nothing for `quiet_s` (bounded by `max_s`): a packet that
    arrives late is delayed, not lost, and the receiver must still be listening when it does."""
    deadline = time.monotonic() + max_s
    last, since = _rx_packets(tb, role), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = _rx_packets(tb, role)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return


def order_stats(seqs: list[int]) -> tuple[int, list[int]]:
    """Packets that arrived after a higher sequence number (per-flow reordering), and their seqs."""
    late: list[int] = []
    top = -1
    for s in seqs:
        if s < top:
            late.append(s)
        else:
            top = s
    return len(late), late


def run_day2(tb: Testbed, s: Day2Settings, out_dir: Path, log: Any = lambda _m: None) -> Day2Outcome:
    """Run the probe flow and the two applies; the testbed must have the reference chain applied."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listen = s.duration_s + 12  # agents start ~2.5 s early; then up to 8 s for the last probes (wait_quiet)
    mitigation_proxies = list(dict.fromkeys(tb.layout.mitigations.values()))
    files = {"rx": out_dir / "day2-rx.json"}
    for px in mitigation_proxies:
        files |= {f"to_{px.name}": out_dir / f"day2-to-{px.name}.json",
                  f"from_{px.name}": out_dir / f"day2-from-{px.name}.json"}
    for f in files.values():  # a result left by an earlier run in the same directory must not be read as ours
        f.unlink(missing_ok=True)
    _agent(tb, "d2-rx", "gc", "peer", "--bind", f"{GC}:{PROBE_PORT}", "--duration", f"{listen:.1f}",
           "--out", str(files["rx"]))
    # Switch -> proxy frames arrive on the proxy's SR interface; proxy -> switch frames on the switch's port
    # toward the proxy (the proxy sends bypassing the qdisc, so a tap on its own side would not see them); at
    # every proxy with a mitigation VNF.
    for px in mitigation_proxies:
        wire_role, wire_if = tb.layout.proxy_wire(px)
        _agent(tb, f"d2-to-{px.name}", px.role, "stacks", "--iface", px.sr_if, "--port", str(PROBE_PORT),
               "--duration", f"{listen:.1f}", "--out", str(files[f"to_{px.name}"]))
        _agent(tb, f"d2-from-{px.name}", wire_role, "stacks", "--iface", wire_if, "--port", str(PROBE_PORT),
               "--duration", f"{listen:.1f}", "--out", str(files[f"from_{px.name}"]))
    t0 = time.time() + 2.5  # agents need a moment (Python imports)
    _agent(tb, "d2-blast", "gs", "blast", "--to", f"{GC}:{PROBE_PORT}", "--src", f"{GS}:{PROBE_PORT}",
           "--stream", str(PROBE_STREAM), "--rate-pps", f"{s.rate_pps:.1f}", "--size", str(s.payload),
           "--start-at", f"{t0:.3f}", "--duration", f"{s.duration_s:.2f}")
    applies: list[ApplyRecord] = []
    changes = ((s.insert_at_s, "mitigation"), (s.reorder_at_s, "mitigation_first"), (s.move_at_s, "mitigation_moved"),
               (s.remove_at_s, "reference"))
    steps = [(at, tb.spec(which)) for at, which in changes if at is not None]
    for at, spec in steps:
        time.sleep(max(0.0, t0 + at - time.time()))
        tb.check_running()
        started = time.time()
        plan, res = tb.apply(spec, drain_timeout=10.0, drain_interval=s.drain_interval_s)
        took = time.time() - started
        applies.append(ApplyRecord(spec.name, plan.version, started - t0, took, res.drained,
                                   len(res.ops), live_state(tb)))
        log(f"applied {spec.name} v{plan.version} at +{started - t0:.2f} s in {took:.2f} s")
    sender = sender_stats(tb, "d2-blast", timeout=max(5.0, t0 + s.duration_s + 5 - time.time()))
    wait_quiet(tb, "gc")  # the last probes cross the chain (a switch that fell behind drains its rings)
    for key in files:
        tb.procs[f"agent-d2-{key.replace('_', '-')}"].terminate()
    docs = wait_files(tb, files, timeout=15)
    st = docs["rx"]["streams"].get(str(PROBE_STREAM), {"seq": []})
    seqs: list[int] = st["seq"]
    counts = Counter(seqs)
    sent = int(sender["sent"])
    received = len(counts)
    late, late_seqs = order_stats(seqs)
    to_proxy = _merged(docs[f"to_{px.name}"]["stacks"] for px in mitigation_proxies)
    from_proxy = _merged(docs[f"from_{px.name}"]["stacks"] for px in mitigation_proxies)
    detours = _detours(applies, [(docs[f"to_{px.name}"]["stacks"], docs[f"from_{px.name}"]["stacks"])
                                 for px in mitigation_proxies])
    delay_of = dict(zip(seqs, st.get("delay_ns", []), strict=False))
    for d in detours:  # per version, in arrival order: its probes must stay in order; its fastest one-way delay
        mine = set(d["seqs"])
        d["late_within"], late_mine = order_stats([q for q in seqs if q in mine])
        d["late_within_seqs"] = late_mine[:20]  # which ones, for the diagnosis of a failure
        d["delay_min_ms"] = min((delay_of[q] for q in mine if q in delay_of), default=0) / 1e6
    detour = sorted(q for d in detours for q in d.pop("seqs"))
    contiguous = bool(detour) and detour[-1] - detour[0] + 1 == len(detour) == len(set(detour))
    in_detour = set(detour)
    # Per version, the flow must stay in order; across the flip a shorter new path may overtake the old one.
    late_detour, _ = order_stats([q for q in seqs if q in in_detour])
    late_direct, _ = order_stats([q for q in seqs if q not in in_detour])
    delays = {"detour": [d for q, d in zip(seqs, st["delay_ns"], strict=True) if q in in_detour],
              "direct": [d for q, d in zip(seqs, st["delay_ns"], strict=True) if q not in in_detour]}
    from .observe import proxy_counters

    return Day2Outcome(
        settings=asdict(s), sent=sent, send_errors=int(sender.get("errors", 0)), received=received,
        lost=sent - sum(1 for q in counts if 0 <= q < sent), duplicates=sum(n - 1 for n in counts.values()),
        late=late, late_seqs=late_seqs[:50], achieved_pps=sent / s.duration_s, applies=applies,
        stacks_to_proxy={k: len(v) for k, v in to_proxy.items()},
        stacks_from_proxy={k: len(v) for k, v in from_proxy.items()}, detours=detours,
        detour_seqs={"first": detour[0] if detour else None, "last": detour[-1] if detour else None,
                     "count": len(detour), "contiguous": contiguous,
                     "returned_same": all(d["returned_same"] for d in detours),
                     "late_not_in_detour": sum(1 for q in late_seqs if q not in in_detour),
                     "late_within_detour_path": late_detour, "late_within_direct_path": late_direct},
        capture={k: {"frames": d["frames"], "other": d["other"], "kernel_drops": d["kernel_drops"]}
                 for k, d in docs.items() if k != "rx"},
        proxy=proxy_counters(tb), mitigation=_mitigation_counters(tb),
        receiver_kernel_drops=int(docs["rx"].get("kernel_drops", 0)),
        delays_ms={path: _spread_ms(ns) for path, ns in delays.items() if ns},
    )


def _merged(captures: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Label stack -> probes, over several capture points (stacks name SIDs, unique across proxies)."""
    out: dict[str, list[int]] = {}
    for stacks in captures:
        for stack, seqs in stacks.items():
            out.setdefault(stack, []).extend(seqs)
    return out


def _mitigation_counters(tb: Testbed) -> dict[str, int]:
    """The mitigation VNFs' counters, summed (one unless the layout has a second one in another site)."""
    total: Counter[str] = Counter()
    for px in tb.layout.mitigations.values():
        total.update(tb.vnf_health(px.mitigation_role)["counters"])
    return dict(total)


def _spread_ms(delays_ns: list[int]) -> dict[str, float]:
    """min, median and max of one-way delays, in ms."""
    ordered = sorted(delays_ns)
    return {"min": ordered[0] / 1e6, "p50": ordered[len(ordered) // 2] / 1e6, "max": ordered[-1] / 1e6}


def _detours(applies: list[ApplyRecord],
             wires: list[tuple[dict[str, list[int]], dict[str, list[int]]]]) -> list[dict[str, Any]]:
    """Per apply whose classifier stacks leave the switch (3 labels), the stack as the proxy sees it (the
    switch pops its own leading SIDs: flow-features when it comes first) and the probes captured with it
    on each SR wire of the proxy that saw it (`wires`: per proxy, label stack -> probes toward it and back)."""
    out: list[dict[str, Any]] = []
    for a in applies:
        stacks = [st for st in a.live_after["classifier_stacks"] if len(st) == 3]
        if not stacks:
            continue
        local = set(a.live_after["switch"]["local_sid_0"]) | set(a.live_after["switch"]["local_sid_1"])
        stack = list(stacks[0])
        while stack and stack[0] in local:
            stack.pop(0)
        key = ",".join(map(str, stack))
        to_proxy, from_proxy = next((w for w in wires if key in w[0]), ({}, {}))
        seqs = sorted(set(to_proxy.get(key, [])))
        back = sorted(set(from_proxy.get(",".join(map(str, stack[1:])), [])))
        out.append({"version": a.version, "stack": stack, "seqs": seqs, "count": len(seqs),
                    "first": seqs[0] if seqs else None, "last": seqs[-1] if seqs else None,
                    "contiguous": bool(seqs) and seqs[-1] - seqs[0] + 1 == len(seqs),
                    "returned_same": back == seqs,
                    # probes that went out with this version's stack and came back without its remainder, and
                    # the other way round (docs/proxy.md "Known limit": the tail of a run at a flip)
                    "not_returned": sorted(set(seqs) - set(back)), "returned_extra": sorted(set(back) - set(seqs))})
    return out
