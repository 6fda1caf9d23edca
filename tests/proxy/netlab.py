"""Network-namespace lab for the proxy tests: namespaces, veths, sockets inside a namespace, API client."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from labs import start_proxy, wait_proxy_ready
from proclib import stop
from srchain_net.netns import run_in_netns
from srchain_net.packetsock import PACKET_IGNORE_OUTGOING, SOL_PACKET

T = TypeVar("T")


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


def nsx(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", ns, *args, check=check)


def add_netns(name: str) -> None:
    sh("ip", "netns", "add", name)
    # no IPv6 autoconf noise (router solicitations, DAD): frame counts in tests stay exact
    for key in ("all", "default"):
        nsx(name, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
        nsx(name, "sysctl", "-qw", f"net.ipv4.conf.{key}.send_redirects=0")
    nsx(name, "ip", "link", "set", "lo", "up")


def add_veth(ns_a: str, if_a: str, mac_a: str, ns_b: str, if_b: str, mac_b: str) -> None:
    # created directly inside the namespaces: no name ever exists in the root namespace
    sh("ip", "link", "add", if_a, "netns", ns_a, "address", mac_a, "type", "veth",
       "peer", "name", if_b, "netns", ns_b, "address", mac_b)
    for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
        nsx(ns, "ip", "link", "set", ifname, "up")


def del_netns(name: str) -> None:
    sh("ip", "netns", "del", name, check=False)


def call_in_netns(ns: str, fn: Callable[[], T]) -> T:
    """fn() run in namespace ns: sockets it opens stay in that namespace."""
    return run_in_netns(ns, fn, timeout=None)


def packet_socket_in(ns: str, ifname: str) -> socket.socket:
    """An AF_PACKET socket bound to ifname inside namespace ns."""

    def open_socket() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
        sock.bind((ifname, 3))
        return sock

    return call_in_netns(ns, open_socket)


def drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(65535)


def recv_frames(sock: socket.socket, count: int, timeout: float = 3.0, accept=None) -> list[bytes]:
    """Up to count frames (those accept(frame) keeps) within timeout."""
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(frames) < count and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            frame = sock.recv(65535)
        except TimeoutError:
            break
        if accept is None or accept(frame):
            frames.append(frame)
    return frames


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Api:
    def __init__(self, path: str, token: str) -> None:
        self.path = path
        self.token = token

    def call(self, method: str, url: str, body=None, token: str | None = None) -> tuple[int, object]:
        conn = UnixHTTPConnection(self.path)
        headers = {"Content-Type": "application/json"}
        tok = self.token if token is None else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        try:
            data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(raw) if ctype.startswith("application/json") else raw.decode())

    def ok(self, method: str, url: str, body=None) -> object:
        status, payload = self.call(method, url, body)
        assert status == 200, (status, payload)
        return payload


class Daemon:
    """`python -m srchain_proxy run` inside a namespace, stopped with SIGTERM."""

    def __init__(self, ns: str, config: Path, log: Path, api: Api) -> None:
        self.ns, self.config, self.log, self.api = ns, config, log, api
        self.proc: subprocess.Popen | None = None

    def start(self, wait_ready: tuple[str, ...] = ()) -> None:
        """Start it and wait until health answers 200 with every attachment in wait_ready ready."""

        def healthy() -> bool:
            status, health = self.api.call("GET", "/v1/health")
            return status == 200 and all(health["attachments"].get(v) for v in wait_ready)  # type: ignore[index]

        self.proc = start_proxy(self.ns, self.config, self.log)
        wait_proxy_ready(self.proc, self.config, self.log, ready=healthy)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        code = stop(self.proc)
        self.proc = None
        return code


@contextlib.contextmanager
def spawn_in(ns: str, *args: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"{args} failed to start: {proc.stderr.read().decode() if proc.stderr else ''}")
        yield proc
    finally:
        stop(proc, timeout=5)
