"""srchain-controller charm logic: the NS-level charm that computes and applies the chain.

Day 1 (`config` with `inventory` + `chain-spec`, from `additionalParamsForNs`) plans the chain and
applies it to every switch and proxy with `srchain.apply` (make-before-break); day 2 changes the running
spec (`reconfigure-chain`, `add-segment`, `remove-segment`) the same way, or shows it (`show-chain`).

State directory (charm config `state-dir`):
  inventory.yaml       the inventory as configured, token_file fields pointing at tokens/ (0600), and
                       ssh.key_file of SSH-reached proxies at tokens/ssh.key (0600) when the secret has one
  spec.yaml            the spec that is applied now (replaced only after a successful apply)
  pending/<action>.yaml  a candidate spec; error messages name this file, line and field
  sids.sqlite, applied/<chain>.json   the SID store and applied state (as `srchain chain apply`)
  config.json          digests of the configured spec and inventory last acted on
A refused or failed change leaves spec.yaml and the targets as they were. The lifecycle itself is
`srchain.chains.ChainService`, as for the CLI; its errors (SrchainError) become the action's failure
in one place, `_failure`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srchain.apply import AppliedStore, ApplyError, Options
from srchain.apply.factory import driver_factory
from srchain.chains import ChainService
from srchain.charms import ActionError
from srchain.charms.proxy_login import Logins
from srchain.errors import SrchainError
from srchain.hostkeys import host_key_fields
from srchain.remote import LocalTransport

SSH_KEY = "ssh-private-key"  # key of the target-tokens secret: logs in to proxies reached over SSH


@dataclass(frozen=True)
class ControllerSettings:
    state_dir: Path
    inventory: str  # YAML text
    # "proxy-<name>" / "switch-<name>" -> token; "ssh-private-key" -> key for proxies with an `ssh` block
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    drain_timeout: float = 30.0
    proxy_host_keys: str = ""  # YAML {proxy name: pinned host key}: the NS config, from srchain osm ns-create
    logins: Logins | None = None  # the controller's own proxy login key and the proxy charms' grants (relation)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically: a half-written spec or token is never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    LocalTransport().write_file(str(path), text, mode)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def _failure(suffix: str = "") -> Iterator[None]:
    """The one place a library error becomes the action's failure: its lines joined with '; ', then
    `suffix` (what stays in place) unless the targets may have changed (an incomplete rollback says so
    itself). ActionErrors are already phrased for the action: as they are."""
    try:
        yield
    except ActionError:
        raise
    except SrchainError as exc:
        changed = isinstance(exc, ApplyError) and not exc.unchanged
        raise ActionError("; ".join(exc.lines()) + ("" if changed else suffix)) from None


def write_inventory(s: ControllerSettings) -> Path:
    """The configured inventory, with each target whose token is in the secret pointed at a 0600 file."""
    try:
        doc = yaml.safe_load(s.inventory)
    except yaml.YAMLError as exc:
        raise ActionError(f"inventory: not YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ActionError("inventory: must be a YAML mapping (switches, hosts, proxies, vnfs)")
    tokens = s.state_dir / "tokens"
    pins = _host_keys(s.proxy_host_keys, doc)
    for kind, key in (("switch", "switches"), ("proxy", "proxies")):
        for target in doc.get(key) or []:
            if isinstance(target, dict) and f"{kind}-{target.get('name')}" in s.tokens:
                path = tokens / f"{kind}-{target['name']}.token"
                _write(path, s.tokens[f"{kind}-{target['name']}"], 0o600)
                target["token_file"] = str(path)
    if s.tokens.get(SSH_KEY):
        key_file = tokens / "ssh.key"
        _write(key_file, s.tokens[SSH_KEY].strip() + "\n", 0o600)
        for target in doc.get("proxies") or []:
            ssh = target.get("ssh") if isinstance(target, dict) else None
            if isinstance(ssh, dict) and not ssh.get("key_file"):
                ssh["key_file"] = str(key_file)
    for target in doc.get("proxies") or []:
        if isinstance(target, dict) and isinstance(target.get("ssh"), dict) and target.get("name") in pins:
            target["ssh"]["host_key"] = pins[target["name"]]
    if s.logins is not None:
        for target in doc.get("proxies") or []:
            if isinstance(target, dict) and isinstance(target.get("ssh"), dict) and not target["ssh"].get("key_file"):
                _use_grant(str(target.get("name")), target["ssh"], s.logins)
    path = s.state_dir / "inventory.yaml"
    _write(path, yaml.safe_dump(doc, sort_keys=False))
    return path


def _use_grant(name: str, ssh: dict[str, Any], logins: Logins) -> None:
    """Log in to proxy `name` with the controller's own key, which its sr-proxy charm authorized on the VM (relation
    proxy-login); the VM's host key from that charm when the NS config pins none. Refused (ActionError) when no
    related proxy charm has authorized it for this proxy's `user@host:port`, or when the two host keys differ."""
    host, user = str(ssh.get("host")), str(ssh.get("user") or "srchain")
    try:
        port = int(ssh.get("port") or 22)
    except (TypeError, ValueError):
        return  # the inventory's own validation names this field
    grant = logins.for_proxy(host, port, user)
    if grant is None:
        why = "; ".join(logins.pending) or "no sr-proxy charm is related on proxy-login"
        raise ActionError(f"proxy {name}: no SSH login to {user}@{host}:{port} yet (the controller's key is "
                          f"authorized on the VM by the proxy's sr-proxy charm over the relation proxy-login: {why}); "
                          "nothing was applied")
    pinned = str(ssh.get("host_key") or "").strip()
    if pinned and _key_set(pinned) != _key_set(grant.host_key):
        raise ActionError(f"proxy {name}: proxy-host-keys and {grant.application}'s ssh-host-key pin different host "
                          f"keys for {host}; refused, nothing was applied")
    ssh["host_key"] = pinned or grant.host_key
    ssh["key_file"] = str(logins.key_file)


def _key_set(text: str) -> set[tuple[str, str]]:
    try:
        return {(kind, b64) for _, kind, b64 in host_key_fields(text)}
    except ValueError as exc:
        raise ActionError(f"host key: {exc}") from None


def _host_keys(text: str, doc: dict[str, Any]) -> dict[str, str]:
    """`proxy-host-keys`: {proxy: key}; a name that is not an SSH-reached proxy of the inventory is refused."""
    if not text.strip():
        return {}
    try:
        pins = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ActionError(f"proxy-host-keys: not YAML ({exc})") from None
    if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
        raise ActionError("proxy-host-keys: must be a mapping proxy name -> host key ('TYPE BASE64')")
    ssh = {p.get("name") for p in doc.get("proxies") or [] if isinstance(p, dict) and isinstance(p.get("ssh"), dict)}
    unknown = sorted(str(n) for n in pins if n not in ssh)
    if unknown:
        raise ActionError(f"proxy-host-keys: {', '.join(unknown)}: not a proxy with 'ssh' in the inventory "
                          f"(those are: {', '.join(sorted(map(str, ssh))) or 'none'})")
    return {str(k): v for k, v in pins.items()}


def current_spec(s: ControllerSettings) -> dict[str, Any] | None:
    p = s.state_dir / "spec.yaml"
    return yaml.safe_load(p.read_text()) if p.exists() else None


def apply_spec(s: ControllerSettings, spec_text: str, label: str) -> dict[str, Any]:
    """Validate, plan and apply `spec_text`; it becomes spec.yaml only when every target took it."""
    inv = write_inventory(s)
    candidate = s.state_dir / "pending" / f"{label}.yaml"
    _write(candidate, spec_text)
    running = current_spec(s)
    keep = f"chain {running.get('chain')} stays as it was" if running else "nothing was applied"
    interval = min(0.5, max(s.drain_timeout / 4, 0.01))
    with _failure(f"; {keep}"):
        service = ChainService(inv, s.state_dir, options=Options(drain_timeout=s.drain_timeout,
                                                                 drain_interval=interval))
        model = service.load(candidate)
        if running and running.get("chain") != model.spec.chain:
            raise ActionError(f"{candidate}: chain: '{model.spec.chain}' is not the running chain "
                              f"'{running.get('chain')}' (this NS runs one chain); {keep}")
        done = service.apply(model)
    plan, result = done.plan, done.result
    os.replace(candidate, s.state_dir / "spec.yaml")
    counts = {k: sum(1 for op in result.ops if op.op == k) for k in ("add", "modify", "delete")}
    return {"chain": done.chain, "version": plan.version, **counts, "batches": result.batches,
            "drained": result.drained, "released_sids": done.released, "notes": result.notes,
            "sids": {sid.instance: sid.sid for sid in plan.sids}}


def osm_applications(ns_config_info: str) -> dict[str, str]:
    """The Juju application of each VNF (or VDU replica) of the NS, from the `ns_config_info` config OSM gives the
    NS charm: LCM adds it to the NS-level `config` primitive (LCM ns.py `NsLcm._map_primitive_params`, built by
    `_get_ns_config_info` and JSON-encoded in `instantiate_N2VC`'s day-1 loop) and N2VC applies `config` as
    application config (`N2VCJujuConnector.exec_primitive` -> `Libjuju.configure_application`). Its form:
    `{"osm-config-mapping": {"<member-vnf-index>": app, "<member>.<vdu-id>.<replica>": app}}`. Empty (the
    default; not under OSM): {}."""
    if not ns_config_info.strip():
        return {}
    try:
        doc = json.loads(ns_config_info)
    except ValueError as exc:
        raise ActionError(f"ns_config_info: not JSON ({exc}); OSM's LCM writes "
                          '{"osm-config-mapping": {...}}') from None
    mapping = doc.get("osm-config-mapping") if isinstance(doc, dict) else None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in mapping.items()):
        raise ActionError('ns_config_info: must be {"osm-config-mapping": {"<member>": "<application>", ...}}, '
                          "as OSM's LCM writes it")
    return dict(sorted(mapping.items()))


def on_config(s: ControllerSettings, chain_spec: str) -> str:
    """Day 1 and every config change: apply the configured spec when it changed since last time; else
    re-apply the running spec when the inventory changed; else nothing. Returns a status line."""
    if not chain_spec.strip():
        raise ActionError("chain-spec not set")
    seen_path = s.state_dir / "config.json"
    seen = json.loads(seen_path.read_text()) if seen_path.exists() else {}
    now = {"spec": _digest(chain_spec), "inventory": _digest(s.inventory)}
    running = s.state_dir / "spec.yaml"
    if now["spec"] != seen.get("spec"):
        r = apply_spec(s, chain_spec, "config")
    elif now["inventory"] != seen.get("inventory") and running.exists():
        r = apply_spec(s, running.read_text(), "config-inventory")
    else:
        spec = current_spec(s) or {}
        applied = AppliedStore(s.state_dir).load(str(spec.get("chain"))) if spec.get("chain") else None
        return f"chain {spec.get('chain')} v{applied['version'] if applied else '?'} running"
    _write(seen_path, json.dumps(now))
    return f"chain {r['chain']} v{r['version']} applied ({len(r['sids'])} SIDs)"


def _running(s: ControllerSettings) -> dict[str, Any]:
    spec = current_spec(s)
    if spec is None:
        raise ActionError("no chain is running yet (day-1 config with inventory and chain-spec first)")
    return spec


def reconfigure_chain(s: ControllerSettings, spec: str) -> dict[str, Any]:
    return apply_spec(s, spec, "reconfigure-chain")


FIRST = "-"  # add-segment's `after` default-value in the NSD (not a segment name): OSM passes it when not given


def add_segment(s: ControllerSettings, segment: str, after: str | None) -> dict[str, Any]:
    """Insert one segment (YAML, as in the chain spec) after segment `after` (None, '' or '-': first)."""
    if after == FIRST:
        after = None
    spec = _running(s)
    try:
        seg = yaml.safe_load(segment)
    except yaml.YAMLError as exc:
        raise ActionError(f"segment: not YAML ({exc}); nothing was changed") from None
    if not isinstance(seg, dict) or not isinstance(seg.get("name"), str):
        raise ActionError("segment: must be a YAML mapping with a 'name' (a chain spec segment); nothing was changed")
    names = [x.get("name") for x in spec.get("segments", [])]
    if seg["name"] in names:
        raise ActionError(f"segment: name '{seg['name']}' is already in the chain; nothing was changed")
    if after and after not in names:
        raise ActionError(f"after: no segment '{after}' in the chain (segments: {', '.join(names)}); "
                          "nothing was changed")
    at = names.index(after) + 1 if after else 0
    spec["segments"] = [*spec["segments"][:at], seg, *spec["segments"][at:]]
    return apply_spec(s, yaml.safe_dump(spec, sort_keys=False), "add-segment")


def remove_segment(s: ControllerSettings, name: str) -> dict[str, Any]:
    spec = _running(s)
    names = [x.get("name") for x in spec.get("segments", [])]
    if name not in names:
        raise ActionError(f"name: no segment '{name}' in the chain (segments: {', '.join(names)}); "
                          "nothing was changed")
    spec["segments"] = [x for x in spec["segments"] if x.get("name") != name]
    return apply_spec(s, yaml.safe_dump(spec, sort_keys=False), "remove-segment")


def show_chain(s: ControllerSettings) -> dict[str, Any]:
    """The running spec's segments with their SIDs, the version, and live vs applied per target."""
    spec = _running(s)
    chain = str(spec.get("chain"))
    store = AppliedStore(s.state_dir)
    applied = store.load(chain) or {}
    sids: dict[str, list[int]] = {}
    for sid in applied.get("sids", []):
        sids.setdefault(sid["segment"], []).append(sid["sid"])
    inv = write_inventory(s)
    with _failure():
        status = ChainService(inv, s.state_dir, connect=functools.partial(driver_factory, attempts=1)).status(chain)
    targets = {t: ("in sync" if "error" not in r and r["ok"] == r["intended"] else r.get("error") or
                   f"drift: {len(r['missing'])} missing, {len(r['differs'])} differ") for t, r in status.items()}
    return {"chain": chain, "version": applied.get("version"),
            "segments": [{"name": x.get("name"), "sids": sorted(sids.get(x.get("name"), []))}
                         for x in spec.get("segments", [])],
            "stacks": applied.get("stacks", []), "targets": targets}
