"""A small LCM stand-in (NOT OSM): drives unit-agent stand-ins (`unit.Unit`) through day 1 and day 2 in the order
OSM's LCM and N2VC drive proxy charms and the NS charm. Read in OSM's code (LCM 2025 with N2VC inside,
`seltonlucas/osm-capk` `LCM/osm_lcm/`), mirrored here, not copied:

  * `ns.py` `NsLcm.instantiate_N2VC`: deploy the charm (no config at deploy for a proxy charm); when the
    descriptor's `config-access.ssh-access.required`, N2VC `get_ee_ssh_public__key` (actions `generate-ssh-key`, its
    failure only logged, then `get-ssh-public-key`, its `pubkey`), then `wait_vm_up_insert_key_ro` puts that key
    on the VM (here: the `inject_key` callback) and `rw_mgmt_ip` joins the deploy parameters; the NS charm waits for
    its VNFs' day 1 (`_wait_dependent_n2vc`); each initial primitive's parameters mapped
    (`_map_primitive_params`), `ns_config_info` recomputed for the NS charm before each (`_get_ns_config_info`:
    `{"osm-config-mapping": {member: application}}`), any failure fails the instantiation;
  * `data_utils/vnfd.py` `get_ee_sorted_initial_config_primitive_list`: primitives sorted by `seq`; for the NS a
    `config` is put first when absent (bug 874); for a VNF with an SSH public key, `verify-ssh-credentials` right
    after `config`;
  * `ns.py` `_map_primitive_params`: a given value, else `value`, else `default-value`; `<name>` from the deploy
    parameters (missing: "Parameter <x> needed to execute primitive <p> not provided"); mappings and lists as flow
    YAML; a `!!yaml ` prefix dropped; INTEGER as int (else "... must be integer"), BOOLEAN as `!= "false"`; a
    `config` primitive gets `ns_config_info` when the parameters have it;
  * N2VC `n2vc_juju_conn.py` `N2VCJujuConnector.exec_primitive`: `config` is application config
    (`Libjuju.configure_application` → `Application.set_config`), then, when the application has the action,
    `verify-ssh-credentials` up to 20 times 15 s apart while it fails; after the last failure it only logs;
    returns "CONFIG OK". Any other primitive is a Juju action on the leader unit (`Libjuju.execute_action`);
    `completed` returns its results; otherwise `Error executing primitive <p> in ee=<ee_id>: <status>: <the
    results' output>` or `...: <status>: No further information received from action` (N2VC reads the action's
    results, not action-fail's message: a charm that wants its reason shown puts it in the results' `output`);
  * `ns.py` `instantiate_N2VC` → `_add_vca_relations` (after the charm is installed, before its SSH key and initial
    primitives): the NSD's `ns-configuration.relation` entries this execution environment is part of
    (`_get_ns_relations`: provider/requirer, or the deprecated `entities` pair; "provider/requirer or entities must
    be included in the relation."), each added once both sides' charms are installed (`_add_relation`, polled every
    5 s up to 3600 s), through N2VC `add_relation` → libjuju `Model.add_relation("<app>:<endpoint>", ...)`, an
    existing relation tolerated ("already exists"); any failure or the timeout fails the instantiation with
    "Relations could not be added to VCA.". Only NS- and VNF-level endpoints (no VDU or KDU charms here); a member
    this stand-in does not stand up has no execution environment, so its relations are left out (LCM would wait
    for it until the timeout);
  * `ns.py` `_ns_execute_primitive` (day 2, `NsLcm.action`): retries (0 for an ns-action) and the outcome
    `("COMPLETED", output)` or `("FAILED", message)`, the operation's detailed-status.
Timings (20 × 15 s) are parameters so tests can shorten them; the order and texts are OSM's.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from srchain.errors import SrchainError
from srchain.osm.day12 import as_list
from srchain.osm.descriptors import Descriptor
from srchain.osm.unitagent.relations import Relations, RelationsUnsettled
from srchain.osm.unitagent.unit import HookFailed, JujuRefusal, Unit

if TYPE_CHECKING:
    from srchain.osm.nbi_standin import NsInstance

VERIFY = "verify-ssh-credentials"
RELATIONS_FAILED = "Relations could not be added to VCA."  # ns.py instantiate_N2VC
RELATION_TIMEOUT_S = 3600.0  # ns.py _add_vca_relations(timeout=3600)
RELATION_POLL_S = 5.0


class LcmError(SrchainError):
    """LCM's LcmException: the operation fails with this text."""


class PrimitiveFailed(SrchainError):
    """N2VC's N2VCExecutionException for one primitive."""


@dataclass(frozen=True)
class Step:
    """One primitive LCM ran (or N2VC inside `config`): its parameters, outcome and what it returned."""

    primitive: str
    params: dict[str, Any]
    ok: bool
    detail: str


@dataclass
class ExecutionEnvironment:
    """One deployed charm as LCM records it (`_admin.deployed.VCA[i]`): the unit, its member-vnf-index (None for
    the NS charm), the descriptor block that configures it (a VNFD's `day1-2` entry or the NSD's
    `ns-configuration`), its deploy parameters."""

    unit: Unit
    member: str | None
    config_descriptor: dict[str, Any]
    deploy_params: dict[str, Any] = field(default_factory=dict)
    ssh_public_key: str | None = None
    steps: list[Step] = field(default_factory=list)
    installed: threading.Event = field(default_factory=threading.Event)  # LCM's `config_sw_installed`

    @property
    def ee_id(self) -> str:  # N2VC install_k8s_proxy_charm: <model>.<application>.k8s
        return f"{self.unit.model}.{self.unit.application}.k8s"


@dataclass(frozen=True)
class RelationSpec:
    """One relation of the NSD resolved to deployed execution environments (LCM's `Relation` of two EERelation)."""

    name: str
    provider: ExecutionEnvironment
    provider_endpoint: str
    requirer: ExecutionEnvironment
    requirer_endpoint: str

    def involves(self, ee: ExecutionEnvironment) -> bool:
        return ee is self.provider or ee is self.requirer


def ns_relations(nsd: Mapping[str, Any], envs: Mapping[str | None, ExecutionEnvironment]) -> list[RelationSpec]:
    """LCM `_get_ns_relations` over `ns-configuration.relation`; `envs` by member-vnf-index (None: the NS charm).
    A relation with an end this stand-in did not deploy is left out."""
    out: list[RelationSpec] = []
    for r in as_list((nsd.get("ns-configuration") or {}).get("relation")):
        if not isinstance(r, dict):
            continue
        if "provider" in r and "requirer" in r:
            ends = [dict(r["provider"] or {}), dict(r["requirer"] or {})]
        elif "entities" in r:
            entities = as_list(r["entities"])
            ends = [{"endpoint": e.get("endpoint"),
                     **({"vnf-profile-id": e["id"]} if e.get("id") != nsd.get("id") else {})} for e in entities[:2]]
        else:
            raise LcmError("provider/requirer or entities must be included in the relation.")
        if len(ends) != 2 or not all(e.get("endpoint") for e in ends):
            raise LcmError(f"relation {r.get('name')}: two ends, each with an endpoint, expected")
        if any(e.get("vdu-profile-id") or e.get("kdu-resource-profile-id") for e in ends):
            raise LcmError(f"relation {r.get('name')}: VDU- and KDU-level execution environments are not modelled "
                           "by this stand-in")
        provider, requirer = (envs.get(e.get("vnf-profile-id")) for e in ends)
        if provider is None or requirer is None:
            continue
        out.append(RelationSpec(str(r.get("name")), provider, str(ends[0]["endpoint"]), requirer,
                                str(ends[1]["endpoint"])))
    return out


def application_name(charm: str, member: str | None, ee_descriptor_id: str | None = None) -> str:
    """N2VC `_generate_application_name`: `<charm>-ns` for the NS charm, `<ee>-z0-<member>-vnf` for a VNF's."""
    if member is None:
        return f"{charm[:40]}-ns"
    return f"{(ee_descriptor_id or charm)[:12]}-z0-{member[:12]}-vnf"


def _for_member(inject_key: Callable[[str, str], None], member: str) -> Callable[[str], None]:
    def inject(key: str) -> None:
        inject_key(member, key)
    return inject


def ns_config_info(vnfs: Sequence[ExecutionEnvironment]) -> dict[str, Any]:
    """LCM `_get_ns_config_info`: `{"osm-config-mapping": {member-vnf-index: application}}` (VNF-level charms)."""
    return {"osm-config-mapping": {str(ee.member): ee.unit.application for ee in vnfs if ee.member is not None}}


def sorted_initial_primitives(config_descriptor: Mapping[str, Any], is_ns: bool,
                              ssh_public_key: bool) -> list[dict[str, Any]]:
    """LCM data_utils/vnfd.py get_ee_sorted_initial_config_primitive_list."""
    prims = sorted((dict(p) for p in config_descriptor.get("initial-config-primitive") or []),
                   key=lambda p: int(p["seq"]))
    position = next((i for i, p in enumerate(prims) if p["name"] == "config"), None)
    if is_ns and position is None:
        prims.insert(0, {"name": "config", "parameter": []})
        position = 0
    if not is_ns and position is not None and ssh_public_key:
        prims.insert(position + 1, {"name": VERIFY, "parameter": []})
    return prims


def map_primitive_params(primitive: Mapping[str, Any], params: Mapping[str, Any],
                         instantiation_params: Mapping[str, Any]) -> dict[str, Any]:
    """LCM ns.py NsLcm._map_primitive_params."""
    out: dict[str, Any] = {}
    name = primitive["name"]
    for p in primitive.get("parameter") or ():
        pname = p["name"]
        if pname in params:
            value: Any = params[pname]
        elif "value" in p or "default-value" in p:
            value = p["value"] if "value" in p else p["default-value"]
            if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
                if value[1:-1] not in instantiation_params:
                    raise LcmError(f"Parameter {value} needed to execute primitive {name} not provided")
                value = instantiation_params[value[1:-1]]
        else:
            raise LcmError(f"Parameter {pname} needed to execute primitive {name} not provided")
        if isinstance(value, (dict, list, tuple)):
            value = yaml.safe_dump(value, default_flow_style=True, width=256)
        elif isinstance(value, str) and value.startswith("!!yaml "):
            value = value[7:]
        if p.get("data-type") == "INTEGER":
            try:
                value = int(value)
            except ValueError:
                raise LcmError(f"Parameter {pname} of primitive {name} must be integer") from None
        elif p.get("data-type") == "BOOLEAN":
            value = str(value).lower() != "false"
        out[pname] = value
    if name == "config" and "ns_config_info" in instantiation_params:
        out["ns_config_info"] = instantiation_params["ns_config_info"]
    return out


class Lcm:
    """Runs primitives on execution environments as LCM + N2VC do."""

    def __init__(self, verify_retries: int = 20, verify_retry_interval_s: float = 15.0,
                 sleep: Callable[[float], None] = time.sleep, concurrent: bool = False,
                 relation_timeout_s: float = RELATION_TIMEOUT_S) -> None:
        self.concurrent = concurrent  # instantiate_ns: each execution environment in a task of its own, as LCM
        self.verify_retries = verify_retries
        self.verify_retry_interval_s = verify_retry_interval_s
        self.sleep = sleep
        self.relation_timeout_s = relation_timeout_s
        self._relations_added: set[int] = set()  # id() of the RelationSpecs Juju has (a second add: "already exists")
        self._relations_lock = threading.Lock()
        self._stores: dict[Path, Relations] = {}

    # --- N2VC ----------------------------------------------------------------------------------------
    def _action(self, ee: ExecutionEnvironment, name: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """Libjuju.execute_action: (results, status); JujuRefusal → the exception N2VC raises."""
        outcome = ee.unit.run_action(name, params)
        return outcome.results, outcome.status

    def exec_primitive(self, ee: ExecutionEnvironment, name: str, params: Mapping[str, Any]) -> Any:
        """N2VCJujuConnector.exec_primitive; PrimitiveFailed with N2VC's text."""
        if name == "config":
            try:
                ee.unit.set_config(params)
            except (JujuRefusal, SrchainError) as e:
                raise PrimitiveFailed(f"Error configuring application into ee={ee.ee_id} : {e}") from None
            if VERIFY in ee.unit.actions:
                for attempt in range(self.verify_retries):
                    results, status = self._action(ee, VERIFY, {})
                    ee.steps.append(Step(VERIFY, {}, status == "completed",
                                         f"N2VC config: attempt {attempt + 1}: {status}"))
                    if status != "failed":
                        break
                    self.sleep(self.verify_retry_interval_s)
            return "CONFIG OK"
        try:
            results, status = self._action(ee, name, params)
        except JujuRefusal as e:
            raise PrimitiveFailed(f"Error executing primitive {name} in ee={ee.ee_id}: {e}") from None
        if status == "completed":
            return results
        why = results.get("output", "No further information received from action")
        raise PrimitiveFailed(f"Error executing primitive {name} in ee={ee.ee_id}: {status}: {why}")

    def get_ee_ssh_public_key(self, ee: ExecutionEnvironment) -> str:
        """N2VCJujuConnector.get_ee_ssh_public__key: generate-ssh-key (a failure is skipped), get-ssh-public-key."""
        with contextlib.suppress(JujuRefusal):
            self._action(ee, "generate-ssh-key", {})
        try:
            results, _ = self._action(ee, "get-ssh-public-key", {})
        except JujuRefusal as e:
            raise PrimitiveFailed(f"Cannot execute action get-ssh-public-key: {e}\n") from None
        return str(results.get("pubkey", results))

    # --- LCM -----------------------------------------------------------------------------------------
    def deploy(self, ee: ExecutionEnvironment) -> None:
        """N2VC install_k8s_proxy_charm: the application with one unit and no config; Juju runs its first hooks."""
        ee.unit.deploy()
        ee.installed.set()

    def _model_store(self, *units: Unit) -> None:
        """The units of one NS share a Juju model (N2VC: `<nsr-id>-k8s` for K8s proxy charms), so one relation
        store: the one a unit already has, else the model's, beside the units' directories."""
        store = next((u.relations for u in units if u.relations is not None), None)
        if store is None:
            path = units[0].root.parent / f"{units[0].model}.relations.json"
            store = self._stores.setdefault(path, Relations(path))
        for unit in units:
            if unit.relations is None:
                store.register(unit)

    def add_relations(self, ee: ExecutionEnvironment, relations: Sequence[RelationSpec]) -> None:
        """NsLcm._add_vca_relations for `ee`: each relation it is part of, once both charms are installed; LcmError
        (LCM's text) on a failure or after `relation_timeout_s`."""
        deadline = time.monotonic() + self.relation_timeout_s
        for rel in (r for r in relations if r.involves(ee)):
            for side in (rel.provider, rel.requirer):
                if not side.installed.wait(max(0.0, deadline - time.monotonic())):
                    ee.steps.append(Step("add-relation", {"relation": rel.name}, False,
                                         f"timeout adding relations: {side.unit.application} not installed"))
                    raise LcmError(RELATIONS_FAILED)
            with self._relations_lock:
                if id(rel) in self._relations_added:
                    continue  # libjuju add_relation: "already exists" is only logged
                try:
                    self._model_store(rel.provider.unit, rel.requirer.unit)
                    rel.provider.unit.relate(rel.provider_endpoint, rel.requirer.unit, rel.requirer_endpoint)
                except (JujuRefusal, HookFailed, RelationsUnsettled) as e:
                    ee.steps.append(Step("add-relation", {"relation": rel.name}, False,
                                         f"Error adding relation between {rel.provider.ee_id} and "
                                         f"{rel.requirer.ee_id}: {e}"))
                    raise LcmError(RELATIONS_FAILED) from None
                self._relations_added.add(id(rel))
            ee.steps.append(Step("add-relation", {"relation": rel.name}, True,
                                 f"{rel.provider.unit.application}:{rel.provider_endpoint} "
                                 f"{rel.requirer.unit.application}:{rel.requirer_endpoint}"))

    def instantiate(self, ee: ExecutionEnvironment, inject_key: Callable[[str], None] | None = None,
                    ns_config_info: Callable[[], dict[str, Any]] | None = None,
                    relations: Sequence[RelationSpec] = ()) -> None:
        """NsLcm.instantiate_N2VC after the deploy: its relations, the SSH key, then the initial primitives in
        LCM's order. LcmError / PrimitiveFailed stop it, as they fail LCM's instantiation."""
        self.add_relations(ee, relations)
        is_ns = ee.member is None
        ssh = bool(((ee.config_descriptor.get("config-access") or {}).get("ssh-access") or {}).get("required"))
        if not is_ns and ssh:
            ee.ssh_public_key = self.get_ee_ssh_public_key(ee)
            if inject_key is not None:
                inject_key(ee.ssh_public_key)  # RO wait_vm_up_insert_key_ro
        for prim in sorted_initial_primitives(ee.config_descriptor, is_ns, ee.ssh_public_key is not None):
            if is_ns and ns_config_info is not None:
                ee.deploy_params["ns_config_info"] = json.dumps(ns_config_info())
            params = map_primitive_params(prim, {}, ee.deploy_params)
            try:
                out = self.exec_primitive(ee, prim["name"], params)
            except PrimitiveFailed as e:
                ee.steps.append(Step(prim["name"], params, False, str(e)))
                raise
            ee.steps.append(Step(prim["name"], params, True, out if isinstance(out, str) else json.dumps(out)))

    def instantiate_ns(self, vnfs: Sequence[ExecutionEnvironment], ns: ExecutionEnvironment | None,
                       inject_key: Callable[[str, str], None] | None = None,
                       relations: Sequence[RelationSpec] = ()) -> None:
        """NsLcm.instantiate's part for the charms: every execution environment deployed, each VNF's day 1, then the
        NS charm's (`_wait_dependent_n2vc`: NS after its VNFs), with `ns_config_info` from the VNFs' applications
        (`_get_ns_config_info`). LCM runs each execution environment's deploy and day 1 as a task of its own
        (`instantiate_N2VC` per VCA, asyncio): with `concurrent`, one thread each, the NS charm's day 1 after every
        VNF's task ended, the first failure in member order raised then; without, one after the other, the first
        failure stopping it. Either way a failure fails LCM's instantiation. `relations` (ns_relations) are added by
        each side's task after its install, before its day 1."""
        def vnf_task(ee: ExecutionEnvironment) -> None:
            self.deploy(ee)
            self.instantiate(ee, inject_key=_for_member(inject_key, str(ee.member)) if inject_key else None,
                             relations=relations)

        if self.concurrent:
            with ThreadPoolExecutor(max_workers=len(vnfs) + 1) as pool:
                futures = [pool.submit(vnf_task, ee) for ee in vnfs]
                if ns is not None:
                    futures.append(pool.submit(self.deploy, ns))
                for f in futures:
                    f.exception()  # every task ends before the first failure is raised, as LCM waits for its tasks
            for f in futures:
                f.result()
        else:
            for ee in [*vnfs, *([ns] if ns is not None else [])]:
                self.deploy(ee)
            for ee in vnfs:
                self.instantiate(ee, inject_key=_for_member(inject_key, str(ee.member)) if inject_key else None,
                                 relations=relations)
        if ns is not None:
            self.instantiate(ns, ns_config_info=lambda: ns_config_info(vnfs), relations=relations)

    def action(self, ee: ExecutionEnvironment, primitive: Mapping[str, Any], params: Mapping[str, Any],
               retries: int = 0, retries_interval_s: float = 30.0) -> tuple[str, str]:
        """NsLcm.action → _ns_execute_primitive: (COMPLETED, output) or (FAILED, message)."""
        try:
            mapped = map_primitive_params(primitive, params, ee.deploy_params)
        except LcmError as e:
            return "FAILED", str(e)
        while True:
            try:
                out = self.exec_primitive(ee, str(primitive["name"]), mapped)
            except PrimitiveFailed as e:
                retries -= 1
                if retries >= 0:
                    self.sleep(retries_interval_s)
                    continue
                return "FAILED", str(e)
            return "COMPLETED", out if isinstance(out, str) else json.dumps(out, sort_keys=True)


class NbiActions:
    """An `on_action` for the NBI stand-in (`StandinNbi(on_action=...)`): ns-action runs the primitive on the unit
    of an execution environment through dispatch, as N2VC `exec_primitive` would (the stand-in has already mapped
    the parameters as `_map_primitive_params` does). `envs[(ns_name, member)]`, member None = the NS charm. A
    failure raises with N2VC's text, which the stand-in makes the operation's FAILED detail."""

    def __init__(self, lcm: Lcm, envs: Mapping[tuple[str, str | None], ExecutionEnvironment]) -> None:
        self.lcm = lcm
        self.envs = dict(envs)

    def __call__(self, ns_name: str, member: str | None, primitive: str, params: dict[str, Any]) -> dict[str, Any]:
        ee = self.envs.get((ns_name, member))
        if ee is None:
            raise LcmError(f"charm for member_vnf_index={member} is not deployed")  # LCM _look_for_deployed_vca
        out = self.lcm.exec_primitive(ee, primitive, params)
        return out if isinstance(out, dict) else {"output": out}


UnitFactory = Callable[[str, str | None, str], tuple[Unit, dict[str, Any]] | None]


def _configuration(desc: Descriptor) -> dict[str, Any] | None:
    """The block that configures the descriptor's charm: a VNFD's day1-2 entry whose id is the VNFD's (LCM
    `get_configuration(vnfd, vnfd_id)`), or the NSD's ns-configuration."""
    if desc.kind == "nsd":
        config = desc.body.get("ns-configuration")
        return config if isinstance(config, dict) else None
    for df in as_list(desc.body.get("df"))[:1]:
        op = (df.get("lcm-operations-configuration") or {}).get("operate-vnf-op-config") or {}
        for block in as_list(op.get("day1-2")):
            if isinstance(block, dict) and block.get("id") == desc.ident:
                return block
    return None


def _charm(config: Mapping[str, Any]) -> str | None:
    blocks = [e.get("juju") for e in as_list(config.get("execution-environment-list")) if isinstance(e, dict)]
    blocks.append(config.get("juju"))
    return next((str(b["charm"]) for b in blocks if isinstance(b, dict) and b.get("charm")), None)


class NbiLcm:
    """Day 1 and day 2 of the NBI stand-in run for real: `StandinNbi(on_instantiate=x.instantiate,
    on_action=x.action)`. `make_unit(ns_name, member or None, charm)` gives the unit of a charm and the deploy
    parameters that stand for what OSM learns elsewhere (RO's `rw_mgmt_ip`, a PDU's address), or None for a member
    this stand-in does not deploy (its VM is not stood up); the instantiation parameters (`additionalParamsForVnf`
    / `additionalParamsForNs`) are added under them, as LCM's deploy parameters."""

    def __init__(self, lcm: Lcm, make_unit: UnitFactory,
                 inject_key: Callable[[str, str], None] | None = None) -> None:
        self.lcm = lcm
        self.make_unit = make_unit
        self.inject_key = inject_key
        self.envs: dict[tuple[str, str | None], ExecutionEnvironment] = {}
        self.action = NbiActions(lcm, {})
        self.action.envs = self.envs  # one registry: what instantiate deployed, ns-action reaches

    def _env(self, ns_name: str, member: str | None, desc: Descriptor,
             params: Mapping[str, Any]) -> ExecutionEnvironment | None:
        config = _configuration(desc)
        charm = _charm(config) if config else None
        made = self.make_unit(ns_name, member, charm) if charm and config else None
        if made is None or config is None:
            return None
        unit, deploy_params = made
        ee = ExecutionEnvironment(unit, member, config, {**params, **deploy_params})
        self.envs[(ns_name, member)] = ee
        return ee

    def instantiate(self, ns: NsInstance) -> None:
        additional = {str(v.get("member-vnf-index")): v.get("additionalParams") or {}
                      for v in as_list(ns.params.get("additionalParamsForVnf")) if isinstance(v, dict)}
        vnfs = [ee for member, vnfd in ns.vnfds.items()
                if (ee := self._env(ns.name, member, vnfd, additional.get(member, {}))) is not None]
        ns_ee = self._env(ns.name, None, ns.nsd, ns.params.get("additionalParamsForNs") or {})
        envs: dict[str | None, ExecutionEnvironment] = {ee.member: ee for ee in vnfs}
        if ns_ee is not None:
            envs[None] = ns_ee
        self.lcm.instantiate_ns(vnfs, ns_ee, self.inject_key, ns_relations(ns.nsd.body, envs))
