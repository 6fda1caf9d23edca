"""The stand-in VMs' and PNF's management addresses: loopback addresses of the host's network namespace, where the
charms run (OSM's VCA). Each is a random 127.x.y.z (one per VM, so every VM's SSH server listens on port 22 as a VM's
would, and concurrent runs do not meet), bound here and handed to the process that serves it; the emulated switch's
BF Runtime, on a unix socket inside its namespace, is reached through a TCP relay on its PDU's address."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from pathlib import Path

from srchain_demo.netns import TestbedError


def listen(port: int, attempts: int = 50) -> socket.socket:
    """A listening TCP socket on a free random loopback address (127.64.0.1 to 127.127.255.254) and `port`."""
    for _ in range(attempts):
        addr = f"127.{random.randint(64, 127)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            s.close()
            continue
        s.listen(16)
        return s
    raise TestbedError(f"no free loopback address for port {port} after {attempts} tries")


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class Relay:
    """TCP on a management address → the unix socket `target` (the switch's gRPC server), both directions."""

    def __init__(self, target: Path, port: int) -> None:
        self.target = target
        self.listener = listen(port)
        self.address: str = self.listener.getsockname()[0]
        self.port = port
        self.closed = False
        threading.Thread(target=self._serve, daemon=True, name=f"relay-{self.address}").start()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(str(self.target))
            except OSError:
                conn.close()
                up.close()
                continue
            threading.Thread(target=_pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=_pump, args=(up, conn), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
