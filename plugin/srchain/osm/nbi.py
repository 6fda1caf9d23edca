"""Talking to OSM: onboard packages, register PDUs, create NSs, run day-2 actions, poll operations.

Two ways, same operations: the `osm` CLI (osmclient) when it is installed, else OSM's NBI REST API
directly (`http.client`; token, package upload with `Content-File-MD5`, `ns_instances_content`,
`.../action`, `ns_lcm_op_occs`). `osm_commands()` gives the equivalent `osm` command lines (`--dry-run`).
Credentials come from the environment (OSM_HOSTNAME, OSM_USER, OSM_PASSWORD, OSM_PROJECT, as osmclient
reads them) or a YAML file; the password and the token never appear in messages or logs.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shlex
import ssl
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srchain.errors import SrchainError
from srchain.osm.package import check_layout

DEFAULT_PORT = 9999  # OSM's NBI
FINAL_STATES = {"COMPLETED", "FAILED", "PARTIALLY_COMPLETED", "FAILED_TEMP"}


class NbiError(SrchainError):
    """OSM refused a request or could not be reached; the message names the call and OSM's reason."""


@dataclass(frozen=True)
class Credentials:
    url: str  # https://host:9999 (or http:// for the local stand-in)
    user: str
    password: str = field(repr=False)
    project: str = "admin"
    ca_file: str | None = None
    insecure: bool = False  # skip TLS verification (OSM's NBI often has a self-signed certificate)

    @staticmethod
    def base_url(hostname: str) -> str:
        if "://" in hostname:
            return hostname.rstrip("/")
        host = hostname if ":" in hostname.strip("[]").split("]")[-1] else f"{hostname}:{DEFAULT_PORT}"
        return f"https://{host}"

    @classmethod
    def load(cls, file: Path | None = None, env: dict[str, str] | None = None) -> Credentials:
        """From `file` (YAML: hostname, user, password or password_file, project, ca_file, insecure),
        else from OSM_HOSTNAME / OSM_USER / OSM_PASSWORD / OSM_PROJECT."""
        env = dict(os.environ if env is None else env)
        data: dict[str, Any] = {}
        if file is not None:
            try:
                data = yaml.safe_load(file.read_text()) or {}
            except (OSError, yaml.YAMLError) as e:
                raise NbiError(f"{file}: cannot read the credentials: {e}") from None
            if not isinstance(data, dict):
                raise NbiError(f"{file}: credentials must be a mapping (hostname, user, password, project)")
            if "password_file" in data:
                data["password"] = Path(str(data["password_file"])).read_text().strip()
        hostname = str(data.get("hostname") or env.get("OSM_HOSTNAME") or "")
        password = str(data.get("password") or env.get("OSM_PASSWORD") or "")
        where = str(file) if file else "the environment"
        if not hostname:
            raise NbiError(f"no OSM hostname: set OSM_HOSTNAME or 'hostname' in the credentials file ({where})")
        if not password:
            raise NbiError(f"no OSM password: set OSM_PASSWORD or 'password' in the credentials file ({where})")
        return cls(cls.base_url(hostname), str(data.get("user") or env.get("OSM_USER") or "admin"), password,
                   str(data.get("project") or env.get("OSM_PROJECT") or "admin"),
                   data.get("ca_file"), bool(data.get("insecure", False)))


def package_kind(tar_path: Path) -> str:
    """'vnf' or 'ns' from the package's top directory (`<id>_vnf/` or `<id>_ns/`), after the layout check."""
    findings, top = check_layout(tar_path)
    if findings or top is None:
        raise NbiError(f"{tar_path}: not an OSM package: " + "; ".join(f.message for f in findings))
    if top.endswith("_ns"):
        return "ns"
    if top.endswith("_vnf"):
        return "vnf"
    raise NbiError(f"{tar_path}: top directory '{top}' is neither <id>_vnf nor <id>_ns (srchain package build)")


def onboarding_order(packages: list[Path]) -> list[Path]:
    """VNF packages before NS packages: OSM refuses an NSD whose VNFDs are not onboarded yet."""
    return sorted(packages, key=lambda p: (package_kind(p) == "ns", p.name))


# --- the equivalent osm commands (dry run, and the osmclient way) ---------------------------------
def cmd_onboard(pkg: Path) -> list[str]:
    return ["osm", "nspkg-create" if package_kind(pkg) == "ns" else "vnfpkg-create", str(pkg)]


def cmd_pdu_create(descriptor_file: Path) -> list[str]:
    return ["osm", "pdu-create", "--descriptor_file", str(descriptor_file)]


def cmd_ns_create(ns_name: str, nsd_name: str, vim_account: str, config_file: Path | None) -> list[str]:
    cmd = ["osm", "ns-create", "--ns_name", ns_name, "--nsd_name", nsd_name, "--vim_account", vim_account]
    return cmd + (["--config_file", str(config_file)] if config_file else [])


def cmd_ns_action(ns_name: str, action: str, params: dict[str, Any], vnf: str | None, wait: bool) -> list[str]:
    cmd = ["osm", "ns-action", ns_name, "--action_name", action]
    if vnf:
        cmd += ["--vnf_name", vnf]
    if params:
        cmd += ["--params", json.dumps(params, sort_keys=True)]
    return cmd + (["--wait"] if wait else [])


def cmd_ns_status(ns_name: str) -> list[list[str]]:
    return [["osm", "ns-show", ns_name], ["osm", "ns-op-list", ns_name]]


def shell(cmd: list[str]) -> str:
    return shlex.join(cmd)


def run_osm(cmd: list[str], creds: Credentials, timeout_s: float = 600) -> str:
    """Run an `osm` (osmclient) command with the credentials in its environment, not on its command line."""
    parsed = urllib.parse.urlsplit(creds.url)
    env = {**os.environ, "OSM_HOSTNAME": parsed.netloc, "OSM_USER": creds.user, "OSM_PASSWORD": creds.password,
           "OSM_PROJECT": creds.project}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NbiError(f"{shell(cmd)}: {e}") from None
    if done.returncode != 0:
        raise NbiError(f"{shell(cmd)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


# --- NBI REST ------------------------------------------------------------------------------------
class NbiClient:
    def __init__(self, creds: Credentials, timeout_s: float = 30.0) -> None:
        self.creds = creds
        self.timeout_s = timeout_s
        self._token: str | None = None
        parts = urllib.parse.urlsplit(creds.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NbiError(f"OSM NBI address '{creds.url}' is not http(s)://host[:port]")
        self._parts = parts

    def _connection(self) -> http.client.HTTPConnection:
        p = self._parts
        if p.scheme == "http":
            return http.client.HTTPConnection(p.hostname or "", p.port or 80, timeout=self.timeout_s)
        ctx = ssl.create_default_context(cafile=self.creds.ca_file)
        if self.creds.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(p.hostname or "", p.port or DEFAULT_PORT, timeout=self.timeout_s,
                                           context=ctx)

    def _request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                 headers: dict[str, str] | None = None, auth: bool = True) -> Any:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if auth:
            hdrs["Authorization"] = f"Bearer {self.token()}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, self._parts.path.rstrip("/") + path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise NbiError(f"OSM NBI {self.creds.url} unreachable ({method} {path}): {e}") from None
        finally:
            conn.close()
        try:
            answer = json.loads(payload.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            answer = payload.decode(errors="replace")
        if resp.status >= 400:
            detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
            code = answer.get("code", resp.reason) if isinstance(answer, dict) else resp.reason
            raise NbiError(f"OSM NBI {method} {path}: {resp.status} {code}: {detail}")
        return answer

    def token(self) -> str:
        if self._token is None:
            answer = self._request("POST", "/osm/admin/v1/tokens", auth=False,
                                   body={"username": self.creds.user, "password": self.creds.password,
                                         "project_id": self.creds.project})
            self._token = str(answer["id"])
        return self._token

    def onboard(self, tar_path: Path) -> str:
        kind = package_kind(tar_path)
        data = tar_path.read_bytes()
        path = "/osm/nsd/v1/ns_descriptors_content" if kind == "ns" else "/osm/vnfpkgm/v1/vnf_packages_content"
        answer = self._request("POST", path, raw=data, headers={
            "Content-Type": "application/gzip", "Content-Filename": tar_path.name,
            "Content-File-MD5": hashlib.md5(data, usedforsecurity=False).hexdigest()})
        return str(answer["id"])

    def pdu_create(self, descriptor: dict[str, Any]) -> str:
        return str(self._request("POST", "/osm/pdu/v1/pdu_descriptors", body=self.vim_ids(descriptor))["id"])

    def _vim_id(self, name: str) -> str:
        for vim in self._request("GET", "/osm/admin/v1/vim_accounts"):
            if name in (vim.get("_id"), vim.get("name")):
                return str(vim["_id"])
        raise NbiError(f"VIM account '{name}' not found in OSM")

    def _nsd_id(self, name: str) -> str:
        for nsd in self._request("GET", "/osm/nsd/v1/ns_descriptors"):
            if name in (nsd.get("_id"), nsd.get("id"), nsd.get("name")):
                return str(nsd["_id"])
        raise NbiError(f"NSD '{name}' is not onboarded (srchain osm onboard packages/<id>_ns.tar.gz)")

    def ns_id(self, name: str) -> str:
        """The NS's id from its id or name. OSM's NBI does not keep NS names unique, so a name two NS instances
        carry is refused rather than guessed."""
        instances = list(self._request("GET", "/osm/nslcm/v1/ns_instances"))
        for ns in instances:
            if ns.get("_id") == name:
                return str(ns["_id"])
        named = [str(ns["_id"]) for ns in instances if ns.get("name") == name]
        if len(named) > 1:
            raise NbiError(f"{len(named)} NS instances are named '{name}' ({', '.join(named)}): give the id")
        if named:
            return named[0]
        raise NbiError(f"NS instance '{name}' not found")

    def ns_create(self, ns_name: str, nsd_name: str, vim_account: str,
                  config: dict[str, Any] | None = None) -> tuple[str, str]:
        """Create and instantiate; returns (NS id, instantiate operation id)."""
        body = {"nsName": ns_name, "nsdId": self._nsd_id(nsd_name), "vimAccountId": self._vim_id(vim_account),
                **(config or {})}
        answer = self._request("POST", "/osm/nslcm/v1/ns_instances_content", body=body)
        return str(answer["id"]), str(answer["nslcmop_id"])

    def ns_action(self, ns_name: str, action: str, params: dict[str, Any], vnf: str | None = None) -> str:
        body: dict[str, Any] = {"primitive": action, "primitive_params": params}
        if vnf:
            body["member_vnf_index"] = vnf
        return str(self._request("POST", f"/osm/nslcm/v1/ns_instances/{self.ns_id(ns_name)}/action", body=body)["id"])

    def operation(self, op_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"))

    def wait(self, op_id: str, timeout_s: float = 600, interval_s: float = 1.0) -> dict[str, Any]:
        """Poll the operation until it ends or `timeout_s` passes (then NbiError)."""
        deadline = time.monotonic() + timeout_s
        while True:
            op = self.operation(op_id)
            if op.get("operationState") in FINAL_STATES:
                return op
            if time.monotonic() >= deadline:
                raise NbiError(f"operation {op_id} still {op.get('operationState')} after {timeout_s:g} s")
            time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))

    def ns_status(self, ns_name: str) -> dict[str, Any]:
        """The NS record plus `operations`: its ns_lcm_op_occs, oldest first (as osmclient `ns-op-list` reads them,
        `GET ns_lcm_op_occs?nsInstanceId=<id>`; a real NS record carries no operation list)."""
        ns_id = self.ns_id(ns_name)
        ns = dict(self._request("GET", f"/osm/nslcm/v1/ns_instances/{ns_id}"))
        ops = self._request("GET", "/osm/nslcm/v1/ns_lcm_op_occs?" + urllib.parse.urlencode({"nsInstanceId": ns_id}))
        ns["operations"] = sorted((dict(o) for o in ops if isinstance(o, dict)),
                                  key=lambda o: float(o.get("startTime") or 0))
        return ns

    def vim_ids(self, descriptor: dict[str, Any]) -> dict[str, Any]:
        """The PDU descriptor with `vim_accounts` as ids: OSM stores them as given and matches a PDU against the
        VIM account's id at ns-create (NBI instance_topics.py NsrTopic._look_for_pdu), so a name never matches."""
        body = dict(descriptor)
        if "vim_accounts" in body:
            body["vim_accounts"] = [self._vim_id(v) for v in body["vim_accounts"]]
        return body
