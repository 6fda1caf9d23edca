"""The proxy daemon: owns the intended state (SIDs + attachments), applies it all-or-nothing, persists it."""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path

from srchain_net.packetsock import iface_mac

from . import srv6 as srv6mod
from .config import Attachment, ProxyConfig, SidEntry, Srv6SidEntry, check_tables, save_state, state_path
from .datapath import DataPath
from .engine import Engine
from .flowview import engine_flows
from .neighbour import kernel_neighbour, resolve
from .threadname import DATAPATH_COMM, name_thread
from .workers import WorkerError, WorkerSet, merge_counters, merge_flows, pid_base, state_message

log = logging.getLogger(__name__)

BROADCAST = "ff:ff:ff:ff:ff:ff"
class ProxyDaemon:
    def __init__(self, cfg: ProxyConfig, config_path: str | Path, log_level: str = "info") -> None:
        self.cfg = cfg
        self.config_path = str(config_path)
        self.log_level = log_level
        self.state_file = state_path(cfg, config_path)
        self.engine = Engine(iface_mac(cfg.sr_iface), cfg.sr_next_hop_mac, cfg.msd, cfg.sr_vlan)
        # several workers: this process is worker 0 and joins every fanout group first (workers.py)
        self.fanout_base = pid_base() if cfg.workers > 1 else None
        self.workers = WorkerSet()
        self._rows: list[tuple[Attachment, str, str | None]] = []
        self.datapath = DataPath(self.engine, cfg.sr_iface, cfg.io, cfg.fast_path, cfg.sr_ring_slots,
                                 cfg.spin_us, self.fanout_base, cfg.sr_vlan)
        self.lock = threading.Lock()
        self.sids: dict[int, SidEntry] = {}
        self.atts: dict[str, Attachment] = {}
        self.srv6: dict[str, Srv6SidEntry] = {}
        self.neigh: dict[tuple[str, str], str] = {}  # (ifname, ip) -> MAC
        self.stop = threading.Event()
        self._resolve_now = threading.Event()
        self._threads: list[threading.Thread] = []
        self.apply({s.sid: s for s in cfg.sids}, {a.vnf: a for a in cfg.attachments},
                   {s.sid: s for s in cfg.srv6_sids}, persist=False)

    # ---- state changes -------------------------------------------------------------------------------

    def apply(self, sids: dict[int, SidEntry], atts: dict[str, Attachment],
              srv6: dict[str, Srv6SidEntry] | None = None, persist: bool = True) -> None:
        """Validate, compile, persist and install the whole new state, or raise ValueError and change nothing.
        srv6: the SRv6 SIDs (None: keep the current ones)."""
        with self.lock:
            srv6 = self.srv6 if srv6 is None else srv6
            check_tables(list(sids.values()), list(atts.values()), list(srv6.values()))
            used: dict[str, str] = {self.cfg.sr_iface: "sr_iface"}
            for att in atts.values():
                for ifname in {att.in_ifname(), att.out_ifname()}:
                    if ifname in used:
                        raise ValueError(f"attachments[{att.vnf}].iface: {ifname} already used by {used[ifname]}")
                    used[ifname] = f"attachment {att.vnf}"
            rows = []
            for att in atts.values():
                try:
                    smac = iface_mac(att.out_ifname())
                except ValueError as exc:
                    raise ValueError(f"attachments[{att.vnf}].iface: {exc}") from exc
                rows.append((att, smac, self._dest_mac(att)))
            tables = self.engine.build(sids.values(), rows)
            srv6mod.build(self.engine, tables, srv6.values())
            prep = self.datapath.prepare(tables)
            if persist:
                save_state(self.state_file, list(sids.values()), list(atts.values()), list(srv6.values()))
            self.datapath.swap(prep)
            self.sids, self.atts, self.srv6 = dict(sids), dict(atts), dict(srv6)
            self._rows = rows
            self.workers.apply(self._state())
        self._resolve_now.set()

    def _dest_mac(self, att: Attachment) -> str | None:
        if att.next_hop:
            key = (att.out_ifname(), att.next_hop)
            if key not in self.neigh:  # what the kernel already knows, now: no drops while the resolver wakes
                found = kernel_neighbour(*key)
                if found is not None:
                    self.neigh[key] = found
            return self.neigh.get(key)
        return att.mac or BROADCAST

    # ---- neighbour resolution ------------------------------------------------------------------------

    def _resolver(self) -> None:
        """Resolve next hops that have no MAC yet; re-check resolved ones every 30 s."""
        last_refresh = time.monotonic()
        while not self.stop.is_set():
            self._resolve_now.wait(1.0)
            self._resolve_now.clear()
            refresh = time.monotonic() - last_refresh > 30
            if refresh:
                last_refresh = time.monotonic()
            for st in list(self.engine.atts.values()):
                att = st.att
                if not att.next_hop or (st.dmac is not None and not refresh):
                    continue
                ifname = att.out_ifname()
                try:
                    mac = resolve(ifname, att.next_hop, timeout=0.3)
                except OSError as exc:
                    log.warning("resolving %s on %s failed: %s", att.next_hop, ifname, exc)
                    continue
                if mac is not None and mac != st.dmac:
                    log.info("next hop %s of %s is %s", att.next_hop, att.vnf, mac)
                    self.neigh[(ifname, att.next_hop)] = mac
                    st.set_dmac(mac)
                    self.workers.neigh(att.vnf, mac)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        # everything allocated so far (config, tables, libraries) is long-lived: keep it out of GC passes
        gc.collect()
        gc.freeze()
        started = threading.Event()
        failure: list[ValueError] = []

        def datapath_main() -> None:
            name_thread(DATAPATH_COMM)
            try:
                if self.cfg.nice is not None:
                    self.datapath.set_nice(self.cfg.nice)
                if self.cfg.cpus:
                    self.datapath.set_cpus(self.cfg.cpus[:1] if self.cfg.workers > 1 else self.cfg.cpus)
                if self.cfg.sched_fifo:
                    self.datapath.set_realtime(self.cfg.sched_fifo)
            except ValueError as exc:
                failure.append(exc)
                return
            finally:
                started.set()
            self.datapath.run(self.stop)

        self._threads = [
            threading.Thread(target=datapath_main, name="srchain-proxy-datapath", daemon=True),
            threading.Thread(target=self._resolver, name="srchain-proxy-resolver", daemon=True),
        ]
        self._threads[0].start()
        started.wait()
        if failure:
            self._threads = []
            raise failure[0]
        if self.fanout_base is not None:
            with self.lock:
                try:
                    self.workers.start(self.cfg.workers, self.config_path, self.fanout_base, self._state(),
                                       self.log_level)
                except WorkerError as exc:
                    self.stop.set()
                    self._threads[0].join(timeout=5)
                    self._threads = []
                    raise ValueError(f"workers: {exc}") from exc
        for thread in self._threads[1:]:
            thread.start()

    def shutdown(self) -> None:
        self.workers.stop()
        self.stop.set()
        self._resolve_now.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.datapath.close()

    # ---- views ---------------------------------------------------------------------------------------

    def datapath_alive(self) -> bool:
        return (bool(self._threads) and self._threads[0].is_alive()
                and all(w["alive"] for w in self.workers.status()))

    def _state(self) -> dict:
        """What the child workers install: the SIDs and the attachments with the MACs resolved so far."""
        rows = [(a, smac, st.dmac if (st := self.engine.atts.get(a.vnf)) is not None else dmac)
                for a, smac, dmac in self._rows]
        return state_message(list(self.sids.values()), rows, list(self.srv6.values()))

    def counters(self) -> dict:
        """/v1/counters: this process's loop, plus every child worker's, summed."""
        mine = self.engine.counters()
        mine["kernel_drops"] = self.datapath.kernel_drops
        if hasattr(self.datapath.sr_rx, "state"):
            mine["sr_ring"] = self.datapath.sr_rx.state()
        if not self.workers.workers:
            return mine
        reports = self.workers.reports()
        parts = [mine, *(r["counters"] for r in reports)]
        out = merge_counters(parts)
        out["sr_ring"] = mine.get("sr_ring")
        out["workers"] = [{"rx_packets": sum(row["rx_packets"] for row in p["sids"].values()),
                           "tx_packets": sum(row["tx_packets"] for row in p["sids"].values()),
                           "drops_total": p["drops_total"], "kernel_drops": p["kernel_drops"],
                           "sr_ring": p.get("sr_ring")} for p in parts]
        return out

    def attachment_view(self, vnf: str) -> dict:
        att = self.atts[vnf]
        st = self.engine.atts.get(vnf)
        row = att.model_dump(exclude_none=True)
        row["resolved_mac"] = st.dmac if st else None
        row["ready"] = bool(st and st.dmac)
        return row

    def flows_view(self, sample: int = 20) -> dict:
        mine = engine_flows(self.engine, sample)
        if not self.workers.workers:
            return mine
        return merge_flows([mine, *(r["flows"] for r in self.workers.reports())], sample)
