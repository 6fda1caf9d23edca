"""The forwarding loop: receive rings, epoll, in-place rewrite by the engine, batched sends.

One thread owns the receive side and the engine's hot path. Configuration changes are prepared elsewhere
(sockets and rings opened, tables compiled) and handed over through `swap`, which the loop installs between
batches, so a packet is always handled entirely by the old or entirely by the new tables.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import select
import socket
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from srchain_net.fanout import FIRST_WORKER_PROGRAM, join, set_program, steering_program
from srchain_net.packetsock import kernel_drops
from srchain_net.rings import FRAME_SIZE, TP_STATUS_USER, RingTx, RxRing, SocketRx, SocketTx

from . import compiled
from .engine import HEADROOM, AttState, Engine, Tables
from .fastpath import WHY_IDLE, fast_table, return_entry, sr_drain_compiled, vnf_drain_compiled

log = logging.getLogger(__name__)

# SR-side loops: "python" = RxRing.drain + per-frame handler -> Engine.from_sr (the reference);
# "compiled" = fastpath.sr_drain_compiled (the common case in C, built at install time; see compiled.py)
SR_VARIANTS = ("python", "compiled")
FastPath = Literal["auto", "compiled", "python"]
BATCH = 256  # frames per interface per turn; bounds the time one interface holds the loop
CYCLE_SLICE_NS = 1_000_000  # the compiled loop comes back to Python at least this often while busy
IoMode = Literal["ring", "socket"]


@dataclass
class Prepared:
    tables: Tables
    rx: dict[str, Any] = field(default_factory=dict)  # ifname -> RxRing | SocketRx
    tx: dict[str, Any] = field(default_factory=dict)  # ifname -> RingTx | SocketTx
    done: threading.Event = field(default_factory=threading.Event)


class DataPath:
    def __init__(self, engine: Engine, sr_iface: str, io: IoMode = "ring", fast_path: FastPath = "auto",
                 sr_ring_slots: int = 4096, spin_us: int = 0, fanout_base: int | None = None,
                 sr_vlan: int | None = None) -> None:
        """fanout_base: with several workers, every receive ring joins the fanout group
        fanout_group(fanout_base, interface) (fanout.py); None: one worker, no fanout."""
        self.engine = engine
        self.spin_ns = spin_us * 1000
        self.fanout_base = fanout_base
        self.io = io
        # which SR-side loop, and why: decided before anything is opened
        self.variant, self.variant_detail = choose_variant(fast_path, io)
        # SRv6 frames: per frame in C too when the compiled loop runs (srv6.build reads it)
        engine.srv6_c = compiled.load() if self.variant == "compiled" else None
        self.sr_iface = sr_iface
        # no headroom on the SR side: the pop rewrites inside the frame, so a slot holds 132 bytes more of it
        self.sr_rx = (RxRing(sr_iface, 0, sr_ring_slots, self._fanout(sr_iface)) if io == "ring"
                      else SocketRx(sr_iface, 0))
        try:
            # frames to the switch carry the SR VLAN's tag (Engine.sr_mpls)
            self.sr_tx = RingTx(sr_iface, tagged=sr_vlan is not None) if io == "ring" else SocketTx(sr_iface)
        except ValueError:
            self.sr_rx.close()
            raise
        self.rx: dict[str, Any] = {}
        self.tx: dict[str, Any] = {}
        self._first: dict[str, bool] = {}  # ifname -> its fanout group sends everything to worker 0
        self.handlers: dict[int, tuple[Any, Callable[[int], bool], tuple | None]] = {}  # fd -> rx, drain, entry
        self.kernel_drops = 0
        self.retired_errors = 0  # send errors and oversize frames of interfaces already closed
        self.running = False
        self.now = time.monotonic()
        self._pending: queue.Queue[Prepared] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._ep = select.epoll()
        self._ep.register(self.sr_rx.fileno(), select.EPOLLIN)
        self._ep.register(self._wake_r, select.EPOLLIN)
        self._sr_handler = self._make_sr_handler()
        self._sr_drain = sr_drainer(engine, self.sr_rx, self._sr_handler, self.variant)
        # busy poll before sleeping: C without the GIL when the compiled part loaded, else Python
        mod = compiled.load() if self.variant == "compiled" else None
        self._spin_c = mod.spin if mod is not None and hasattr(mod, "spin") else None
        # the whole turn in C while C handles the traffic (_fastsr.c cycle): jobs rebuilt on each install
        self._cycle = mod.cycle if mod is not None and isinstance(self.sr_rx, RxRing) else None
        self._attn = array("q", [0])  # set by swap() before the wake-up write: cycle() returns at once
        self._jobs: list[tuple] = []
        self._job_rings: list[RxRing] = []
        self._job_drains: list[Callable[[], bool]] = []
        self._pos = array("q")
        self._txs: list[tuple] = []
        self._build_jobs()

    def _fanout(self, ifname: str, first: bool = False) -> Callable[[socket.socket], None] | None:
        """How a ring on `ifname` joins this worker's PACKET_FANOUT group (None: a single data path);
        first: the group sends every frame to worker 0 (fanout.FIRST_WORKER_PROGRAM)."""
        if self.fanout_base is None:
            return None
        try:
            group, msd = fanout_group(self.fanout_base, ifname), self.engine.msd
        except OSError as exc:
            raise ValueError(f"cannot open a packet socket on {ifname!r}: {exc.strerror or exc}") from exc
        return lambda sock: join(sock, group, msd, first)

    def _steer(self, ring: Any, first: bool) -> None:
        """An open ring's group changes steering (its attachment went from SR-MPLS to SRv6 SIDs or back)."""
        try:
            set_program(ring.sock, FIRST_WORKER_PROGRAM if first else steering_program(self.engine.msd))
        except OSError as exc:
            raise ValueError(f"workers: cannot change the fanout program: {exc.strerror or exc}") from exc

    def _open_rx(self, ifname: str, first: bool = False) -> Any:
        if self.io == "ring":
            return RxRing(ifname, HEADROOM, join=self._fanout(ifname, first))
        return SocketRx(ifname, HEADROOM)

    def _open_tx(self, ifname: str) -> Any:
        return RingTx(ifname) if self.io == "ring" else SocketTx(ifname)

    # ---- configuration (called from the control side) ------------------------------------------------

    def prepare(self, tables: Tables) -> Prepared:
        """Open what the new tables need (reusing what is open). Raises ValueError and leaves nothing open."""
        prep = Prepared(tables)
        opened: list[Any] = []
        try:
            for att in tables.atts.values():
                a = att.att
                rx_if, tx_if = a.in_ifname(), a.out_ifname()
                first = bool(att.srv6)  # with workers: an SRv6 attachment's returns all go to worker 0
                if rx_if not in prep.rx:
                    ring = self.rx.get(rx_if)
                    if ring is not None and self.fanout_base is not None and self._first.get(rx_if) != first:
                        self._steer(ring, first)
                    prep.rx[rx_if] = ring or self._track(opened, self._open_rx(rx_if, first))
                    self._first[rx_if] = first
                if tx_if not in prep.tx:
                    prep.tx[tx_if] = self.tx.get(tx_if) or self._track(opened, self._open_tx(tx_if))
                att.tx = prep.tx[tx_if]
        except ValueError:
            for obj in opened:
                obj.close()
            raise
        return prep

    @staticmethod
    def _track(opened: list[Any], obj: Any) -> Any:
        opened.append(obj)
        return obj

    def swap(self, prep: Prepared, timeout: float = 5.0) -> None:
        if not self.running:  # before start (initial config) or after stop: nobody else touches the tables
            self._install(prep)
            return
        self._pending.put(prep)
        self._attn[0] = 1
        os.write(self._wake_w, b"x")
        if not prep.done.wait(timeout):
            raise TimeoutError("data path did not take the new configuration within 5 s")

    def _install(self, prep: Prepared) -> None:
        for fd in list(self.handlers):
            self._ep.unregister(fd)
        self.handlers.clear()
        self.engine.install(prep.tables)
        self.engine.fast = fast_table(self.engine)
        for att in prep.tables.atts.values():
            rx = prep.rx[att.att.in_ifname()]
            self.handlers[rx.fileno()] = (rx, *self._make_vnf_drain(att, rx))
            self._ep.register(rx.fileno(), select.EPOLLIN)
        for old, new in ((self.rx, prep.rx), (self.tx, prep.tx)):
            for ifname, obj in old.items():
                if new.get(ifname) is not obj:
                    self.retired_errors += getattr(obj, "errors", 0) + getattr(obj, "oversize", 0)
                    obj.close()
        self.rx, self.tx = prep.rx, prep.tx
        self._build_jobs()
        prep.done.set()

    def _build_jobs(self) -> None:
        """What cycle() walks, in this order: each attachment's ring (compiled return entry, or Python's),
        then the SR ring. Returns first: a frame back from a VNF went into it before anything still waiting
        on the SR side, so its stack is chosen first (with several static SIDs on one VNF, an inbound frame
        of the same flow under a new chain version re-pins the flow)."""
        if self._cycle is None:
            return
        eng = self.engine
        jobs: list[tuple] = []
        rings: list[RxRing] = []
        drains: list[Callable[[], bool]] = []
        for rx, drain, entry in self.handlers.values():
            if not isinstance(rx, RxRing):
                self._cycle_off("an attachment without a receive ring")
                return
            jobs.append((1, rx.map, rx.nr, entry) if entry is not None else (2, rx.map, rx.nr, None))
            rings.append(rx)
            drains.append(functools.partial(drain, BATCH))
        if not isinstance(self.sr_rx, RxRing):
            self._cycle_off("the SR side without a receive ring")
            return
        jobs.append((0, self.sr_rx.map, self.sr_rx.nr, (eng.fast, 4 * eng.msd, eng.sr_tag)))
        rings.append(self.sr_rx)
        drains.append(lambda: self._sr_drain(BATCH, self.now))
        txs = [self.sr_tx, *self.tx.values()]
        if not all(isinstance(t, RingTx) for t in txs):
            self._cycle_off("a send side without a TX ring")
            return
        self._jobs, self._job_rings, self._job_drains = jobs, rings, drains
        self._pos = array("q", bytes(8 * len(jobs)))
        self._txs = [(t.st, t.sock.fileno()) for t in txs]

    def _cycle_off(self, why: str) -> None:
        log.info("compiled loop off (%s): turns run in Python", why)
        self._cycle = None

    # ---- per-frame handlers --------------------------------------------------------------------------

    def _make_sr_handler(self) -> Callable:
        return sr_handler(self.engine, self.sr_rx, lambda: self.now)

    def _make_vnf_drain(self, att: AttState, rx: Any) -> tuple[Callable[[int], bool], tuple | None]:
        """drain(budget) for an attachment's ring, and its compiled return entry (None: Python's walk)."""
        handler = self._make_vnf_handler(att, rx)
        mod = compiled.load() if self.variant == "compiled" and isinstance(rx, RxRing) else None
        entry = return_entry(self.engine, att, self.sr_tx) if mod is not None else None
        if mod is not None and entry is not None:
            return lambda budget: vnf_drain_compiled(mod, rx, entry, handler, budget, self.now), entry
        return lambda budget: rx.drain(handler, budget), None

    def _make_vnf_handler(self, att: AttState, rx: Any) -> Callable:
        eng = self.engine
        from_vnf = eng.from_vnf
        put = self.sr_tx.put
        mv = rx.view
        if att.srv6:  # an attachment of SRv6 SIDs (srv6.py): True = in place, bytes = a copy to send
            srv6 = eng.srv6

            def on_srv6_frame(buf: Any, s: int, e: int) -> None:
                out = srv6.from_vnf(eng, att, buf, s, e, self.now, rx.meta)
                if out is True:
                    put(mv[eng.ostart:eng.oend])
                elif out:
                    put(out)

            return on_srv6_frame

        def on_vnf_frame(buf: Any, s: int, e: int) -> None:
            if from_vnf(att, buf, s, e, self.now, rx.meta):
                put(mv[eng.ostart:eng.oend])

        return on_vnf_frame

    # ---- the loop ------------------------------------------------------------------------------------

    def set_realtime(self, priority: int) -> None:
        """SCHED_FIFO for the calling thread (the loop). Raises ValueError naming the setting."""
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread (Linux)
        except OSError as exc:
            raise ValueError(f"sched_fifo: cannot set real-time priority {priority}: {exc.strerror}") from exc

    def set_nice(self, nice: int) -> None:
        """Nice value of the calling thread (Linux: per thread). Raises ValueError naming the setting."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:
            raise ValueError(f"nice: cannot set {nice}: {exc.strerror}") from exc

    def set_cpus(self, cpus: list[int]) -> None:
        """Pin the calling thread (the loop) to cpus. Raises ValueError naming the setting."""
        try:
            os.sched_setaffinity(0, set(cpus))  # 0: this thread (Linux)
        except OSError as exc:
            allowed = sorted(os.sched_getaffinity(0))
            raise ValueError(f"cpus: cannot run on {cpus} (allowed here: {allowed}): {exc.strerror}") from exc

    def _rings_ready(self) -> bool:
        """Busy-poll the receive rings for up to spin_ns; True as soon as a frame waits in one of them."""
        rings = [r for r in (self.sr_rx, *self.rx.values()) if isinstance(r, RxRing)]
        if not rings:
            return False
        if self._spin_c is not None and len(rings) <= 16:
            return self._spin_c([(r.map, r.i * FRAME_SIZE) for r in rings], self.spin_ns) >= 0
        deadline = time.monotonic_ns() + self.spin_ns
        clock = time.monotonic_ns
        while clock() < deadline:
            for r in rings:
                if r.map[r.i * FRAME_SIZE] & TP_STATUS_USER:
                    return True
        return False

    def _run_cycle(self) -> bool:
        """One call of the compiled loop; handles what sent it back. True if frames may be waiting."""
        rings, pos = self._job_rings, self._pos
        for k, ring in enumerate(rings):
            pos[k] = ring.i
        assert self._cycle is not None  # only called while the compiled loop is on
        k, why, _done = self._cycle(self._jobs, pos, self._txs, self._attn, self.spin_ns, CYCLE_SLICE_NS)
        for j, ring in enumerate(rings):
            ring.i = pos[j]
        self.now = time.monotonic()
        if k >= 0:  # a frame (or a hole) of job k that Python's walk handles: then back into C
            self._job_drains[k]()
            return True
        return why != WHY_IDLE

    def _python_walks(self, ring: Any) -> bool:
        """Whether a ring epoll reports readable goes through Python's drain: always without the compiled
        loop; with it, only when the slot at the read index is empty (C takes ready slots): a run of slots
        the kernel never handed over, which only Python's walk (RxRing._skip_hole) gets past."""
        return self._cycle is None or not ring.map[ring.i * FRAME_SIZE] & TP_STATUS_USER

    def run(self, stop: threading.Event) -> None:
        next_housekeeping = 0.0
        sr_fd = self.sr_rx.fileno()
        busy = False
        self.running = True
        try:
            while not stop.is_set():
                # compiled: C runs the turns (and its own bounded spin) until Python is needed. Else, when
                # idle, spin on the rings first (bounded), so frames that follow closely are taken without a
                # sleep and a wake-up; epoll only sleeps once the rings stayed empty for spin_us
                ready = (self._run_cycle() if self._cycle is not None
                         else busy or (self.spin_ns and self._rings_ready()))
                events = self._ep.poll(0 if ready else 0.2)
                events.sort(key=lambda ev: ev[0] == sr_fd)  # returns first (see _build_jobs)
                self.now = now = time.monotonic()
                busy = False
                for fd, _ev in events:
                    if fd == sr_fd:
                        if self._python_walks(self.sr_rx):
                            busy |= self._sr_drain(BATCH, now)
                    elif fd == self._wake_r:
                        self._take_pending()
                    else:
                        entry = self.handlers.get(fd)
                        if entry is not None and self._python_walks(entry[0]):
                            busy |= entry[1](BATCH)
                self.sr_tx.flush()
                for tx in self.tx.values():
                    tx.flush()
                if now >= next_housekeeping:
                    next_housekeeping = now + 1.0
                    self._housekeeping(now)
        finally:
            self.running = False
            self._take_pending()

    def _take_pending(self) -> None:
        self._attn[0] = 0  # before reading the queue: a swap after this sets it again
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        while True:
            try:
                prep = self._pending.get_nowait()
            except queue.Empty:
                return
            self._install(prep)

    def _housekeeping(self, now: float) -> None:
        self.engine.expire(now)
        try:
            self.kernel_drops += kernel_drops(self.sr_rx.sock)
            for rx in self.rx.values():
                self.kernel_drops += kernel_drops(rx.sock)
        except OSError as exc:
            log.debug("PACKET_STATISTICS failed: %s", exc)
        drops = self.engine.drops
        drops["tx_error"] = self.retired_errors + self.sr_tx.errors + sum(t.errors for t in self.tx.values())
        drops["oversize"] = self.sr_rx.oversize + sum(r.oversize for r in self.rx.values())
        drops["internal_error"] = self.sr_rx.errors + sum(r.errors for r in self.rx.values())

    def close(self) -> None:
        for obj in [*self.rx.values(), *self.tx.values(), self.sr_rx, self.sr_tx]:
            obj.close()
        self._ep.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def sr_handler(eng: Engine, rx: Any, clock: Callable[[], float]) -> Callable:
    """Per-frame handler for the SR side's receive ring: pop, then queue on the attachment's TX."""
    from_sr = eng.from_sr
    mv = rx.view

    def on_sr_frame(buf: Any, s: int, e: int) -> None:
        att = from_sr(buf, s, e, clock(), rx.meta)
        if att is not None:
            assert att.tx is not None  # from_sr returns only attachments that can send
            att.tx.put(mv[eng.ostart:eng.oend])

    return on_sr_frame


def sr_drainer(eng: Engine, rx: Any, handler: Callable, variant: str = "python") -> Callable[[int, float], bool]:
    """drain(budget, now) for the SR side: the compiled loop, or the ring's walk with the reference handler.
    Raises RuntimeError for "compiled" when the extension cannot be used."""
    if variant == "compiled" and isinstance(rx, RxRing):
        mod = compiled.load()
        if mod is None:
            raise RuntimeError(f"compiled fast path unavailable: {compiled.unavailable()}")
        return lambda budget, now: sr_drain_compiled(mod, eng, rx, handler, budget, now)
    return lambda budget, now: rx.drain(handler, budget)


def fanout_group(base: int, ifname: str) -> int:
    """The PACKET_FANOUT group id of an interface: the same in every worker of one daemon (base is the
    daemon's), different per interface (socket.if_nametoindex in the caller's namespace)."""
    return (base + socket.if_nametoindex(ifname)) & 0xFFFF


def choose_variant(fast_path: FastPath, io: IoMode = "ring") -> tuple[str, str]:
    """The SR-side loop to run ("compiled" or "python") and why. auto: compiled when the extension is
    installed, else Python with a WARNING naming the reason. Raises ValueError (one line: what is missing,
    how to fix it) when `fast_path: compiled` cannot run."""
    if fast_path == "python":
        return "python", "fast_path: python"
    if io != "ring":
        if fast_path == "compiled":
            raise ValueError("fast_path: compiled needs io: ring (the compiled loop walks the receive rings); "
                             "set io: ring, or fast_path: auto")
        return "python", f"io: {io}"
    mod = compiled.load()
    if mod is not None:
        return "compiled", f"{compiled.MODULE} from {mod.__file__}"
    why = compiled.unavailable()
    if fast_path == "compiled":
        raise ValueError(f"fast_path: compiled, but {why}; or set fast_path: auto")
    log.warning("fast_path: auto: running the pure-Python SR loop, several times slower: %s", why)
    return "python", str(why)
