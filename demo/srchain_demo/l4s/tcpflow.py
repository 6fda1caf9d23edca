"""Classic traffic: the kernel's TCP (Cubic by default) with ECN off (the namespace's net.ipv4.tcp_ecn=0,
set by the harness), so it is Not-ECT and sits in the classic queue.

    server  in the receiver's namespace: counts bytes received per 100 ms; answers each web object
    client  in the sender's namespace, one of:
            bulk  iperf-like: one connection, writes for --seconds
            web   request/response: objects of seeded random size (Pareto, mean ~100 kB, 10 kB..1 MB)
                  sent one after another on fresh connections with 50 ms think time; each is answered
                  with one byte, and the completion time (connect → answer) is recorded

Every message starts with a 4-byte length (0xFFFFFFFF: bulk, read to EOF); the data always travels
sender → receiver, the direction with the bottleneck.

    python -m srchain_demo.l4s.tcpflow server --port 5201 --report srv.json
    python -m srchain_demo.l4s.tcpflow client --dst 10.18.0.2 --mode bulk --seconds 30 --report cli.json
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

HEADER = struct.Struct("!I")
BULK = 0xFFFFFFFF
BIN_S = 0.1
CHUNK = 64 * 1024


class Counter:
    """Bytes received per BIN_S, from the server's start (one lock: a few connection threads)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.bins: dict[int, int] = {}
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        b = int((time.monotonic() - self.start) / BIN_S)
        with self.lock:
            self.bins[b] = self.bins.get(b, 0) + n


def _read_exact(conn: socket.socket, n: int, counter: Counter) -> bool:
    while n > 0:
        data = conn.recv(min(n, CHUNK))
        if not data:
            return False
        counter.add(len(data))
        n -= len(data)
    return True


def _serve_one(conn: socket.socket, counter: Counter) -> None:
    with conn:
        conn.settimeout(120)
        head = b""
        while len(head) < HEADER.size:
            part = conn.recv(HEADER.size - len(head))
            if not part:
                return
            head += part
        (size,) = HEADER.unpack(head)
        if size == BULK:
            while data := conn.recv(CHUNK):
                counter.add(len(data))
        elif _read_exact(conn, size, counter):
            conn.sendall(b"k")


def server(port: int, stop: threading.Event) -> dict[str, Any]:
    counter = Counter()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(16)
    lsock.settimeout(0.2)
    print("ready", flush=True)
    while not stop.is_set():
        try:
            conn, _ = lsock.accept()
        except TimeoutError:
            continue
        threading.Thread(target=_serve_one, args=(conn, counter), daemon=True).start()
    lsock.close()
    top = max(counter.bins, default=-1)
    return {"start_monotonic": counter.start, "bin_s": BIN_S,
            "bytes_per_bin": [counter.bins.get(i, 0) for i in range(top + 1)]}


def _connect(dst: str, port: int, cc: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    sock.settimeout(10)
    sock.connect((dst, port))
    return sock


def bulk(dst: str, port: int, seconds: float, cc: str, stop: threading.Event) -> dict[str, Any]:
    sent = 0
    with _connect(dst, port, cc) as sock:
        print("ready", flush=True)
        sock.sendall(HEADER.pack(BULK))
        block = bytes(CHUNK)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop.is_set():
            try:
                sent += sock.send(block)
            except TimeoutError:
                continue
        sock.shutdown(socket.SHUT_WR)
    return {"mode": "bulk", "cc": cc, "sent_bytes": sent}


def web(dst: str, port: int, seconds: float, cc: str, seed: int, stop: threading.Event) -> dict[str, Any]:
    rng = random.Random(seed)
    objects: list[dict[str, float]] = []
    print("ready", flush=True)
    start = time.monotonic()
    while time.monotonic() - start < seconds and not stop.is_set():
        size = int(min(1_000_000, 10_000 * rng.paretovariate(1.1)))
        t0 = time.monotonic()
        try:
            with _connect(dst, port, cc) as sock:
                sock.sendall(HEADER.pack(size) + bytes(size))
                answered = sock.recv(1) == b"k"
        except OSError:
            answered = False
        objects.append({"t": t0 - start, "bytes": size, "seconds": time.monotonic() - t0, "ok": answered})
        time.sleep(0.05)
    return {"mode": "web", "cc": cc, "objects": objects}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srchain_demo.l4s.tcpflow", description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--dst", default="10.18.0.2")
    parser.add_argument("--port", type=int, default=5201)
    parser.add_argument("--mode", choices=("bulk", "web"), default="bulk")
    parser.add_argument("--cc", default="cubic", help="kernel congestion control (TCP_CONGESTION)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1, help="web mode: object sizes")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.role == "server":
            report = server(args.port, stop)
        elif args.mode == "bulk":
            report = bulk(args.dst, args.port, args.seconds, args.cc, stop)
        else:
            report = web(args.dst, args.port, args.seconds, args.cc, args.seed, stop)
    except OSError as exc:
        print(f"tcpflow: error: {exc}", file=sys.stderr)
        return 1
    args.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
