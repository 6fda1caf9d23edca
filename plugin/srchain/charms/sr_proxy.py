"""srchain-sr-proxy charm logic: day-1 checks and day-2 actions on the SR proxy's control API
(docs/proxy.md), through the same client the controller uses (`srchain.targets.proxy.ProxyApi`).

The proxy listens on a unix socket or loopback; the charm reaches it where it runs (a native charm on
the proxy VM, or a proxy charm given a forwarded socket). The bearer token comes from a Juju secret and
is never part of a result, a status or a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from srchain.charms import ActionError
from srchain.targets.base import TargetError
from srchain.targets.proxy import ProxyApi


@dataclass(frozen=True)
class ProxySettings:
    control_address: str  # unix:/path.sock or 127.0.0.1:PORT
    token: str

    def api(self, timeout: float = 5.0) -> ProxyApi:
        try:
            return ProxyApi("sr-proxy", self.control_address, self.token, timeout)
        except TargetError as e:
            raise ActionError(str(e)) from None


def _call(api: ProxyApi, method: str, path: str, body: Any = None) -> Any:
    try:
        return api.call(method, path, body)
    except TargetError as e:
        raise ActionError(str(e)) from None


def _json(text: str, param: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as e:
        raise ActionError(f"{param}: not JSON ({e})") from None


def health(api: ProxyApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/health"))


def add_sid(api: ProxyApi, entry: str) -> dict[str, Any]:
    """`entry`: one SID entry as JSON (the controller's contract, docs/proxy.md)."""
    body = _json(entry, "entry")
    if not isinstance(body, dict) or not isinstance(body.get("sid"), int):
        raise ActionError("entry: must be a JSON object with an integer 'sid'")
    return dict(_call(api, "PUT", f"/v1/sids/{body['sid']}", body))


def remove_sid(api: ProxyApi, sid: int, version: int | None = None) -> dict[str, Any]:
    """Delete SID `sid`; with `version`, only if the installed entry has that version (a guard against
    removing a newer chain version by mistake)."""
    if version is not None:
        current = _call(api, "GET", f"/v1/sids/{sid}")
        if current.get("version") != version:
            raise ActionError(f"sid {sid} has version {current.get('version')}, not {version}; nothing removed")
    return dict(_call(api, "DELETE", f"/v1/sids/{sid}"))


def attach_vnf(api: ProxyApi, attachments: str) -> dict[str, Any]:
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


def _restore(api: ProxyApi, done: list[str], before: dict[str, dict[str, Any]]) -> None:
    for vnf in reversed(done):
        old = before.get(vnf)
        if old is None:
            api.call("DELETE", f"/v1/attachments/{vnf}")
        else:
            keep = {k: v for k, v in old.items() if k not in ("vnf", "resolved_mac", "ready")}
            api.call("PUT", f"/v1/attachments/{vnf}", keep)


def detach_vnf(api: ProxyApi, vnf: str) -> dict[str, Any]:
    return dict(_call(api, "DELETE", f"/v1/attachments/{vnf}") or {"detached": vnf})


def show_sids(api: ProxyApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/sids"))


def show_counters(api: ProxyApi) -> dict[str, Any]:
    return dict(_call(api, "GET", "/v1/counters"))
