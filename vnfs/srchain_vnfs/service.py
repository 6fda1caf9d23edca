"""What every VNF daemon shares: YAML config, counters + Prometheus metrics, a loopback health endpoint,
a bounded select loop, and a UDP in -> handle -> UDP out skeleton with bad input counted and dropped."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srchain_contracts.records import RecordError

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A service config file that cannot be used; the message names the file and the field."""


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)

    @field_validator("host")
    @classmethod
    def _ipv4(cls, v: str) -> str:
        ipaddress.IPv4Address(v)
        return v

    @property
    def addr(self) -> tuple[str, int]:
        return self.host, self.port


class HttpSettings(BaseModel):
    """Health + metrics endpoint. Loopback only unless `allow_remote`; optional bearer token from a file."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    token_file: Path | None = None
    allow_remote: bool = False

    @model_validator(mode="after")
    def _loopback(self) -> HttpSettings:
        if not self.allow_remote and not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"http.host {self.host} is not loopback; set allow_remote: true to expose it")
        return self


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="vnf", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    http: HttpSettings = HttpSettings()
    tick_s: float = Field(default=0.2, gt=0, le=10)


C = TypeVar("C", bound=BaseModel)


def load_config(cls: type[C], path: str | Path) -> C:
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


class Daemon:
    """Base of all services: counters, metrics registry, health endpoint and the select loop."""

    kind = "vnf"

    def __init__(self, cfg: ServiceConfig) -> None:
        self.cfg = cfg
        self.started = time.monotonic()
        self.registry = CollectorRegistry()
        self.counts: dict[str, int] = {}
        labels = {"service": self.kind, "instance": cfg.name}
        self._received = Counter("srchain_vnf_received", "datagrams/frames received", list(labels),
                                 registry=self.registry).labels(**labels)
        self._sent = Counter("srchain_vnf_sent", "datagrams/frames sent", list(labels),
                             registry=self.registry).labels(**labels)
        self._dropped = Counter("srchain_vnf_dropped", "input dropped, by reason", [*labels, "reason"],
                                registry=self.registry)
        self._labels = labels
        self.sessions_gauge = Gauge("srchain_vnf_sessions", "sessions/sources tracked", list(labels),
                                    registry=self.registry).labels(**labels)
        self._token = cfg.http.token_file.read_text().strip() if cfg.http.token_file else None
        self._http: ThreadingHTTPServer | None = None
        self._sel = selectors.DefaultSelector()
        self._watched: dict[int, socket.socket] = {}  # fd -> socket registered with _sel
        self.state_lock = threading.Lock()  # held by the loop while it handles input or ticks (see views)

    # -- counters -------------------------------------------------------------------------------------
    def count(self, event: str, n: int = 1) -> None:
        self.counts[event] = self.counts.get(event, 0) + n
        if event == "received":
            self._received.inc(n)
        elif event == "sent":
            self._sent.inc(n)
        elif event.startswith("dropped:"):
            self._dropped.labels(**self._labels, reason=event.removeprefix("dropped:")).inc(n)

    def views(self) -> dict[str, Callable[[], Any]]:
        """Read-only JSON endpoints of the service beyond /healthz and /metrics (path -> producer). They run
        on the HTTP thread; the loop changes the state only while holding `state_lock` (once per batch of
        input), so a producer that copies the state under that lock sees it whole."""
        return {}

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok", "service": self.kind, "name": self.cfg.name,
            "uptime_s": round(time.monotonic() - self.started, 3), "counters": dict(sorted(self.counts.items())),
        }

    # -- health / metrics endpoint --------------------------------------------------------------------
    def start_http(self) -> tuple[str, int]:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if daemon._token is not None:
                    given = self.headers.get("Authorization", "")
                    if not hmac.compare_digest(given.encode(), f"Bearer {daemon._token}".encode()):
                        self._reply(401, "text/plain", b"unauthorized\n")
                        return
                if self.path == "/healthz":
                    self._reply(200, "application/json", json.dumps(daemon.health()).encode())
                elif self.path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(daemon.registry))
                elif (view := daemon.views().get(self.path)) is not None:
                    self._reply(200, "application/json", json.dumps(view()).encode())
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # no per-request log lines
                return

        self._http = ThreadingHTTPServer((self.cfg.http.host, self.cfg.http.port), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name=f"{self.cfg.name}-http", daemon=True).start()
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    # -- loop ---------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open sockets and `watch` them (subclasses)."""

    def on_readable(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def on_tick(self, now: float) -> None:
        """Periodic work (timeouts), called at least every `tick_s`."""

    def watch(self, sock: socket.socket) -> None:
        """Hand `sock` to on_readable whenever it has input; closed by close()."""
        self._sel.register(sock, selectors.EVENT_READ)
        self._watched[sock.fileno()] = sock

    def close(self) -> None:
        for sock in self._watched.values():
            self._sel.unregister(sock)
            sock.close()
        self._watched.clear()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def run(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        self.open()
        self.start_http()
        if ready is not None:
            ready.set()
        next_tick = time.monotonic() + self.cfg.tick_s
        try:
            while not stop.is_set():
                for key, _ in self._sel.select(timeout=self.cfg.tick_s):
                    with self.state_lock:
                        self.on_readable(self._watched[key.fd])
                now = time.monotonic()
                if now >= next_tick:
                    with self.state_lock:
                        self.on_tick(now)
                    next_tick = now + self.cfg.tick_s
        finally:
            self.close()


class UdpServiceConfig(ServiceConfig):
    listen: Endpoint
    next_hop: Endpoint
    batch: int = Field(default=64, ge=1, le=4096)
    rcvbuf_bytes: int = Field(default=4 << 20, ge=65536)
    # Output sockets, each on its own source port; a payload's flow (flow_of) picks one, so a per-flow balancer
    # downstream (the SR proxy's choice among a segment's instances) keeps one session's records together
    # and spreads sessions over the instances. 1: one socket, every payload from the same port.
    source_ports: int = Field(default=1, ge=1, le=64)
    # first of the source ports (consecutive; 0: ephemeral ones): fixed ports make the balancer's split of the
    # sessions the same from run to run
    source_port_base: int = Field(default=0, ge=0, le=65535 - 64)


class UdpService(Daemon):
    """UDP in -> handle() -> UDP out to the next hop. Bad input is counted by reason and dropped."""

    cfg: UdpServiceConfig

    def __init__(self, cfg: UdpServiceConfig) -> None:
        super().__init__(cfg)
        self.sock: socket.socket | None = None
        self.out: socket.socket | None = None
        self.outs: list[socket.socket] = []

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.cfg.rcvbuf_bytes)
        sock.bind(self.cfg.listen.addr)
        sock.setblocking(False)
        self.sock = sock
        self.outs = []
        for _ in range(self.cfg.source_ports):
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if self.cfg.source_ports > 1 or self.cfg.source_port_base:
                # its own source port from the start (an unbound socket gets one on its first send)
                port = self.cfg.source_port_base + len(self.outs) if self.cfg.source_port_base else 0
                out.bind(("0.0.0.0", port))
            self.outs.append(out)
        self.out = self.outs[0]
        self.watch(sock)

    @property
    def bound(self) -> tuple[str, int]:
        assert self.sock is not None
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def handle(self, data: bytes) -> Iterable[bytes]:
        raise NotImplementedError

    def flow_of(self, payload: bytes) -> int:
        """The flow an output payload belongs to (only asked with several source ports): payloads of one flow
        leave from one source port."""
        return 0

    def emit(self, payloads: Iterable[bytes]) -> None:
        assert self.out is not None
        n = len(self.outs)
        for payload in payloads:
            out = self.out if n == 1 else self.outs[self.flow_of(payload) % n]
            try:
                out.sendto(payload, self.cfg.next_hop.addr)
                self.count("sent")
            except OSError as exc:  # next hop down / buffer full: count, keep serving
                self.count(f"dropped:send_{exc.errno}")

    def process(self, data: bytes) -> None:
        """Handle one datagram; never raises (bad input is counted by reason)."""
        self.count("received")
        try:
            out = list(self.handle(data))
        except RecordError as exc:
            self.count(f"dropped:{exc.reason.name.lower()}")
            return
        except Exception:  # a bug must not stop the service; it is logged and counted
            log.exception("%s: unexpected error handling a %d-byte datagram", self.cfg.name, len(data))
            self.count("dropped:internal_error")
            return
        self.emit(out)

    def on_readable(self, sock: socket.socket) -> None:
        for _ in range(self.cfg.batch):
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            self.process(data)

    def close(self) -> None:
        for out in self.outs:
            out.close()
        self.outs = []
        self.out = None
        super().close()
