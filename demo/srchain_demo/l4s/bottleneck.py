"""Bottlenecks the L4S harness can put between sender and delay line, by name.

A builder gets a namespace holding `in0` (sender side) and `out0` (receiver side) and the shape to give
the forward direction (rate, buffer); it returns a running Bottleneck, or raises BottleneckAbsent when the
machine cannot have it (the harness then reports it as absent, not as failed). Its `finish()` hands back
what it measured of itself, in one shape for every bottleneck:

    {"t0_monotonic": when t = 0 (time.monotonic, one clock for the whole host),
     "sojourns": {queue: [(t, sojourn s), …]},         the discipline's own queue delays ({} if none)
     "series":   [{"t", "backlog_packets": {queue: n}, "backlog_bytes": {…},
                   "marked": {queue: n}, "dropped": {queue: n}}, …]}   cumulative counters, every 100 ms

To add one (the lead's `p4`: the emulated Tofino running the L4S module, shaped by its TM), write a
builder and `register("p4", builder)`; nothing else in the harness changes.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .procs import NsProcess
from .topo import sh


class BottleneckAbsent(RuntimeError):
    """This machine cannot provide the bottleneck (e.g. the kernel has no dualpi2 qdisc)."""


@dataclass(frozen=True)
class Shape:
    ns: str
    rate_bps: float
    buffer_bytes: int
    seed: int = 1


class Bottleneck(Protocol):
    def finish(self) -> dict[str, Any]:
        """Stop it and return its measurements (shape in the module docstring)."""
        ...


Builder = Callable[[Shape], Bottleneck]
BUILDERS: dict[str, Builder] = {}


def register(name: str, builder: Builder) -> None:
    BUILDERS[name] = builder


def build(name: str, shape: Shape) -> Bottleneck:
    if name not in BUILDERS:
        raise ValueError(f"bottleneck: unknown {name!r} (known: {', '.join(sorted(BUILDERS))})")
    return BUILDERS[name](shape)


class EmulatedLink:
    """srchain_demo.l4s.aqmlink in the namespace: rate, shared buffer and the named discipline."""

    def __init__(self, shape: Shape, qdisc: str) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="l4s-link-")
        self.report = Path(self.tmp.name) / "link.json"
        self.proc = NsProcess(shape.ns, "srchain_demo.l4s.aqmlink", "in0", "out0", "--qdisc", qdisc,
                              "--rate-mbit", str(shape.rate_bps / 1e6), "--limit-bytes", str(shape.buffer_bytes),
                              "--seed", str(shape.seed), "--report", str(self.report))
        self.proc.wait_ready()

    def finish(self) -> dict[str, Any]:
        code = self.proc.stop()
        try:
            if code != 0 or not self.report.exists():
                raise RuntimeError(f"bottleneck link emulator exited {code}: {self.proc.stderr()}")
            report = json.loads(self.report.read_text())
            fwd = report["forward"]
        finally:
            self.tmp.cleanup()
        series = [{"t": s["t"], "backlog_packets": s["backlog_packets"], "backlog_bytes": s["backlog_bytes"],
                   "marked": s["marked"], "dropped": _sum(s["dropped_full"], s["dropped_aqm"])}
                  for s in fwd["series"]]
        return {"t0_monotonic": report["t0_monotonic"], "sojourns": fwd["sojourns"], "series": series,
                "lateness_s": fwd["lateness_s"], "qdisc": fwd["qdisc"]}


def _sum(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}


class KernelQdisc:
    """A Linux bridge in0–out0 with `tbf rate` at the root of out0 and `child` under it; the kernel keeps
    no per-packet sojourn times, so its backlog and drops are polled (`tc -s -j`) every 100 ms."""

    def __init__(self, shape: Shape, child: list[str], queue: str) -> None:
        ns = shape.ns
        sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        for dev in ("in0", "out0"):
            sh("ip", "-n", ns, "link", "set", dev, "master", "br0")
        sh("ip", "-n", ns, "link", "set", "br0", "up")
        tc = ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "out0"]
        sh(*tc, "root", "handle", "1:", "tbf", "rate", f"{int(shape.rate_bps)}bit", "burst", "3028",
           "latency", "2s")
        try:
            sh(*tc, "parent", "1:1", "handle", "10:", *child)
        except RuntimeError as exc:
            raise BottleneckAbsent(f"tc qdisc … {child[0]}: {exc}") from exc
        self.ns = ns
        self.queue = queue
        self.series: list[dict[str, Any]] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.t0 = time.monotonic()
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop_event.wait(0.1):
            proc = subprocess.run(["ip", "netns", "exec", self.ns, "tc", "-s", "-j", "qdisc", "show", "dev", "out0"],
                                  capture_output=True, text=True, timeout=5)
            if proc.returncode != 0:
                continue
            child = next((q for q in json.loads(proc.stdout) if q.get("handle") == "10:"), None)
            if child is None:
                continue
            q = self.queue
            self.series.append({"t": time.monotonic() - self.t0, "backlog_packets": {q: child.get("qlen", 0)},
                                "backlog_bytes": {q: child.get("backlog", 0)}, "marked": {},
                                "dropped": {q: child.get("drops", 0)}})

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.thread.join(5)
        return {"t0_monotonic": self.t0, "sojourns": {}, "series": self.series}


register("fifo", lambda shape: KernelQdisc(shape, ["bfifo", "limit", str(shape.buffer_bytes)], "fifo"))
register("dualpi2-ref", lambda shape: EmulatedLink(shape, "dualpi2"))
register("kernel-dualpi2", lambda shape: KernelQdisc(shape, ["dualpi2"], "dualpi2"))
register("fifo-emu", lambda shape: EmulatedLink(shape, "fifo"))  # cross-check of the emulator vs tbf+bfifo


class P4Switch(EmulatedLink):
    """srchain_demo.l4s.p4link in the namespace: the emulated Tofino with the SR node's l4s module, the chain
    applied by the controller, out0 shaped by the TM; its report has aqmlink's shape."""

    def __init__(self, shape: Shape) -> None:  # the same life cycle as EmulatedLink's
        self.tmp = tempfile.TemporaryDirectory(prefix="l4s-p4-")
        self.report = Path(self.tmp.name) / "link.json"
        self.proc = NsProcess(shape.ns, "srchain_demo.l4s.p4link", "in0", "out0",
                              "--rate-mbit", str(shape.rate_bps / 1e6), "--report", str(self.report))
        self.proc.wait_ready(60.0)  # compiles the node program and applies the chain first


register("p4", P4Switch)
