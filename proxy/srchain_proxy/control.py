"""Control API: HTTP/JSON on a unix socket or loopback, `Authorization: Bearer <token>` on every request."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import socket
import socketserver
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError

from srchain_contracts.proxy_api import Attachment, SidEntry

from .config import describe_error
from .daemon import ProxyDaemon
from .metrics import make_registry, metrics_text

log = logging.getLogger(__name__)

MAX_BODY = 4 << 20


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: _ServerMixin  # type: ignore[assignment]  # only ever served by our servers, which carry api and token
    protocol_version = "HTTP/1.1"
    server_version = "srchain-proxy"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
            if not self._authorised():
                raise ApiError(401, "missing or wrong bearer token")
            status, payload = self.server.api.handle(method, self.path.split("?", 1)[0], body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception:
            log.exception("api: %s %s failed", method, self.path)
            status, payload = 500, {"error": "internal error, see the proxy log"}
        if isinstance(payload, bytes):
            self._send(status, payload, "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(status, json.dumps(payload, indent=1).encode() + b"\n", "application/json")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, f"body larger than {MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="srchain-proxy"')
        self.end_headers()
        self.wfile.write(body)


class _ServerMixin:
    api: Api
    token: bytes


class _TcpServer(_ServerMixin, ThreadingHTTPServer):
    daemon_threads = True


class _TcpServer6(_TcpServer):
    address_family = socket.AF_INET6


class _UnixServer(_ServerMixin, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = super().get_request()
        return conn, ("unix", 0)  # BaseHTTPRequestHandler expects a (host, port) client address


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc


class Api:
    """Routes requests onto the daemon. Every change goes through ProxyDaemon.apply (all or nothing)."""

    def __init__(self, daemon: ProxyDaemon) -> None:
        self.d = daemon
        self.registry = make_registry(daemon.counters, (daemon.datapath.variant, daemon.datapath.variant_detail))

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/v1/health", self.health),
            ("GET", r"/v1/sids", self.list_sids),
            ("GET", r"/v1/sids/(\d+)", self.get_sid),
            ("PUT", r"/v1/sids/(\d+)", self.put_sid),
            ("DELETE", r"/v1/sids/(\d+)", self.delete_sid),
            ("POST", r"/v1/batch", self.batch),
            ("GET", r"/v1/attachments", self.list_atts),
            ("GET", r"/v1/attachments/([^/]+)", self.get_att),
            ("PUT", r"/v1/attachments/([^/]+)", self.put_att),
            ("DELETE", r"/v1/attachments/([^/]+)", self.delete_att),
            ("GET", r"/v1/counters", self.counters),
            ("GET", r"/v1/flows", self.flows),
            ("GET", r"/metrics", self.metrics),
        ]
        path_known = False
        for verb, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if m:
                path_known = True
                if verb == method:
                    return fn(*(unquote(g) for g in m.groups()), body=body)
        if path_known:
            raise ApiError(405, f"{method} not allowed on {path}")
        raise ApiError(404, f"no such resource {path}")

    def _apply(self, sids: dict[int, SidEntry], atts: dict[str, Attachment]) -> None:
        try:
            self.d.apply(sids, atts)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        except OSError as exc:  # the state file could not be written: nothing was installed
            raise ApiError(500, f"state_file: cannot persist the change ({exc.strerror or exc}); not applied") from exc

    # ---- SIDs ----------------------------------------------------------------------------------------

    def health(self, body: bytes) -> tuple[int, Any]:
        alive = self.d.datapath_alive()
        return (200 if alive else 503), {
            "status": "ok" if alive else "data path stopped (see the proxy log)", "sids": len(self.d.sids),
            "attachments": {v: self.d.attachment_view(v)["ready"] for v in sorted(self.d.atts)},
            "sr_loop": self.d.datapath.variant, "sr_loop_detail": self.d.datapath.variant_detail,
            **({"workers": self.d.workers.status()} if self.d.workers.workers else {})}

    def list_sids(self, body: bytes) -> tuple[int, Any]:
        return 200, {"sids": [s.model_dump(exclude_none=True) for _, s in sorted(self.d.sids.items())]}

    def get_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        entry = self.d.sids.get(int(sid))
        if entry is None:
            raise ApiError(404, f"sids[{sid}]: no such SID")
        return 200, entry.model_dump(exclude_none=True)

    @staticmethod
    def _parse_sid(raw: Any, where: str) -> SidEntry:
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}: must be a JSON object")
        try:
            return SidEntry.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(400, describe_error(exc, where)) from exc

    def put_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        raw = _json(body)
        if isinstance(raw, dict):
            raw.setdefault("sid", int(sid))
            if raw["sid"] != int(sid):
                raise ApiError(400, f"sids[{sid}].sid: body says {raw['sid']}, path says {sid}")
        entry = self._parse_sid(raw, f"sids[{sid}]")
        with_new = dict(self.d.sids)
        with_new[entry.sid] = entry
        self._apply(with_new, self.d.atts)
        return 200, entry.model_dump(exclude_none=True)

    def delete_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        if int(sid) not in self.d.sids:
            raise ApiError(404, f"sids[{sid}]: no such SID")
        rest = {k: v for k, v in self.d.sids.items() if k != int(sid)}
        self._apply(rest, self.d.atts)
        return 200, {"deleted": int(sid)}

    def batch(self, body: bytes) -> tuple[int, Any]:
        raw = _json(body)
        if not isinstance(raw, dict) or set(raw) - {"put", "delete"}:
            raise ApiError(400, 'body: expected {"put": [entries], "delete": [sids]}')
        puts, deletes = raw.get("put", []), raw.get("delete", [])
        if not isinstance(puts, list) or not isinstance(deletes, list):
            raise ApiError(400, "body: put and delete must be lists")
        sids = dict(self.d.sids)
        for i, sid in enumerate(deletes):
            if not isinstance(sid, int) or sid not in sids:
                raise ApiError(400, f"delete[{i}]: no such SID {sid!r}")
            del sids[sid]
        seen: set[int] = set()
        for i, raw_entry in enumerate(puts):
            entry = self._parse_sid(raw_entry, f"put[{i}]")
            if entry.sid in seen:
                raise ApiError(400, f"put[{i}].sid: {entry.sid} appears twice in the batch")
            seen.add(entry.sid)
            sids[entry.sid] = entry
        self._apply(sids, self.d.atts)
        return 200, {"put": sorted(seen), "delete": deletes, "sids": len(sids)}

    # ---- attachments ---------------------------------------------------------------------------------

    def list_atts(self, body: bytes) -> tuple[int, Any]:
        return 200, {"attachments": [self.d.attachment_view(v) for v in sorted(self.d.atts)]}

    def get_att(self, vnf: str, body: bytes) -> tuple[int, Any]:
        if vnf not in self.d.atts:
            raise ApiError(404, f"attachments[{vnf}]: no such attachment")
        return 200, self.d.attachment_view(vnf)

    def put_att(self, vnf: str, body: bytes) -> tuple[int, Any]:
        raw = _json(body)
        if not isinstance(raw, dict):
            raise ApiError(400, f"attachments[{vnf}]: must be a JSON object")
        raw.setdefault("vnf", vnf)
        if raw["vnf"] != vnf:
            raise ApiError(400, f"attachments[{vnf}].vnf: body says {raw['vnf']!r}, path says {vnf!r}")
        try:
            att = Attachment.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(400, describe_error(exc, f"attachments[{vnf}]")) from exc
        atts = dict(self.d.atts)
        atts[vnf] = att
        self._apply(self.d.sids, atts)
        return 200, self.d.attachment_view(vnf)

    def delete_att(self, vnf: str, body: bytes) -> tuple[int, Any]:
        if vnf not in self.d.atts:
            raise ApiError(404, f"attachments[{vnf}]: no such attachment")
        self._apply(self.d.sids, {k: v for k, v in self.d.atts.items() if k != vnf})
        return 200, {"deleted": vnf}

    # ---- observation ---------------------------------------------------------------------------------

    def counters(self, body: bytes) -> tuple[int, Any]:
        return 200, self.d.counters()

    def flows(self, body: bytes) -> tuple[int, Any]:
        return 200, self.d.flows_view()

    def metrics(self, body: bytes) -> tuple[int, Any]:
        return 200, metrics_text(self.registry)


def read_token(path: str) -> bytes:
    try:
        token = open(path, "rb").read().strip()  # noqa: SIM115 - tiny file
    except OSError as exc:
        raise ValueError(f"token_file: cannot read {path}: {exc.strerror}") from exc
    if len(token) < 16:
        raise ValueError(f"token_file: {path} holds fewer than 16 characters")
    if os.stat(path).st_mode & 0o077:
        log.warning("token_file %s is readable by group/others; chmod 600 it", path)
    return token


def make_server(daemon: ProxyDaemon, listen: str, token: bytes) -> socketserver.BaseServer:
    server: _TcpServer | _UnixServer
    if listen.startswith("unix:"):
        path = listen[5:]
        if os.path.exists(path):
            os.unlink(path)  # stale socket from a previous run
        old = os.umask(0o177)
        try:
            server = _UnixServer(path, _Handler)
        finally:
            os.umask(old)
    else:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        cls = _TcpServer6 if ":" in host else _TcpServer
        server = cls((host, int(port)), _Handler)
    server.api = Api(daemon)
    server.token = token
    return server
