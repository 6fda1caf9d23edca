"""The forwarding loop: AF_PACKET sockets, epoll, batched non-blocking receive, in-place rewrite, send.

One thread owns the sockets' receive side and the engine's hot path. Configuration changes are prepared
elsewhere (sockets opened, tables compiled) and handed over through `swap`, which the loop installs
between batches, so a packet is always handled entirely by the old or entirely by the new tables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import threading
import time
from dataclasses import dataclass, field

from .engine import HEADROOM, AttState, Engine, Tables
from .packetsock import kernel_drops, open_packet_socket

log = logging.getLogger(__name__)

BATCH = 256  # frames per socket per turn; bounds the time any one socket holds the loop
BUF_SIZE = 65536 + HEADROOM


@dataclass
class Prepared:
    tables: Tables
    socks: dict[tuple[str, bool], socket.socket] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)


class DataPath:
    def __init__(self, engine: Engine, sr_iface: str) -> None:
        self.engine = engine
        self.sr = open_packet_socket(sr_iface)
        self.socks: dict[tuple[str, bool], socket.socket] = {}  # (ifname, receives) -> socket
        self.rx_att: dict[int, tuple[socket.socket, AttState]] = {}
        self.kernel_drops = 0
        self.running = False
        self._pending: queue.Queue[Prepared] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._ep = select.epoll()
        self._ep.register(self.sr.fileno(), select.EPOLLIN)
        self._ep.register(self._wake_r, select.EPOLLIN)
        self._buf = bytearray(BUF_SIZE)
        self._mv = memoryview(self._buf)

    # ---- configuration (called from the control side) ------------------------------------------------

    def prepare(self, tables: Tables) -> Prepared:
        """Open the sockets the new tables need (reusing current ones). Raises ValueError, opens nothing."""
        prep = Prepared(tables)
        opened = []
        try:
            for att in tables.atts.values():
                a = att.att
                for key in {(a.in_ifname(), True), (a.out_ifname(), a.in_ifname() == a.out_ifname())}:
                    if key not in prep.socks:
                        sock = self.socks.get(key)
                        if sock is None:
                            sock = open_packet_socket(*key)
                            opened.append(sock)
                        prep.socks[key] = sock
        except ValueError:
            for sock in opened:
                sock.close()
            raise
        for att in tables.atts.values():
            a = att.att
            att.tx = prep.socks[(a.out_ifname(), a.in_ifname() == a.out_ifname())]
        return prep

    def swap(self, prep: Prepared, timeout: float = 5.0) -> None:
        if not self.running:  # before start (initial config) or after stop: nobody else touches the tables
            self._install(prep)
            return
        self._pending.put(prep)
        os.write(self._wake_w, b"x")
        if not prep.done.wait(timeout):
            raise TimeoutError("data path did not take the new configuration within 5 s")

    def _install(self, prep: Prepared) -> None:
        for fd in list(self.rx_att):
            self._ep.unregister(fd)
        self.rx_att.clear()
        for att in prep.tables.atts.values():
            sock = prep.socks[(att.att.in_ifname(), True)]
            if sock.fileno() not in self.rx_att:
                self.rx_att[sock.fileno()] = (sock, att)
                self._ep.register(sock.fileno(), select.EPOLLIN)
        self.engine.install(prep.tables)
        for key, sock in self.socks.items():
            if prep.socks.get(key) is not sock:
                sock.close()
        self.socks = prep.socks
        prep.done.set()

    # ---- the loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        next_housekeeping = 0.0
        sr_fd = self.sr.fileno()
        busy = False
        self.running = True
        while not stop.is_set():
            events = self._ep.poll(0 if busy else 0.2)
            now = time.monotonic()
            busy = False
            for fd, _ev in events:
                if fd == sr_fd:
                    busy |= self._drain_sr(now)
                elif fd == self._wake_r:
                    self._take_pending()
                else:
                    entry = self.rx_att.get(fd)
                    if entry is not None:
                        busy |= self._drain_vnf(entry[0], entry[1], now)
            if now >= next_housekeeping:
                next_housekeeping = now + 1.0
                self.engine.expire(now)
                self._read_kernel_drops()
        self.running = False
        self._take_pending()

    def _take_pending(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        while True:
            try:
                prep = self._pending.get_nowait()
            except queue.Empty:
                return
            self._install(prep)

    def _drain_sr(self, now: float) -> bool:
        """Up to BATCH frames from the SR side. True when the socket may still hold frames."""
        eng = self.engine
        buf, mv = self._buf, self._mv
        recv = self.sr.recv_into
        from_sr = eng.from_sr
        for _ in range(BATCH):
            try:
                n = recv(mv)
            except BlockingIOError:
                return False
            att = from_sr(buf, 0, n, now)
            if att is not None:
                try:
                    att.tx.send(mv[eng.ostart:eng.oend])  # type: ignore[union-attr]
                except OSError:
                    eng.drops["tx_error"] += 1
        return True

    def _drain_vnf(self, sock: socket.socket, att: AttState, now: float) -> bool:
        eng = self.engine
        buf, mv = self._buf, self._mv
        into = mv[HEADROOM:]
        recv = sock.recv_into
        send = self.sr.send
        from_vnf = eng.from_vnf
        for _ in range(BATCH):
            try:
                n = recv(into)
            except BlockingIOError:
                return False
            if from_vnf(att, buf, HEADROOM, HEADROOM + n, now):
                try:
                    send(mv[eng.ostart:eng.oend])
                except OSError:
                    eng.drops["tx_error"] += 1
        return True

    def _read_kernel_drops(self) -> None:
        try:
            self.kernel_drops += kernel_drops(self.sr)
            for sock, _att in self.rx_att.values():
                self.kernel_drops += kernel_drops(sock)
        except OSError as exc:
            log.debug("PACKET_STATISTICS failed: %s", exc)

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()
        self.sr.close()
        self._ep.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
