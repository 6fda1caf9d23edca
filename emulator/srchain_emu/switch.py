"""The emulated switch's data plane loop: ports (AF_PACKET) -> ingress -> TM -> egress -> ports."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading

from .bfrt_server import BfRuntimeServer
from .ports import PACKET_OUTGOING, PortSpec, open_port_socket
from .tm import TrafficManager

log = logging.getLogger(__name__)
MAX_FRAME = 16384


class DataPlane:
    def __init__(self, server: BfRuntimeServer, ports: list[PortSpec],
                 sockets: dict[int, socket.socket] | None = None) -> None:  # fmt: skip
        self.server = server
        self.tm = TrafficManager()
        self.sockets = sockets if sockets is not None else {p.device_port: open_port_socket(p.ifname) for p in ports}
        self.disabled: set[int] = set()  # ports whose $PORT_ENABLE is false
        self.by_fd = {s.fileno(): port for port, s in self.sockets.items()}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.tx_errors = 0
        self.no_port = 0
        self.port_down_drops = 0
        # The fixed tables ($PORT, tf1.tm.port.*) act on this data plane; ports.json rates are their start.
        server.device.attach(sorted(self.sockets), self.tm.set_rate, self._set_enabled, self.tm.set_queue_priority)
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
        for s in self.sockets.values():
            s.close()

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

    def _loop(self) -> None:
        fds = list(self.by_fd)
        wait = 0.05
        while not self.stop_event.is_set():
            ready, _, _ = select.select(fds, [], [], wait)
            for fd in ready:
                self._receive(fd)
            wait = self._transmit()

    def _receive(self, fd: int) -> None:
        port = self.by_fd[fd]
        sock = self.sockets[port]
        for _ in range(64):  # bounded batch per wake-up
            try:
                frame, addr = sock.recvfrom(MAX_FRAME)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("receive on port %d failed: %s", port, exc)
                return
            if addr[2] == PACKET_OUTGOING:
                continue  # our own transmissions seen on the same interface
            if port in self.disabled:
                self.port_down_drops += 1
                continue
            for item in self.server.ingress(port, frame):
                self.tm.enqueue(item)

    def _transmit(self) -> float:
        ready, next_wait = self.tm.dequeue()
        for item, depth, delta in ready:
            out = self.server.egress(item, depth, delta)
            if out is None:
                continue
            sock = self.sockets.get(out.port)
            if sock is None:
                self.no_port += 1
                continue
            if out.port in self.disabled:
                self.port_down_drops += 1
                continue
            try:
                sock.send(out.frame)
            except OSError as exc:
                self.tx_errors += 1
                log.warning("transmit on port %d failed: %s", out.port, exc)
        if next_wait > 0:
            return min(next_wait, 0.05)
        return 0.05 if self.tm.pending == 0 else 0.0
