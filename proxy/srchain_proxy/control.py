"""Control API: HTTP/JSON on a unix socket or loopback, `Authorization: Bearer <token>` on every request.

The routes and their answers; the HTTP side (token, limits, timeouts) is httpserver.py, the JSON bodies'
bounds strictjson.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError

from srchain_contracts.proxy_api import (
    FIRST_UNRESERVED_LABEL,
    MAX_LABEL,
    Attachment,
    SidEntry,
    Srv6SidEntry,
    check_srv6_address,
)

from . import strictjson
from .config import describe_error
from .daemon import ProxyDaemon
from .httpserver import ControlServer, Limits, Reply, error_body
from .metrics import make_registry, metrics_text

log = logging.getLogger(__name__)

_SID_TEXT = re.compile(r"[0-9]{1,7}")  # labels have at most 7 digits (2^20 - 1 = 1048575)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def respond(api: Api, method: str, path: str, body: bytes) -> Reply:
    """The server's handler: the API's answer as JSON (Prometheus text for /metrics); a client error is a
    4xx with a one-line reason, only a fault of the proxy's own is a 500 (and its traceback is logged)."""
    try:
        status, payload = api.handle(method, path, body)
    except ApiError as exc:
        return Reply(exc.status, error_body(str(exc)))
    except Exception:
        log.exception("api: %s %s failed", method, path)
        return Reply(500, error_body("internal error, see the proxy log"))
    if isinstance(payload, bytes):
        return Reply(status, payload, "text/plain; version=0.0.4; charset=utf-8")
    return Reply(status, json.dumps(payload, indent=1).encode() + b"\n")


def _json(body: bytes) -> Any:
    try:
        return strictjson.loads(body)
    except strictjson.JsonRefused as exc:
        raise ApiError(400, str(exc)) from None


def _path_sid(raw: str) -> int:
    """A SID in a path: decimal, within the label range (checked on the text: no int() of a long one)."""
    if not _SID_TEXT.fullmatch(raw) or not FIRST_UNRESERVED_LABEL <= int(raw) <= MAX_LABEL:
        shown = raw if len(raw) <= 24 else f"{raw[:20]}... ({len(raw)} characters)"
        raise ApiError(400, f"sids[{shown}]: not a label ({FIRST_UNRESERVED_LABEL}..{MAX_LABEL})")
    return int(raw)


def _path_srv6(raw: str, where: str = "") -> str:
    """An SRv6 SID in a path or a body: an IPv6 address (at most 45 characters), as its compressed form."""
    shown = raw if len(raw) <= 48 else f"{raw[:44]}... ({len(raw)} characters)"
    if len(raw) > 45:
        raise ApiError(400, f"{where or f'srv6_sids[{shown}]'}: not an IPv6 address")
    try:
        return check_srv6_address(raw)
    except ValueError as exc:
        raise ApiError(400, f"{where or f'srv6_sids[{shown}]'}: {exc}") from None


class Api:
    """Routes requests onto the daemon. Every change goes through ProxyDaemon.apply (all or nothing)."""

    def __init__(self, daemon: ProxyDaemon) -> None:
        self.d = daemon
        self.registry = make_registry(daemon.counters, (daemon.datapath.variant, daemon.datapath.variant_detail))

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/v1/health", self.health),
            ("GET", r"/v1/sids", self.list_sids),
            ("GET", r"/v1/sids/([^/]+)", self.get_sid),
            ("PUT", r"/v1/sids/([^/]+)", self.put_sid),
            ("DELETE", r"/v1/sids/([^/]+)", self.delete_sid),
            ("GET", r"/v1/srv6/sids", self.list_srv6),
            ("GET", r"/v1/srv6/sids/([^/]+)", self.get_srv6),
            ("PUT", r"/v1/srv6/sids/([^/]+)", self.put_srv6),
            ("DELETE", r"/v1/srv6/sids/([^/]+)", self.delete_srv6),
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

    def _apply(self, sids: dict[int, SidEntry], atts: dict[str, Attachment],
               srv6: dict[str, Srv6SidEntry] | None = None) -> None:
        try:
            if srv6 is None:  # labels and attachments only: the SRv6 SIDs stay as they are
                self.d.apply(sids, atts)
            else:
                self.d.apply(sids, atts, srv6)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        except OSError as exc:  # the state file could not be written: nothing was installed
            raise ApiError(500, f"state_file: cannot persist the change ({exc.strerror or exc}); not applied") from exc

    # ---- SIDs ----------------------------------------------------------------------------------------

    def health(self, body: bytes) -> tuple[int, Any]:
        alive = self.d.datapath_alive()
        return (200 if alive else 503), {
            "status": "ok" if alive else "data path stopped (see the proxy log)", "sids": len(self.d.sids),
            "srv6_sids": len(self.d.srv6),
            "attachments": {v: self.d.attachment_view(v)["ready"] for v in sorted(self.d.atts)},
            "sr_loop": self.d.datapath.variant, "sr_loop_detail": self.d.datapath.variant_detail,
            **({"workers": self.d.workers.status()} if self.d.workers.workers else {})}

    def list_sids(self, body: bytes) -> tuple[int, Any]:
        return 200, {"sids": [s.model_dump(exclude_none=True) for _, s in sorted(self.d.sids.items())]}

    def get_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        entry = self.d.sids.get(_path_sid(sid))
        if entry is None:
            raise ApiError(404, f"sids[{sid}]: no such SID")
        return 200, entry.model_dump(exclude_none=True)

    @staticmethod
    def _parse_sid(raw: Any, where: str) -> SidEntry:
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}: must be a JSON object")
        try:
            return SidEntry.model_validate(raw, strict=True)
        except ValidationError as exc:
            raise ApiError(400, describe_error(exc, where)) from exc

    def put_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        label = _path_sid(sid)
        raw = _json(body)
        if isinstance(raw, dict):
            raw.setdefault("sid", label)
            if type(raw["sid"]) is not int or raw["sid"] != label:
                raise ApiError(400, f"sids[{sid}].sid: body says {raw['sid']!r}, path says {sid}")
        entry = self._parse_sid(raw, f"sids[{sid}]")
        with_new = dict(self.d.sids)
        with_new[entry.sid] = entry
        self._apply(with_new, self.d.atts)
        return 200, entry.model_dump(exclude_none=True)

    def delete_sid(self, sid: str, body: bytes) -> tuple[int, Any]:
        label = _path_sid(sid)
        if label not in self.d.sids:
            raise ApiError(404, f"sids[{sid}]: no such SID")
        rest = {k: v for k, v in self.d.sids.items() if k != label}
        self._apply(rest, self.d.atts)
        return 200, {"deleted": label}

    def batch(self, body: bytes) -> tuple[int, Any]:
        raw = _json(body)
        if not isinstance(raw, dict) or set(raw) - {"put", "delete", "srv6_put", "srv6_delete"}:
            raise ApiError(400, 'body: expected {"put": [entries], "delete": [sids], '
                                '"srv6_put": [SRv6 entries], "srv6_delete": [SRv6 SIDs]}')
        puts, deletes = raw.get("put", []), raw.get("delete", [])
        puts6, deletes6 = raw.get("srv6_put", []), raw.get("srv6_delete", [])
        if not all(isinstance(x, list) for x in (puts, deletes, puts6, deletes6)):
            raise ApiError(400, "body: put, delete, srv6_put and srv6_delete must be lists")
        sids = dict(self.d.sids)
        for i, sid in enumerate(deletes):
            if type(sid) is not int or sid not in sids:  # not isinstance: JSON true is no SID
                raise ApiError(400, f"delete[{i}]: no such SID {sid!r}")
            del sids[sid]
        seen: set[int] = set()
        for i, raw_entry in enumerate(puts):
            entry = self._parse_sid(raw_entry, f"put[{i}]")
            if entry.sid in seen:
                raise ApiError(400, f"put[{i}].sid: {entry.sid} appears twice in the batch")
            seen.add(entry.sid)
            sids[entry.sid] = entry
        srv6 = dict(self.d.srv6) if puts6 or deletes6 else None
        for i, raw_sid in enumerate(deletes6):
            assert srv6 is not None
            sid6 = _path_srv6(raw_sid, f"srv6_delete[{i}]") if isinstance(raw_sid, str) else None
            if sid6 is None or sid6 not in srv6:
                raise ApiError(400, f"srv6_delete[{i}]: no such SID {raw_sid!r}")
            del srv6[sid6]
        seen6: set[str] = set()
        for i, raw_entry in enumerate(puts6):
            entry6 = self._parse_srv6(raw_entry, f"srv6_put[{i}]")
            if entry6.sid in seen6:
                raise ApiError(400, f"srv6_put[{i}].sid: {entry6.sid} appears twice in the batch")
            seen6.add(entry6.sid)
            assert srv6 is not None
            srv6[entry6.sid] = entry6
        self._apply(sids, self.d.atts, srv6)
        answer: dict[str, Any] = {"put": sorted(seen), "delete": deletes, "sids": len(sids)}
        if srv6 is not None:
            answer.update({"srv6_put": sorted(seen6), "srv6_delete": deletes6, "srv6_sids": len(srv6)})
        return 200, answer

    # ---- SRv6 SIDs (the same shape as the labels', keyed by the SID's compressed IPv6 form) -------------

    def list_srv6(self, body: bytes) -> tuple[int, Any]:
        return 200, {"srv6_sids": [s.model_dump(exclude_none=True) for _, s in sorted(self.d.srv6.items())]}

    def get_srv6(self, sid: str, body: bytes) -> tuple[int, Any]:
        entry = self.d.srv6.get(_path_srv6(sid))
        if entry is None:
            raise ApiError(404, f"srv6_sids[{sid}]: no such SID")
        return 200, entry.model_dump(exclude_none=True)

    @staticmethod
    def _parse_srv6(raw: Any, where: str) -> Srv6SidEntry:
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}: must be a JSON object")
        try:
            return Srv6SidEntry.model_validate(raw, strict=True)
        except ValidationError as exc:
            raise ApiError(400, describe_error(exc, where)) from exc

    def put_srv6(self, sid: str, body: bytes) -> tuple[int, Any]:
        key = _path_srv6(sid)
        raw = _json(body)
        if isinstance(raw, dict):
            raw.setdefault("sid", key)
            same = isinstance(raw["sid"], str) and _path_srv6(raw["sid"], f"srv6_sids[{sid}].sid") == key
            if not same:
                raise ApiError(400, f"srv6_sids[{sid}].sid: body says {raw['sid']!r}, path says {sid}")
        entry = self._parse_srv6(raw, f"srv6_sids[{sid}]")
        srv6 = dict(self.d.srv6)
        srv6[entry.sid] = entry
        self._apply(self.d.sids, self.d.atts, srv6)
        return 200, entry.model_dump(exclude_none=True)

    def delete_srv6(self, sid: str, body: bytes) -> tuple[int, Any]:
        key = _path_srv6(sid)
        if key not in self.d.srv6:
            raise ApiError(404, f"srv6_sids[{sid}]: no such SID")
        self._apply(self.d.sids, self.d.atts, {k: v for k, v in self.d.srv6.items() if k != key})
        return 200, {"deleted": key}

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
            att = Attachment.model_validate(raw, strict=True)
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


def make_server(daemon: ProxyDaemon, listen: str, token: bytes, limits: Limits | None = None) -> ControlServer:
    """The control server bound to `listen` (unix:/path, created owner-only, or a loopback host:port)."""
    sock: socket.socket
    if listen.startswith("unix:"):
        path = listen[5:]
        if os.path.exists(path):
            os.unlink(path)  # stale socket from a previous run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
    else:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError:
            sock.close()
            raise
    api = Api(daemon)
    return ControlServer(sock, token, lambda method, path, body: respond(api, method, path, body), limits)
