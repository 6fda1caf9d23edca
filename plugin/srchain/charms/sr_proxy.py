"""srchain-sr-proxy charm logic: day-1 checks and day-2 actions on the SR proxy's control API
(docs/proxy.md).

The proxy serves the API on a unix socket or loopback of its VM only. A charm on the VM (local
transport) uses the same client as the controller (`srchain.targets.proxy.ProxyApi`) with the token from
a Juju secret. A proxy charm (OSM's VCA) reaches it over SSH: an action's requests go through one small
stdlib helper on the VM (`remote.HTTP_HELPER`, an `HttpSession`: one exec for the action, not one per
request) whose requests, token included, travel on stdin; without a token
secret the helper reads the token file the VM generated at first boot (under sudo), so the token never
leaves the VM. The token is never part of a result, a status, an argv or a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from srchain.charms import ActionError
from srchain.remote import LocalTransport, SshTransport, Transport
from srchain.targets.base import TargetError
from srchain.targets.proxy import ProxyApi

NAME = "sr-proxy"


class ControlApi(Protocol):
    def call(self, method: str, path: str, body: Any = None) -> Any: ...


class TransportApi:
    """The control API through a transport (the VM over SSH); errors as the local client's TargetError. Over SSH
    the requests share one helper (`HttpSession`), opened at the first request and gone with the transport."""

    def __init__(self, transport: Transport, address: str, token: str | None, token_file: str | None,
                 timeout: float = 5.0) -> None:
        self.transport, self.address, self.timeout = transport, address, timeout
        self._token, self._token_file = token, token_file
        self._session = (transport.http_session(address, token, None if token else token_file, timeout)
                         if isinstance(transport, SshTransport) else None)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            if self._session is not None:
                status, reason, doc = self._session.call(method, path, body)
            else:
                status, reason, doc = self.transport.http(self.address, method, path, body, self._token,
                                                          None if self._token else self._token_file, self.timeout)
        except ActionError as exc:
            raise TargetError(f"proxy {NAME}", str(exc), code="UNAVAILABLE", landed_unknown=method != "GET") from None
        if status >= 300:
            why = doc.get("error", reason) if isinstance(doc, dict) else reason
            raise TargetError(f"proxy {NAME}", f"{method} {path}: {status} {why}", code=str(status))
        return doc


@dataclass(frozen=True)
class ProxySettings:
    control_address: str  # unix:/path.sock or 127.0.0.1:PORT, as seen on the proxy VM
    token: str | None = field(default=None, repr=False)
    transport: Transport = field(default_factory=LocalTransport)
    token_file: str = "/etc/srchain/proxy.token"  # on the VM; used over SSH when no token secret is set

    def api(self, timeout: float = 5.0) -> ControlApi:
        if not isinstance(self.transport, LocalTransport):
            return TransportApi(self.transport, self.control_address, self.token, self.token_file, timeout)
        if not self.token:
            raise ActionError("control-token not set (a Juju secret with key 'token')")
        try:
            return ProxyApi(NAME, self.control_address, self.token, timeout)
        except TargetError as e:
            raise ActionError(str(e)) from None


def _call(api: ControlApi, method: str, path: str, body: Any = None) -> Any:
    try:
        return api.call(method, path, body)
    except TargetError as e:
        raise ActionError(str(e)) from None


def _json(text: str, param: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as e:
        raise ActionError(f"{param}: not JSON ({e})") from None


def health(api: ControlApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/health"))


def add_sid(api: ControlApi, entry: str) -> dict[str, Any]:
    """`entry`: one SID entry as JSON (the controller's contract, docs/proxy.md)."""
    body = _json(entry, "entry")
    if not isinstance(body, dict) or not isinstance(body.get("sid"), int):
        raise ActionError("entry: must be a JSON object with an integer 'sid'")
    return dict(_call(api, "PUT", f"/v1/sids/{body['sid']}", body))


ANY_VERSION = -1  # remove-sid's `version` default-value in the VNFD: OSM passes it when the operator gives none


def remove_sid(api: ControlApi, sid: int, version: int | None = None) -> dict[str, Any]:
    """Delete SID `sid`; with `version` (not None/ANY_VERSION), only if the installed entry has that version (a
    guard against removing a newer chain version by mistake)."""
    if version is not None and version != ANY_VERSION:
        current = _call(api, "GET", f"/v1/sids/{sid}")
        if current.get("version") != version:
            raise ActionError(f"sid {sid} has version {current.get('version')}, not {version}; nothing removed")
    return dict(_call(api, "DELETE", f"/v1/sids/{sid}"))


def attach_vnf(api: ControlApi, attachments: str) -> dict[str, Any]:
    """`attachments`: a JSON list (or one object) of attachments with their `vnf`. All or nothing: when one
    is refused, the ones already installed by this call are put back as they were."""
    items = _json(attachments, "attachments")
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not all(isinstance(a, dict) and isinstance(a.get("vnf"), str) for a in items):
        raise ActionError("attachments: must be a JSON list of objects, each with a 'vnf' name")
    before = {a["vnf"]: a for a in _call(api, "GET", "/v1/attachments").get("attachments", [])}
    done: list[str] = []
    for i, att in enumerate(items):
        body = {k: v for k, v in att.items() if k != "vnf"}
        try:
            api.call("PUT", f"/v1/attachments/{att['vnf']}", body)
        except TargetError as e:
            _restore(api, done, before)
            raise ActionError(f"attachments[{i}] ({att['vnf']}): {e}; nothing changed") from None
        done.append(att["vnf"])
    return {"attached": done}


def _restore(api: ControlApi, done: list[str], before: dict[str, dict[str, Any]]) -> None:
    for vnf in reversed(done):
        old = before.get(vnf)
        if old is None:
            api.call("DELETE", f"/v1/attachments/{vnf}")
        else:
            keep = {k: v for k, v in old.items() if k not in ("vnf", "resolved_mac", "ready")}
            api.call("PUT", f"/v1/attachments/{vnf}", keep)


def detach_vnf(api: ControlApi, vnf: str) -> dict[str, Any]:
    return dict(_call(api, "DELETE", f"/v1/attachments/{vnf}") or {"detached": vnf})


def show_sids(api: ControlApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/sids"))


def show_counters(api: ControlApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/counters"))
