"""Checks of a day-1/2 configuration block (VNF `day1-2[]` or NS `ns-configuration`) against its charms.

OSM accepts these blocks as soon as they parse; a primitive naming an action the charm lacks, a
parameter the action does not take, or a charm folder missing from the package only fails at
instantiation or at `ns-action` time. Here they fail at validation time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srchain.osm.charmmeta import CharmMeta, CharmProblem, find_charm, load_charm
from srchain.osm.findings import Finding

SSH_KEY_ACTIONS = ("generate-ssh-key", "get-ssh-public-key")
# OSM parameter data-type -> the Juju action parameter types that accept its values.
_COMPATIBLE = {"STRING": {"string"}, "INTEGER": {"integer", "number"}, "BOOLEAN": {"boolean"}}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class Primitive:
    kind: str  # "config-primitive" | "initial-config-primitive" | "terminate-config-primitive"
    spec: dict[str, Any]
    path: str

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def params(self) -> list[dict[str, Any]]:
        return [p for p in as_list(self.spec.get("parameter")) if isinstance(p, dict)]


def primitives(block: dict[str, Any], path: str) -> Iterator[Primitive]:
    for kind, key in (("config-primitive", "name"), ("initial-config-primitive", "seq"),
                      ("terminate-config-primitive", "seq")):
        for spec in as_list(block.get(kind)):
            if isinstance(spec, dict):
                yield Primitive(kind, spec, f"{path}.{kind}[{spec.get(key)}]")


class CharmCache:
    """Loads each charm once per validation run."""

    def __init__(self) -> None:
        self._cache: dict[Path, CharmMeta | str] = {}

    def get(self, location: Path) -> CharmMeta | str:
        if location not in self._cache:
            try:
                self._cache[location] = load_charm(location)
            except (CharmProblem, OSError) as e:
                self._cache[location] = str(e)
        return self._cache[location]


def check_block(file: str, block: dict[str, Any], path: str, charm_roots: list[Path],
                ext_cpds: set[str] | None, charms: CharmCache) -> list[Finding]:
    """One day1-2 entry or ns-configuration: environments, refs, primitives vs charm actions."""
    out: list[Finding] = []
    environments: dict[str, str | None] = {}  # ee id -> juju charm name (None: helm or no charm)
    for ee in as_list(block.get("execution-environment-list")):
        ee_path = f"{path}.execution-environment-list[{ee.get('id')}]"
        juju = ee.get("juju") or {}
        environments[str(ee.get("id"))] = juju.get("charm")
        if "juju" in ee and not juju.get("charm"):
            out.append(Finding(file, ee_path, "day1-2.ee", "juju execution environment without a charm name"))
        ref = ee.get("external-connection-point-ref")
        if ext_cpds is not None and ref is not None and ref not in ext_cpds:
            out.append(Finding(file, f"{ee_path}.external-connection-point-ref", "day1-2.ee",
                               f"'{ref}' is not an ext-cpd of this VNFD (known: {_names(ext_cpds)})"))
    if isinstance(block.get("juju"), dict):  # old single-charm form: one anonymous environment
        environments[""] = block["juju"].get("charm")

    loaded: dict[str, CharmMeta | None] = {}
    for ee_id, charm in environments.items():
        if charm is None:
            loaded[ee_id] = None
            continue
        location = find_charm(charm, charm_roots)
        if location is None:
            roots = ", ".join(str(r) for r in charm_roots) or "(none)"
            out.append(Finding(file, f"{path}.execution-environment-list[{ee_id}].juju.charm", "charm.present",
                               f"charm '{charm}' not found: no {charm}/ or {charm}.charm under {roots}"))
            loaded[ee_id] = None
            continue
        meta = charms.get(location)
        if isinstance(meta, str):
            out.append(Finding(file, f"{path}.execution-environment-list[{ee_id}].juju.charm", "charm.present",
                               f"charm '{charm}' is unusable: {meta}"))
            loaded[ee_id] = None
        else:
            loaded[ee_id] = meta

    if ((block.get("config-access") or {}).get("ssh-access") or {}).get("required"):
        # OSM asks the charm for a key pair and injects the public key into the VM.
        for ee_id, env_charm in loaded.items():
            for needed in SSH_KEY_ACTIONS:
                if env_charm is not None and needed not in env_charm.actions:
                    out.append(Finding(file, f"{path}.config-access.ssh-access", "charm.ssh-access",
                                       f"ssh-access is required but charm '{env_charm.name}' (environment '{ee_id}') "
                                       f"has no '{needed}' action, which OSM calls to set up the VM's SSH key"))

    for prim in primitives(block, path):
        ref = prim.spec.get("execution-environment-ref")
        if ref is None:
            if len(environments) != 1:
                out.append(Finding(file, prim.path, "day1-2.ee-ref",
                                   f"'{prim.name}' names no execution-environment-ref and there are "
                                   f"{len(environments)} environments to choose from"))
                continue
            ref = next(iter(environments))
        elif ref not in environments:
            out.append(Finding(file, f"{prim.path}.execution-environment-ref", "day1-2.ee-ref",
                               f"'{ref}' is not an execution environment here (known: {_names(environments)})"))
            continue
        prim_charm = loaded.get(str(ref))
        if prim_charm is not None:
            out.extend(_against_charm(file, prim, prim_charm))
    return out


def _against_charm(file: str, prim: Primitive, charm: CharmMeta) -> list[Finding]:
    out: list[Finding] = []
    if prim.kind == "initial-config-primitive" and prim.name == "config":
        # OSM turns the `config` primitive into charm config, not an action.
        for p in prim.params:
            if p.get("name") not in charm.config_options:
                out.append(Finding(file, f"{prim.path}.parameter[{p.get('name')}]", "charm.config",
                                   f"charm '{charm.name}' has no config option '{p.get('name')}' "
                                   f"(options: {_names(charm.config_options)})"))
        return out
    action = charm.actions.get(prim.name) or charm.actions.get(str(prim.spec.get("execution-environment-primitive")))
    if action is None:
        out.append(Finding(file, prim.path, "charm.action",
                           f"'{prim.name}' is not an action of charm '{charm.name}' "
                           f"(actions: {_names(charm.actions)})"))
        return out
    given = {str(p.get("name")) for p in prim.params}
    for p in prim.params:
        pname = str(p.get("name"))
        ap = action.params.get(pname)
        ppath = f"{prim.path}.parameter[{pname}]"
        if ap is None:
            out.append(Finding(file, ppath, "charm.param",
                               f"action '{action.name}' of charm '{charm.name}' takes no parameter '{pname}' "
                               f"(parameters: {_names(action.params)})"))
            continue
        dtype = p.get("data-type")
        if dtype and ap.type and ap.type not in _COMPATIBLE.get(str(dtype), set()):
            out.append(Finding(file, ppath, "charm.param",
                               f"data-type {dtype} does not match type '{ap.type}' of parameter '{pname}' "
                               f"in action '{action.name}'"))
        if prim.kind == "config-primitive" and pname not in action.required and not p.get("default-value"):
            # NBI instance_topics.py NsLcmOpTopic._check_action_ns_operation refuses a call without every parameter
            # that has no non-empty default-value (`mandatory` is not read); LCM passes the default when not given.
            out.append(Finding(file, ppath, "charm.param",
                               f"optional parameter '{pname}' of action '{action.name}' has no default-value: OSM "
                               "requires it on every call (mandatory: false is ignored); give it a default-value "
                               "the charm takes as 'not given'"))
        elif dtype == "INTEGER" and p.get("default-value") is not None:
            try:
                int(p["default-value"])
            except (TypeError, ValueError):
                out.append(Finding(file, ppath, "charm.param",
                                   f"default-value {p['default-value']!r} is not an INTEGER (LCM converts it)"))
    for missing in sorted(action.required - given):
        out.append(Finding(file, prim.path, "charm.param",
                           f"action '{action.name}' of charm '{charm.name}' requires parameter '{missing}', "
                           "which this primitive does not declare"))
    return out


def _names(items: Any) -> str:
    names = sorted(str(i) for i in items if str(i))
    return ", ".join(names) if names else "none"
