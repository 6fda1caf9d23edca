"""Charm logic of the VNF micro-services (formatter, classifier, aggregator, mitigation): their day-1/2
settings are keys of the service's YAML config (docs/vnfs.md), changed as a transaction:

  read the config -> change the keys -> validate with the service's own config model (a refusal names
  the field and writes nothing) -> write atomically, keeping the previous file -> restart the service
  -> wait for its health endpoint; when it does not come back, put the previous file back and restart.

Every step goes through a `Transport`: on the VM itself (native charm, tests) or over SSH to
`ssh-hostname` (the proxy charm OSM runs in its Juju model), see `srchain.remote`.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from srchain.charms import ActionError
from srchain.remote import LocalTransport, Transport

if TYPE_CHECKING:
    from srchain_vnfs.service import ServiceConfig


@dataclass(frozen=True)
class VnfSettings:
    service: str  # formatter | classifier | aggregator | mitigation
    config_path: Path
    restart_command: str
    transport: Transport = field(default_factory=LocalTransport)
    health_token: str | None = field(default=None, repr=False)
    health_timeout: float = 20.0


def _config_class(service: str) -> type[ServiceConfig]:
    from srchain_vnfs.aggregator import AggregatorConfig
    from srchain_vnfs.classifier import ClassifierConfig
    from srchain_vnfs.formatter import FormatterConfig
    from srchain_vnfs.mitigation import MitigationConfig

    classes: dict[str, type[ServiceConfig]] = {"formatter": FormatterConfig, "classifier": ClassifierConfig,
                                               "aggregator": AggregatorConfig, "mitigation": MitigationConfig}
    return classes[service]


def read_config(s: VnfSettings) -> dict[str, Any]:
    text = s.transport.read_file(str(s.config_path))
    if text is None:
        raise ActionError(f"{s.config_path}: cannot read: No such file or directory ({s.transport.where})")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ActionError(f"{s.config_path}: not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ActionError(f"{s.config_path}: not a mapping")
    return doc


def _validate(s: VnfSettings, doc: dict[str, Any]) -> ServiceConfig:
    from pydantic import ValidationError

    try:
        return _config_class(s.service).model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ActionError(f"{s.config_path}: {problems}; nothing was changed") from None


def health(s: VnfSettings, cfg: ServiceConfig | None = None) -> dict[str, Any]:
    return _get(s, "/healthz", cfg)


def _get(s: VnfSettings, path: str, cfg: ServiceConfig | None = None) -> dict[str, Any]:
    """GET `path` of the service's health/control endpoint (its config's `http`), as JSON."""
    cfg = cfg or _validate(s, read_config(s))
    if not cfg.http.port:
        raise ActionError(f"{s.config_path}: http.port is 0 (ephemeral): set a fixed port so the health "
                          "endpoint can be checked")
    host = cfg.http.host if cfg.http.host not in ("0.0.0.0", "::") else "127.0.0.1"
    address = f"{host}:{cfg.http.port}"
    try:
        status, reason, doc = s.transport.http(address, "GET", path, token=s.health_token, timeout=3)
    except ActionError as exc:
        raise ActionError(f"{s.service}: health endpoint http://{address}{path} not answering: {exc}") from None
    if status == 404 and path != "/healthz":
        raise ActionError(f"{s.service}: http://{address}{path} is not served (a service older than this charm? "
                          "docs/vnfs.md)")
    if status != 200 or not isinstance(doc, dict):
        raise ActionError(f"{s.service}: health endpoint http://{address}{path} answered {status} {reason}")
    return dict(doc)


def restart(s: VnfSettings, cfg: ServiceConfig | None = None) -> dict[str, Any]:
    """Run the restart command, then wait (bounded) for a fresh health answer."""
    done = s.transport.run(s.restart_command, timeout=60)
    if done.code != 0:
        raise ActionError(f"restart-command exited {done.code}: {done.err.strip()[-300:]}")
    deadline = time.monotonic() + s.health_timeout
    while True:
        try:
            return health(s, cfg)
        except ActionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def change(s: VnfSettings, values: dict[str, Any]) -> dict[str, Any]:
    """Set config keys, restart, check health; on a failed restart the previous config is restored."""
    before_text = s.transport.read_file(str(s.config_path))
    doc = read_config(s)
    doc.update(values)
    cfg = _validate(s, doc)
    s.transport.write_file(str(s.config_path), yaml.safe_dump(doc, sort_keys=False))
    try:
        h = restart(s, cfg)
    except ActionError as exc:
        undo = "there was no previous config to put back"
        if before_text is not None:
            s.transport.write_file(str(s.config_path), before_text)
            try:
                restart(s)
                undo = "the previous config is back and running"
            except ActionError as again:
                undo = f"the previous config is back but the service did not restart: {again}"
        raise ActionError(f"{exc}; {undo}") from None
    return {"service": s.service, "set": values, "status": h.get("status")}


def show_counters(s: VnfSettings) -> dict[str, Any]:
    h = health(s)
    return {"service": h.get("service"), "name": h.get("name"), "status": h.get("status"),
            "uptime_s": h.get("uptime_s"), "counters": h.get("counters", {})}


def _network(prefix: str) -> str:
    try:
        return str(ipaddress.IPv4Network(prefix, strict=False))
    except ValueError as exc:
        raise ActionError(f"prefix: '{prefix}' is not an IPv4 prefix ({exc}); nothing was changed") from None


def allow_source(s: VnfSettings, prefix: str) -> dict[str, Any]:
    net = _network(prefix)
    allow = [str(n) for n in read_config(s).get("allow", [])]
    if net in allow:
        return {"service": s.service, "allow": allow, "changed": False}
    return {**change(s, {"allow": [*allow, net]}), "changed": True}


def disallow_source(s: VnfSettings, prefix: str) -> dict[str, Any]:
    net = _network(prefix)
    allow = [str(n) for n in read_config(s).get("allow", [])]
    if net not in allow:
        raise ActionError(f"prefix: {net} is not allow-listed (allow: {', '.join(allow) or 'none'}); "
                          "nothing was changed")
    return change(s, {"allow": [n for n in allow if n != net]})


# action name -> (service, params) -> result; the parameters are the VNFDs' primitives (docs/osm.md)
ACTIONS: dict[str, dict[str, Any]] = {
    "formatter": {
        "set-window": lambda s, p: change(s, {"depth": int(p["window-reports"])}),
    },
    "classifier": {
        # "default" (the VNFD's day-1 value): the model shipped with the service (config `model: null`)
        "load-model": lambda s, p: change(s, {"model": None if str(p["model"]) == "default" else str(p["model"])}),
    },
    "aggregator": {
        "set-hysteresis": lambda s, p: change(s, {"agree": int(p["agree-windows"]),
                                                  **({"idle_timeout_s": float(p["quiet-timeout-s"])}
                                                     if p.get("quiet-timeout-s") is not None else {})}),
        "show-decisions": lambda s, p: _get(s, "/decisions"),
    },
    "mitigation": {
        "set-thresholds": lambda s, p: change(s, {"max_pps": float(p["rate-pps"]), "max_fan_in": int(p["fan-in"])}),
        "allow-source": lambda s, p: allow_source(s, str(p["prefix"])),
        "disallow-source": lambda s, p: disallow_source(s, str(p["prefix"])),
        "show-blocked": lambda s, p: _get(s, "/blocked"),
    },
}
COMMON: dict[str, Any] = {
    "show-counters": lambda s, p: show_counters(s),
    "restart-service": lambda s, p: {"service": s.service, "status": restart(s).get("status")},
}


def actions_for(service: str) -> dict[str, Any]:
    return {**ACTIONS[service], **COMMON}
