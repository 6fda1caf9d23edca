"""An SR proxy as an apply target, over its control API (docs/proxy.md): HTTP/1.1 + JSON on a unix
socket or loopback, bearer token.

A proxy on another machine (inventory `ssh`): one SSH connection per driver (= per apply), host key
pinned (paramiko RejectPolicy), and each request runs on that machine through the charm transport's
stdlib helper against the same unix socket/loopback address; the token travels on the helper's stdin
or is read on the VM (`ssh.token_file`), never in argv or a log.

Plan tables: `sid` (key sid; action static|dynamic) → `PUT/DELETE` through `POST /v1/batch` (atomic);
`srv6_sid` (key sid, an address; action end.as|end.ad|end.am) → `srv6_put`/`srv6_delete` in the same batch;
`attachment` (key vnf; action attach) → `PUT/DELETE /v1/attachments/{vnf}`, one request each.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srchain.localhttp import request_json
from srchain.model.inventory import LOOPBACK, Proxy
from srchain.plan.model import DiffOp, Entry, canonical
from srchain.plan.srv6 import PROXY_SRV6_SID as SRV6_SID
from srchain.targets.base import NKey, TargetError
from srchain_contracts import proxy_api as px

if TYPE_CHECKING:  # paramiko loads only when a proxy is reached over SSH
    from srchain.remote import HttpSession, SshTransport


@dataclass
class SshRoute:
    """How to reach a remote proxy's control address: the SSH session, and where its token lives on the
    VM when the controller does not hold it (`token_file`, read there with sudo)."""

    transport: SshTransport
    token_file: str | None = None


class ProxyApi:
    """The control API client: `call(method, path, body)` → parsed JSON, errors as TargetError."""

    def __init__(self, name: str, address: str, token: str | None, timeout: float = 5.0,
                 ssh: SshRoute | None = None) -> None:
        if ssh is None and not address.startswith("unix:"):
            host = address.rsplit(":", 1)[0].strip("[]")
            if host not in LOOPBACK:
                raise TargetError(f"proxy {name}", f"control address {address} is not a unix socket or loopback "
                                  "(a proxy on another machine: give its 'ssh' in the inventory)")
        self.name = name
        self.address = address
        self.token = token
        self.timeout = timeout
        self.ssh = ssh
        self._session: HttpSession | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, reason, doc = self._over_ssh(method, path, body) if self.ssh else self._local(method, path, body)
        if status >= 300:
            reason = doc.get("error", reason) if isinstance(doc, dict) else reason
            raise TargetError(f"proxy {self.name}", f"{method} {path}: {status} {reason}", code=str(status))
        return doc

    def _over_ssh(self, method: str, path: str, body: Any) -> tuple[int, str, Any]:
        from srchain.remote import RemoteError

        assert self.ssh is not None
        t = self.ssh.transport
        try:
            t.connect()  # refusals (host key, login key) happen here, before any request left
        except RemoteError as exc:
            raise TargetError(f"proxy {self.name}", str(exc), code="UNAVAILABLE") from None
        if self._session is None:  # one helper on the VM for this driver's requests (remote.HttpSession)
            self._session = t.http_session(self.address, token=self.token,
                                           token_file=None if self.token else self.ssh.token_file, timeout=self.timeout)
        try:
            return self._session.call(method, path, body, self.timeout)
        except RemoteError as exc:
            msg = str(exc) if str(exc).startswith(f"{method} {path}") else f"{method} {path}: {exc}"
            raise TargetError(f"proxy {self.name}", msg, code="UNAVAILABLE", landed_unknown=method != "GET") from None

    def _local(self, method: str, path: str, body: Any) -> tuple[int, str, Any]:
        try:
            return request_json(self.address, method, path, body, self.token, self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise TargetError(f"proxy {self.name}", f"{method} {path}: unreachable at {self.address}: {exc}",
                              code="UNAVAILABLE", landed_unknown=method != "GET") from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.ssh is not None:
            self.ssh.transport.close()


def _plain(v: Any) -> Any:
    """JSON numbers as the proxy returns them: 300.0 and 300 are the same setting."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def sid_content(behaviour: str, fields: dict[str, Any]) -> str:
    """What a SID entry does, with the proxy's defaults filled in: a plan entry and the proxy's answer for
    the same SID compare equal whether or not a default was spelled out."""
    out = {k: _plain(fields.get(k, default)) for k, default in px.sid_defaults(behaviour).items()}
    return canonical([behaviour, {k: v for k, v in out.items() if v is not None}])


def srv6_content(sid: str, behaviour: str, fields: dict[str, Any]) -> str:
    """What an SRv6 SID entry does, defaults filled in by the proxy's own model (as sid_content)."""
    own = {k: fields[k] for k in px.SRV6_BEHAVIOUR_FIELDS.get(behaviour, ()) if k in fields}
    try:
        entry = px.Srv6SidEntry.model_validate({"sid": sid, "behaviour": behaviour, **own})
    except ValueError as exc:  # pydantic's ValidationError is one; never on a plan's entry (built by it)
        return canonical([behaviour, {"invalid": str(exc)}])
    return canonical([behaviour, _plain(entry.params())])


def attachment_content(fields: dict[str, Any]) -> str:
    return canonical(["attach", {k: fields[k] for k in px.ATTACHMENT_FIELDS if fields.get(k) is not None}])


class ProxyDriver:
    kind = "proxy"

    def __init__(self, name: str, api: ProxyApi) -> None:
        self.name = name
        self.api = api

    @classmethod
    def from_files(cls, name: str, address: str, token_file: str | Path, timeout: float = 5.0) -> ProxyDriver:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise TargetError(f"proxy {name}", f"token_file {token_file}: {exc.strerror}") from None
        return cls(name, ProxyApi(name, address, token, timeout))

    def prepare(self, load: bool = True) -> list[str]:
        health = self.api.call("GET", "/v1/health")
        if health.get("status") != "ok":
            raise TargetError(f"proxy {self.name}", f"not healthy: {health}")
        return []

    def close(self) -> None:
        self.api.close()

    def health(self) -> dict[str, Any]:
        return self._document("/v1/health")

    def counters(self) -> dict[str, Any]:
        return self._document("/v1/counters")

    def _document(self, path: str) -> dict[str, Any]:
        doc = self.api.call("GET", path)
        if not isinstance(doc, dict):
            raise TargetError(f"proxy {self.name}", f"GET {path}: not a JSON object: {str(doc)[:200]}")
        return doc

    def norm(self, entry: Entry) -> tuple[NKey, str]:
        if entry.table == "sid":
            return ("sid", entry.key_int("sid")), sid_content(entry.action, entry.params)
        if entry.table == "attachment":
            return ("attachment", entry.key_str("vnf")), attachment_content(entry.params)
        if entry.table == SRV6_SID:
            sid = entry.key_str("sid")
            return (SRV6_SID, sid), srv6_content(sid, entry.action, entry.params)
        raise TargetError(f"proxy {self.name}", f"table {entry.table}: not a proxy table (sid, srv6_sid, attachment)")

    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        out: dict[NKey, tuple[str, int | None]] = {}
        if "sid" in tables:
            counters = self.counters().get("sids", {})
            for s in self.api.call("GET", "/v1/sids")["sids"]:
                rx = counters.get(str(s["sid"]), {}).get("rx_packets")
                out[("sid", int(s["sid"]))] = (sid_content(s["behaviour"], s), rx)
        if SRV6_SID in tables:
            counters6 = self.counters().get("srv6_sids", {})
            for s in self.api.call("GET", "/v1/srv6/sids")["srv6_sids"]:
                rx = counters6.get(s["sid"], {}).get("rx_packets")
                out[(SRV6_SID, s["sid"])] = (srv6_content(s["sid"], s["behaviour"], s), rx)
        if "attachment" in tables:
            for a in self.api.call("GET", "/v1/attachments")["attachments"]:
                out[("attachment", a["vnf"])] = (attachment_content(a), None)
        return out

    def write(self, ops: list[DiffOp]) -> None:
        """Attachments added/changed first, then every SID change in one atomic batch, then attachments
        removed. A failure names the operation's index in `ops`."""
        att_put = [(i, op) for i, op in enumerate(ops) if op.entry.table == "attachment" and op.op != "delete"]
        att_del = [(i, op) for i, op in enumerate(ops) if op.entry.table == "attachment" and op.op == "delete"]
        sids = [(i, op) for i, op in enumerate(ops) if op.entry.table in ("sid", SRV6_SID)]
        other = [i for i, op in enumerate(ops) if op.entry.table not in ("sid", SRV6_SID, "attachment")]
        if other:
            raise TargetError(f"proxy {self.name}", f"table {ops[other[0]].entry.table}: not a proxy table",
                              index=other[0])
        for i, op in att_put:
            vnf = op.entry.key["vnf"]
            self._one(i, "PUT", f"/v1/attachments/{vnf}", {"vnf": vnf, **op.entry.params})
        if sids:
            body: dict[str, list[Any]] = {"put": [], "delete": []}
            where: dict[str, int] = {}
            for i, op in sids:
                # labels under put/delete, SRv6 SIDs (addresses) under srv6_put/srv6_delete: one atomic batch
                prefix = "srv6_" if op.entry.table == SRV6_SID else ""
                sid: int | str = op.entry.key_str("sid") if prefix else op.entry.key_int("sid")
                if op.op == "delete":
                    field = body.setdefault(prefix + "delete", [])
                    where[f"{prefix}delete[{len(field)}]"] = i
                    field.append(sid)
                else:
                    field = body.setdefault(prefix + "put", [])
                    where[f"{prefix}put[{len(field)}]"] = i
                    version = op.entry.version if op.entry.version is not None else 1
                    field.append({"sid": sid, "behaviour": op.entry.action, "version": version, **op.entry.params})
            try:
                self.api.call("POST", "/v1/batch", body)
            except TargetError as exc:
                # the longest name first: put[0] is inside srv6_put[0]
                named = sorted(where.items(), key=lambda wi: -len(wi[0]))
                index = next((i for w, i in named if w in exc.message), sids[0][0] if len(sids) == 1 else None)
                raise TargetError(f"proxy {self.name}", exc.message, index, exc.code, exc.landed_unknown) from None
        for i, op in att_del:
            self._one(i, "DELETE", f"/v1/attachments/{op.entry.key['vnf']}", None)

    def _one(self, index: int, method: str, path: str, body: Any) -> None:
        try:
            self.api.call(method, path, body)
        except TargetError as exc:
            raise TargetError(f"proxy {self.name}", exc.message, index, exc.code, exc.landed_unknown) from None


def proxy_driver(name: str, px: Proxy, base_dir: str | Path, timeout: float = 10.0) -> ProxyDriver:
    """The driver for inventory proxy `px`: local control address, or over SSH when `px.ssh` is set.
    Relative paths (`token_file`, `ssh.key_file`) are relative to `base_dir` (the inventory's folder)."""

    def path(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else Path(base_dir) / p

    if px.ssh is None:
        if px.token_file is None:
            raise TargetError(f"proxy {name}", "no token_file in the inventory (the control API needs a token)")
        return ProxyDriver.from_files(name, px.control, path(px.token_file), timeout)
    from srchain.remote import SshTransport

    ssh = px.ssh
    token = None
    if px.token_file is not None:
        try:
            token = path(px.token_file).read_text().strip()
        except OSError as exc:
            raise TargetError(f"proxy {name}", f"token_file {px.token_file}: {exc.strerror}") from None
    elif ssh.token_file is None:
        raise TargetError(f"proxy {name}", "no control token: give 'token_file' (on this machine) or "
                          "'ssh.token_file' (on the proxy's machine)")
    if ssh.key_file is None:
        raise TargetError(f"proxy {name}", f"ssh.key_file not set: the private key that logs in to "
                          f"{ssh.user}@{ssh.host} (controller charm: its own key, once the proxy's sr-proxy charm "
                          "authorized it over the relation proxy-login, or key 'ssh-private-key' of target-tokens)")
    try:
        key = path(ssh.key_file).read_text()
    except OSError as exc:
        raise TargetError(f"proxy {name}", f"ssh.key_file {ssh.key_file}: {exc.strerror}") from None
    transport = SshTransport(ssh.host, ssh.user, ssh.host_key or "", key, ssh.port, ssh.sudo, timeout,
                             host_key_source=f"proxies[{name}].ssh.host_key",
                             key_refused_hint=f"is the public half of ssh.key_file {ssh.key_file} in "
                                              f"{ssh.user}'s authorized_keys there?")
    return ProxyDriver(name, ProxyApi(name, px.control, token, timeout, SshRoute(transport, ssh.token_file)))

