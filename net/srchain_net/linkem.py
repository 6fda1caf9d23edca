"""Link emulator: a user-space forwarder between two interfaces with delay, jitter, loss, rate and a
pluggable queue discipline per direction (the kernels here have no netem and no AQM qdisc).

Frames are read from a TPACKET_V2 ring on each side and written with a plain packet socket at their
release time (linkpath.LinkPath decides when), each taken to have arrived at the kernel's receive timestamp
from the ring. One thread serves both directions; it sleeps in select()
until the next release, arrival or sample, with the thread's timer slack set to 1 µs so sleeps end when
asked. What it cannot promise (a busy machine delays the loop) it measures: every frame's lateness
(actual send − planned release) is in the report.

Run it inside a namespace that holds both interfaces:

    python -m srchain_net.linkem A B --delay-ms 5 --rate-mbit 12 --reverse-delay-ms 5 --seconds 30 --report link.json

Every a→b setting has a --reverse-… twin for b→a (delay, jitter, loss, rate); --limit-bytes sizes the FIFO of
each direction (a discipline given to run() has its own limit).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .linkpath import LinkParams, LinkPath
from .qdisc import QueueDiscipline
from .rings import RxRing, SocketTx, rx_stamp_ns

PR_SET_TIMERSLACK = 29
MAX_SLEEP_S = 0.05
LATENESS_KEEP = 1_000_000  # samples kept per direction (a 30 s run at 100 Mbit/s stays below this)


def tight_timer_slack() -> None:
    """Ask for 1 µs timer slack (default 50 µs), so select() wakes close to the next release."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


class Direction:
    """One way through the emulator: ring on the way in, LinkPath, socket on the way out, and records."""

    def __init__(self, name: str, rx_if: str, tx_if: str, path: LinkPath) -> None:
        self.name = name
        self.rx = RxRing(rx_if, reserve=0, frames=2048)
        try:
            self.tx = SocketTx(tx_if)
        except ValueError:
            self.rx.close()
            raise
        self.path = path
        self.lateness: list[float] = []
        self.sojourns: dict[str, list[tuple[float, float]]] = {}
        self.series: list[dict[str, Any]] = []
        self._batch: list[tuple[float, bytes]] = []
        self.realtime_offset = time.time() - time.monotonic()  # ring stamps are CLOCK_REALTIME
        self.last_arrival = 0.0

    def _take(self, ring: Any, start: int, end: int) -> None:
        self._batch.append((rx_stamp_ns(ring, start) * 1e-9 - self.realtime_offset, bytes(ring[start:end])))

    def receive(self, clock: Callable[[], float]) -> bool:
        """Hand the ring's frames to the path, each at the kernel's receive time (tpacket2_hdr tp_sec and
        tp_nsec): a loop that was descheduled does not compress what arrived meanwhile into one instant
        (a burst the queue would then see); its lateness shows in the departures instead. Taken no later
        than now and in ring order, so time never runs backwards for the path."""
        more = self.rx.drain(self._take, 256)
        if not self._batch:
            return more
        now = clock()
        for t, frame in self._batch:
            self.last_arrival = min(max(t, self.last_arrival), now)
            self.path.arrive(frame, self.last_arrival)
        self._batch.clear()
        return more

    def send_due(self, now: float, clock: Callable[[], float]) -> None:
        for release, frame in self.path.service(now):
            self.tx.put(frame)
            if len(self.lateness) < LATENESS_KEEP:
                self.lateness.append(clock() - release)
        for s in self.path.qdisc.sojourns:
            self.sojourns.setdefault(s.queue, []).append((s.left_at, s.sojourn))
        self.path.qdisc.sojourns.clear()

    def sample(self, t: float) -> None:
        q = self.path.qdisc
        self.series.append({"t": t, "backlog_bytes": q.backlog_bytes(), "backlog_packets": q.backlog_packets(),
                            "sent": self.path.sent, "sent_bytes": self.path.sent_bytes, "lost": self.path.lost,
                            **q.stats.as_dict()})

    def report(self, t0: float) -> dict[str, Any]:
        p = self.path
        return {"params": asdict(p.p), "arrived": p.arrived, "lost": p.lost, "sent": p.sent,
                "sent_bytes": p.sent_bytes, "qdisc": p.qdisc.stats.as_dict(), "rx_oversize": self.rx.oversize,
                "tx_errors": self.tx.errors, "lateness_s": self.lateness,
                "sojourns": {k: [(t - t0, d) for t, d in v] for k, v in self.sojourns.items()},
                "series": [{**s, "t": s["t"] - t0} for s in self.series]}

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


def run(a: str, b: str, forward: LinkParams, reverse: LinkParams, *,
        forward_qdisc: QueueDiscipline | None = None, reverse_qdisc: QueueDiscipline | None = None,
        seconds: float | None = None, stop: threading.Event | None = None, sample_s: float = 0.1,
        ready: Callable[[], None] | None = None) -> dict[str, Any]:
    """Forward a→b with `forward` and b→a with `reverse` until `seconds` pass or `stop` is set; the report
    (per direction: counters, lateness, the discipline's sojourn times and a time series every sample_s)."""
    forward.check("forward")
    reverse.check("reverse")
    tight_timer_slack()
    clock = time.monotonic
    dirs = [Direction("forward", a, b, LinkPath(forward, forward_qdisc))]
    try:
        dirs.append(Direction("reverse", b, a, LinkPath(reverse, reverse_qdisc)))
    except ValueError:
        dirs[0].close()
        raise
    stop = stop or threading.Event()
    t0 = clock()
    end = t0 + seconds if seconds is not None else float("inf")
    next_sample = t0
    fds = [d.rx.fileno() for d in dirs]
    if ready is not None:
        ready()
    try:
        while not stop.is_set():
            now = clock()
            if now >= end:
                break
            more = False
            for d in dirs:
                more = d.receive(clock) or more
            # the line runs up to the time before the drain, not after: a frame that arrived by then is in
            # the path now, so no departure is decided without it (it would queue behind one it preceded)
            for d in dirs:
                d.send_due(now, clock)
            if now >= next_sample:
                for d in dirs:
                    d.sample(now)
                next_sample += sample_s
            if more:
                continue
            wake = min([e for e in (d.path.next_event() for d in dirs) if e is not None] + [next_sample, end])
            wait = wake - clock()
            if wait > 0:
                select.select(fds, [], [], min(wait, MAX_SLEEP_S))
        return {"t0_monotonic": t0, "seconds": clock() - t0, **{d.name: d.report(t0) for d in dirs}}
    finally:
        for d in dirs:
            d.close()


def add_link_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="interface on the sender's side")
    parser.add_argument("b", help="interface on the receiver's side")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay a→b (ms)")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± uniform jitter a→b (ms), no reordering")
    parser.add_argument("--loss", type=float, default=0.0, help="loss probability per frame a→b")
    parser.add_argument("--rate-mbit", type=float, default=0.0, help="line rate a→b (Mbit/s, 0: unlimited)")
    parser.add_argument("--limit-bytes", type=int, default=1 << 20, help="FIFO buffer of each direction (bytes)")
    parser.add_argument("--reverse-delay-ms", type=float, default=0.0, help="one-way delay b→a (ms)")
    parser.add_argument("--reverse-jitter-ms", type=float, default=0.0, help="± uniform jitter b→a (ms)")
    parser.add_argument("--reverse-loss", type=float, default=0.0, help="loss probability per frame b→a")
    parser.add_argument("--reverse-rate-mbit", type=float, default=0.0, help="line rate b→a (Mbit/s, 0: unlimited)")
    parser.add_argument("--seed", type=int, default=1, help="loss and jitter RNG seed (b→a uses seed+1)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: SIGTERM)")
    parser.add_argument("--report", type=Path, default=None, help="write the JSON report here")


def params_from_args(args: argparse.Namespace) -> tuple[LinkParams, LinkParams]:
    forward = LinkParams(delay_s=args.delay_ms / 1e3, jitter_s=args.jitter_ms / 1e3, loss=args.loss,
                         rate_bps=args.rate_mbit * 1e6, limit_bytes=args.limit_bytes, seed=args.seed)
    reverse = LinkParams(delay_s=args.reverse_delay_ms / 1e3, jitter_s=args.reverse_jitter_ms / 1e3,
                         loss=args.reverse_loss, rate_bps=args.reverse_rate_mbit * 1e6,
                         limit_bytes=args.limit_bytes, seed=args.seed + 1)
    return forward, reverse


def serve(args: argparse.Namespace, forward_qdisc: QueueDiscipline | None = None) -> int:
    """Run until --seconds or SIGTERM/SIGINT, write --report; prints "ready" once both sides are open."""
    try:
        forward, reverse = params_from_args(args)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        report = run(args.a, args.b, forward, reverse, forward_qdisc=forward_qdisc, seconds=args.seconds,
                     stop=stop, ready=lambda: print("ready", flush=True))
    except ValueError as exc:
        print(f"linkem: error: {exc}", file=sys.stderr)
        return 2
    if args.report is not None:
        args.report.write_text(json.dumps(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srchain_net.linkem", description=__doc__.splitlines()[0])
    add_link_args(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
