"""Several data-path workers: worker 0 is the daemon's own loop, workers 1..N-1 are child processes.

Each worker has its own receive rings, joined to one PACKET_FANOUT group per interface with the proxy's
steering program (srchain_net/fanout.py: a flow and its reverse reach the same worker), its own TX rings and its own
flow caches. Processes, not threads: the loops hold the GIL, so threads would share one core.

The daemon stays the only control plane: it validates, persists and installs a change in worker 0, then
hands the same state to every child in index order (JSON lines on the child's stdin/stdout), so every
worker joins a new interface's fanout group in the same order and the kernel's member index k is worker k
on every interface. Neighbour MACs the daemon resolves are pushed the same way. Counters are summed over
the workers for the control API and Prometheus.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import subprocess
import sys
import threading
from typing import Any

from srchain_net.packetsock import iface_mac
from srchain_net.rings import RxRing

from . import srv6 as srv6mod
from .config import Attachment, SidEntry, Srv6SidEntry, load_config
from .datapath import DataPath
from .engine import Engine
from .flowview import engine_flows
from .threadname import DATAPATH_COMM, name_thread

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 10.0


class WorkerError(RuntimeError):
    pass


class Worker:
    """The daemon's handle on one child worker: request/response over pipes, one request at a time."""

    def __init__(self, index: int, proc: subprocess.Popen) -> None:
        self.index = index
        self.proc = proc
        self.lock = threading.Lock()
        self.error: str | None = None

    def call(self, msg: dict, timeout: float = CALL_TIMEOUT_S) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            if self.proc.poll() is not None:
                raise WorkerError(f"worker {self.index} exited with {self.proc.returncode}")
            try:
                self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
                self.proc.stdin.flush()
                ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
                line = self.proc.stdout.readline() if ready else b""
            except OSError as exc:
                raise WorkerError(f"worker {self.index}: {exc}") from exc
            if not line:
                raise WorkerError(f"worker {self.index} did not answer {msg['op']!r} within {timeout:.0f} s")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"worker {self.index}: {reply['error']}")
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None and self.error is None

    def stop(self) -> None:
        with contextlib.suppress(WorkerError):
            self.call({"op": "stop"}, timeout=5)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WorkerSet:
    def __init__(self) -> None:
        self.workers: list[Worker] = []

    def start(self, count: int, config_path: str, fanout_base: int, state: dict, log_level: str) -> None:
        """Start workers 1..count-1 one after the other, each with the current state (join order)."""
        for index in range(1, count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "srchain_proxy", "worker", "--config", str(config_path), "--index",
                 str(index), "--fanout-base", str(fanout_base), "--log-level", log_level],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            worker = Worker(index, proc)
            self.workers.append(worker)
            try:
                worker.call({"op": "apply", **state}, timeout=30)  # the first apply also builds the C part
            except WorkerError:
                self.stop()
                raise

    def apply(self, state: dict) -> None:
        """Install state in every child, in index order. A child that fails is marked (health says so)."""
        for worker in self.workers:
            try:
                worker.call({"op": "apply", **state})
            except WorkerError as exc:
                worker.error = str(exc)
                log.error("%s", exc)

    def neigh(self, vnf: str, mac: str) -> None:
        for worker in self.workers:
            try:
                worker.call({"op": "neigh", "vnf": vnf, "mac": mac})
            except WorkerError as exc:
                log.warning("%s", exc)

    def reports(self) -> list[dict]:
        """Each child's {"counters": ..., "flows": ...}; a child that does not answer is left out (logged)."""
        out = []
        for worker in self.workers:
            try:
                out.append(worker.call({"op": "report"}))
            except WorkerError as exc:
                worker.error = str(exc)
                log.warning("%s", exc)
        return out

    def status(self) -> list[dict]:
        return [{"index": w.index, "pid": w.proc.pid, "alive": w.alive(), **({"error": w.error} if w.error else {})}
                for w in self.workers]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []


# ---- aggregation -------------------------------------------------------------------------------------

def merge_counters(parts: list[dict]) -> dict:
    """Sum per-worker /v1/counters bodies: per SID packets, bytes and cache counters, drops, kernel drops.
    Cache `entries` and `size` are summed too (each worker has a cache of `cache_size` flows)."""
    first = parts[0]
    out = {name: _merge_sids(parts, name) for name in ("sids", "srv6_sids")}
    drops = {reason: sum(p["drops"].get(reason, 0) for p in parts) for reason in first["drops"]}
    events = {name: sum(p.get("srv6_events", {}).get(name, 0) for p in parts) for name in first.get("srv6_events", {})}
    return {**out, "drops": drops, "drops_total": sum(drops.values()), "srv6_events": events,
            "kernel_drops": sum(p.get("kernel_drops", 0) for p in parts)}


def _merge_sids(parts: list[dict], name: str) -> dict[str, dict]:
    sids: dict[str, dict] = {}
    for part in parts:
        for sid, row in part.get(name, {}).items():
            acc = sids.setdefault(sid, {k: v for k, v in row.items() if k != "cache"} | {
                "rx_packets": 0, "rx_bytes": 0, "tx_packets": 0, "tx_bytes": 0})
            for key in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes"):
                acc[key] += row[key]
            if "cache" in row:
                cache = acc.setdefault("cache", {"entries": 0, "size": 0, "hits": 0, "misses": 0, "evictions": 0,
                                                 "expired": 0, "learned": 0, "full": False})
                for key, value in row["cache"].items():
                    if key == "key":  # an SRv6 End.AD cache's kind (iface | flow)
                        cache[key] = value
                    else:
                        cache[key] = (cache[key] or value) if key == "full" else cache[key] + value
    return sids


def merge_flows(parts: list[dict], sample: int = 20) -> dict:
    out: dict[str, dict] = {}
    for part in parts:
        for sid, view in part["sids"].items():
            acc = out.setdefault(sid, {**view, "entries": 0, "size": 0, "learned": 0, "evictions": 0, "expired": 0,
                                       "recent": []})
            for key in ("entries", "size", "learned", "evictions", "expired"):
                acc[key] += view[key]
            acc["recent"] += view["recent"]
    for view in out.values():
        view["recent"] = sorted(view["recent"], key=lambda r: r["idle_s"])[:sample]
    return {"sids": out}


# ---- the child -----------------------------------------------------------------------------------------

def worker_main(config_path: str, index: int, fanout_base: int) -> int:
    """A child worker: data path only; state comes from the daemon on stdin, answers go to stdout."""
    cfg = load_config(config_path)
    engine = Engine(iface_mac(cfg.sr_iface), cfg.sr_next_hop_mac, cfg.msd, cfg.sr_vlan)
    dp = DataPath(engine, cfg.sr_iface, cfg.io, cfg.fast_path, cfg.sr_ring_slots, cfg.spin_us, fanout_base,
                  cfg.sr_vlan)
    stop = threading.Event()
    thread: threading.Thread | None = None
    out = sys.stdout.buffer

    def datapath_main() -> None:
        name_thread(f"{DATAPATH_COMM}{index}")
        try:
            if cfg.nice is not None:
                dp.set_nice(cfg.nice)
            if cfg.cpus:
                dp.set_cpus([cfg.cpus[index % len(cfg.cpus)]])
        except ValueError as exc:
            log.error("worker %d: %s", index, exc)
        dp.run(stop)

    def handle(msg: dict) -> dict:
        nonlocal thread
        op = msg.get("op")
        if op == "apply":
            sids = [SidEntry.model_validate(s) for s in msg["sids"]]
            rows = [(Attachment.model_validate(a), smac, dmac) for a, smac, dmac in msg["atts"]]
            tables = engine.build(sids, rows)
            srv6mod.build(engine, tables, [Srv6SidEntry.model_validate(s) for s in msg.get("srv6", [])])
            dp.swap(dp.prepare(tables))
            if thread is None:
                gc.collect()
                gc.freeze()
                thread = threading.Thread(target=datapath_main, name=f"srchain-proxy-worker{index}", daemon=True)
                thread.start()
            return {"ok": True}
        if op == "neigh":
            st = engine.atts.get(msg["vnf"])
            if st is not None:
                st.set_dmac(msg["mac"])
            return {"ok": True}
        if op == "report":
            counters = engine.counters()
            counters["kernel_drops"] = dp.kernel_drops
            counters["sr_ring"] = dp.sr_rx.state() if isinstance(dp.sr_rx, RxRing) else {}  # workers need io: ring
            return {"counters": counters, "flows": engine_flows(engine),
                    "alive": thread is not None and thread.is_alive()}
        if op == "stop":
            return {"ok": True}
        return {"error": f"unknown request {op!r}"}

    try:
        for line in sys.stdin.buffer:
            msg: dict = {}
            try:
                msg = json.loads(line)
                reply = handle(msg)
            except (ValueError, KeyError, TypeError, OSError, TimeoutError) as exc:
                reply = {"error": str(exc)}
            out.write(json.dumps(reply).encode() + b"\n")
            out.flush()
            if msg.get("op") == "stop":
                break
    finally:  # stop on request or when the daemon went away (stdin closed)
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
        dp.close()
    return 0


def pid_base() -> int:
    """A fanout group base unlikely to collide with another daemon's in the same namespace."""
    return (os.getpid() * 64) & 0xFFFF


def state_message(sids: list[SidEntry], rows: list[tuple[Attachment, str, str | None]],
                  srv6: list[Srv6SidEntry] | None = None) -> dict[str, Any]:
    return {"sids": [s.model_dump() for s in sids], "atts": [[a.model_dump(), smac, dmac] for a, smac, dmac in rows],
            "srv6": [s.model_dump() for s in srv6 or []]}
