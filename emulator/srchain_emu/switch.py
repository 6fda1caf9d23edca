"""The emulated switch's data plane loop: ports (PACKET_MMAP rings) -> ingress -> TM -> egress -> ports."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time

from .bfrt_server import BfRuntimeServer
from .interp.pipeline import ToTM, is_recirculation_port
from .pktgen import PacketGenerator, generator_port
from .portio import Port, SocketPort, link_up, open_port
from .ports import PortSpec
from .tm import TrafficManager

log = logging.getLogger(__name__)
BATCH = 64  # frames per port per wake-up: bounds how long one port holds the loop
LINK_POLL_S = 0.1  # how often the ports' interfaces are looked at for link changes (tofino-model polls its veths)


class DataPlane:
    def __init__(self, server: BfRuntimeServer, ports: list[PortSpec],
                 sockets: dict[int, socket.socket | Port] | None = None, io: str = "ring") -> None:
        """`sockets`: already open ports (plain AF_PACKET sockets are wrapped); otherwise each port is opened
        on its interface (PACKET_MMAP rings, or plain sockets with io="socket")."""
        self.server = server
        self.tm = TrafficManager()
        if sockets is None:
            self.ports: dict[int, Port] = {p.device_port: open_port(p.ifname, io) for p in ports}
        else:
            self.ports = {n: SocketPort(s) if isinstance(s, socket.socket) else s for n, s in sockets.items()}
        self.disabled: set[int] = set()  # ports whose $PORT_ENABLE is false
        self.ifnames = {p.device_port: p.ifname for p in ports if p.device_port in self.ports}
        self.link: dict[int, bool] = {}  # the link state last seen per port (absent: not looked at yet)
        self.by_fd = {s.fileno(): port for port, s in self.ports.items()}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.final_counters: dict[str, object] = {}
        self.no_port = 0
        self.port_down_drops = 0
        self.last_rx: dict[int, int] = {}  # per port: the last arrival time handed to ingress (monotonic ns)
        # The fixed tables ($PORT, tf1.tm.*) act on this data plane; ports.json rates are their start.
        server.device.attach(sorted(self.ports), self.tm.set_rate, self._set_enabled, self.tm.set_queue)
        for p in ports:
            if p.rate_bps:
                server.device.preset_rate(p.device_port, p.rate_bps, p.burst_bytes)

    def _set_enabled(self, port: int, enabled: bool) -> None:
        if enabled:
            self.disabled.discard(port)
        else:
            self.disabled.add(port)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="emu-dataplane", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.final_counters = self.counters()  # the sockets are gone after this
        for s in self.ports.values():
            s.close()

    def counters(self) -> dict[str, object]:
        """Where frames were lost, for the operator: per port kernel RX drops (we fell behind), TM tail drops,
        frames too large for a ring slot, send errors, and the pipeline's own counters."""
        return {
            "rx_drops": {n: p.rx_drops() for n, p in self.ports.items()},
            "tm_drops": {f"{port}/{q}": n for (port, q), n in self.tm.drops.items()},
            "oversize": self.oversize, "tx_errors": self.tx_errors, "no_port": self.no_port,
            "rx_oversize": sum(getattr(p, "rx_oversize", 0) for p in self.ports.values()),
            "port_down_drops": self.port_down_drops, "pipeline": self.server.stats(),
        }

    @property
    def oversize(self) -> int:
        """Frames dropped for being longer than the egress port's MTU (+ Ethernet header)."""
        return sum(p.oversize for p in self.ports.values())

    def run(self) -> None:
        path = os.environ.get("SRCHAIN_EMU_PROFILE")  # opt-in: cProfile stats of this thread, for bench/
        if not path:
            self._loop()
            return
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            self._loop()
        finally:
            prof.disable()
            prof.dump_stats(path)

    def _poll_links(self) -> None:
        """A port whose interface goes down (an operator's `ip link set … down`, the SDE's `port_ifdown`) is a port
        going down for the device; the first look only records the state."""
        for port, ifname in self.ifnames.items():
            up = link_up(self.ports[port].fileno(), ifname)
            was = self.link.get(port)
            self.link[port] = up
            if was is not None and up != was:
                log.info("port %d (%s): link %s", port, ifname, "up" if up else "down")
                with self.server.lock:
                    self.server.device.link_changed(port, up)

    def _loop(self) -> None:
        fds = list(self.by_fd)
        wait = 0.05
        pktgen = self.server.device.pktgen
        next_link_poll = 0.0
        while not self.stop_event.is_set():
            if (now := time.monotonic()) >= next_link_poll:
                self._poll_links()
                next_link_poll = now + LINK_POLL_S
            ready, _, _ = select.select(fds, [], [], wait)
            for fd in ready:
                self._receive(fd)
            if pktgen.idle:  # the common case: no generator app armed, nothing of its pending
                wait = self._transmit()
                continue
            self._generate(pktgen)
            wait = self._transmit()
            with self.server.lock:
                gap = pktgen.next_due_ns(time.monotonic_ns())
            if gap is not None:
                wait = min(wait, gap / 1e9)

    def _generate(self, pktgen: PacketGenerator) -> None:
        """The packet generator's packets that are due enter ingress on their pipe's source port."""
        # Under the device lock, as every table write: a write to app_cfg (disable, reconfigure) between the checks
        # and the arithmetic of `due` would otherwise see an app half-changed (it killed this thread once).
        with self.server.lock:
            made = pktgen.due(time.monotonic_ns())
        if not made:
            return
        enqueue, now = self.tm.enqueue, time.monotonic_ns
        for port, frame in made:
            # the generator port's parser (Tofino 1: port 68 of the pipe), whatever source port the app gives
            for item in self.server.ingress_many(port, [frame], generator_port(port)):
                enqueue(item, now())

    def _receive(self, fd: int) -> None:
        port = self.by_fd[fd]
        frames = self.ports[port].receive(BATCH)
        if not frames:
            return
        if port in self.disabled:
            self.port_down_drops += len(frames)
            return
        enqueue = self.tm.enqueue
        stamps = self.ports[port].rx_stamps
        if len(stamps) != len(frames):  # a plain socket: the time we read them
            now = time.monotonic_ns
            for item in self.server.ingress_many(port, frames):
                enqueue(item, now())
            return
        # The kernel's receive times, as a MAC stamps arrivals (ingress_mac_tstamp) and the TM's enqueue time: a
        # loop that was held up does not squeeze what arrived meanwhile into one burst. On the monotonic clock,
        # never later than now and never before the port's previous frame (clock steps of CLOCK_REALTIME).
        now_ns = time.monotonic_ns()
        offset = time.time_ns() - now_ns
        last = self.last_rx.get(port, 0)
        arrivals = []
        for s in stamps:
            last = min(max(s - offset, last), now_ns)
            arrivals.append(last)
        self.last_rx[port] = last
        for item, t in self.server.ingress_stamped(port, frames, arrivals):
            enqueue(item, t)

    @property
    def tx_errors(self) -> int:
        return sum(p.tx_errors for p in self.ports.values())

    def _transmit(self) -> float:
        ready, next_wait = self.tm.dequeue()
        used: set[int] = set()
        outs = self.server.egress_many(ready) if ready else []
        mirrored = self.server.take_egress_mirrors() if ready else []
        if mirrored:  # E2E copies: back through the traffic manager to egress
            enqueue, now = self.tm.enqueue, time.monotonic_ns
            for item in mirrored:
                enqueue(item, now())
            next_wait = 0.0
        recirc: list[ToTM] = []
        for out in outs:
            p = self.ports.get(out.port)
            if p is None:
                if is_recirculation_port(out.port):  # back into that pipe's ingress (not a ports.json port)
                    pktgen = self.server.device.pktgen
                    if pktgen.matches_on(out.port):  # rare: the lock only then (every SR decision recirculates)
                        with self.server.lock:  # to the packet generator's recirculation-pattern apps
                            pktgen.recirculated(out.port, out.frame)
                    recirc.extend(self.server.ingress_many(out.port, [out.frame]))
                    continue
                self.no_port += 1
                continue
            if out.port in self.disabled:
                self.port_down_drops += 1
                continue
            p.send(out.frame)
            used.add(out.port)
        for n in used:
            self.ports[n].flush()
        if recirc:
            enqueue, now = self.tm.enqueue, time.monotonic_ns
            for item in recirc:
                enqueue(item, now())
            next_wait = 0.0
        if next_wait > 0:
            return min(next_wait, 0.05)
        return 0.05 if self.tm.pending == 0 else 0.0
