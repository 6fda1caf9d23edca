"""A local stand-in for OSM's NBI (SOL005 subset), for tests and local trials. NOT OSM: no VIM, no LCM,
no VCA; it enforces the NBI's request rules so a client that passes here speaks the NBI's language.

What it enforces (each answered with the NBI's error shape `{"code", "status", "detail"}`):
  * token auth: POST /osm/admin/v1/tokens with username/password; every other call needs
    `Authorization: Bearer <token>` (401); tokens expire;
  * package upload (vnf_packages_content, ns_descriptors_content): `Content-File-MD5` must match the body
    (422), gzip tar layout: one top directory, exactly one descriptor YAML at its top, checksums.txt right
    (422, the findings of `srchain.osm.package.check_layout`); OSM IM validation when given a validator;
    the descriptor kind must fit the endpoint; an NSD's VNFDs must be onboarded; duplicate ids (409); as the
    NBI of `osm_release` 16+, the vnffgd's nfp-position-element ids (NsdTopic.validate_vnffgd_data);
  * PDU registration: `pdu_new_schema` (name, type, interfaces[name, mgmt, ip-address]) (422);
  * ns-create (ns_instances_content): the `ns_instantiate` schema (unknown keys, types), a known nsdId,
    member-vnf-index = a vnf-profile, every whole-value `<name>` of an initial-config-primitive given in the NS's
    or the member's additionalParams and parameter names that are identifiers (400, the NBI's texts), the VIM
    account by id (400 for a name, as the NBI); names of NSs and PDUs need not be unique (as the NBI);
    `vld[].name` = a virtual link of the NSD and each
    `vnfd-connection-point-ref` a (member, ext-cpd) the NSD connects to it, `ip-address` an IP; a free PDU
    of the right type and interface names for every PNF whose `vim_accounts` hold the VIM account's id, as
    stored (IN_USE afterwards; released on delete). Nothing is reserved when a request is refused;
  * operations: PROCESSING, then COMPLETED or FAILED (a cloud-init `{{ variable }}` without a value fails
    instantiation, as LCM does; so does a vnffgd from Release 15 on, which RO would deploy; so does a proxy
    charm N2VC + libjuju 2.9.44 would deploy where it cannot run,
    or not deploy at all: `srchain.osm.n2vc_deploy`, with the VCA model's `default-series` given as
    `vca_default_series`; the charms are checked, not run), listed by `ns_lcm_op_occs?nsInstanceId=` (the
    NS record lists none);
    ns-action as NBI `NsLcmOpTopic._check_action_ns_operation` checks it (the config-primitive in the NSD's
    ns-configuration, or in the member VNFD's day1-2 entry with the VNFD's id; every parameter without a
    non-empty default-value given, whatever `mandatory` says; none undeclared; 400 with the NBI's texts),
    then the parameters LCM would pass (`_map_primitive_params`); refused (409) only while the NS is
    NOT_INSTANTIATED (`_admin.nsState`, before LCM starts the instantiation), as the NBI does: a BROKEN NS
    still takes actions.
An optional `on_action(ns_name, member, primitive, params) -> dict` runs the primitive for real (the demo
uses it to call the charm library); without it an action completes with a "not executed" status. An optional
`on_instantiate(ns)` runs day 1 for real once the instantiation's checks pass (an exception fails the operation
with its text and leaves the NS BROKEN); `srchain.osm.unitagent.lcm.NbiLcm` gives both, through the charms' dispatch.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from srchain.errors import SrchainError
from srchain.osm.charmcloud import is_proxy, juju_blocks
from srchain.osm.day12 import Primitive, as_list, primitives
from srchain.osm.descriptors import Descriptor, collect
from srchain.osm.findings import Finding
from srchain.osm.im import ImValidator
from srchain.osm.n2vc_deploy import DeployError, plan, runs_there
from srchain.osm.nsd_checks import check_placeholders
from srchain.osm.package import check_layout
from srchain.osm.render import DEFAULT_OSM_RELEASE, NFP_POSITIONS_SINCE, RO_SFC_SINCE

ActionHandler = Callable[[str, str | None, str, dict[str, Any]], dict[str, Any]]
TOKEN_TTL_S = 3600
MAX_BODY = 64 * 1024 * 1024


class NbiFault(SrchainError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


# What docs/osm.md tells the operator to set on the VCA (`osm vca-add … --model-config`); the stand-in's default.
VCA_DEFAULT_SERIES = "jammy"


def _bad(detail: str) -> NbiFault:
    return NbiFault(422, "UNPROCESSABLE_ENTITY", detail)


def _check_vlds(nsd: Descriptor, vlds: list[Any]) -> None:
    """`vld` of ns_instantiate: the link must be the NSD's; a fixed address goes to a connection point the
    NSD attaches to that link (member vnf-profile + its ext-cpd), as LCM applies it to that port."""
    links = [str(v.get("id")) for v in as_list(nsd.body.get("virtual-link-desc"))]
    attached: set[tuple[str, str, str]] = set()
    for df in as_list(nsd.body.get("df")):
        for vp in as_list(df.get("vnf-profile")):
            for conn in as_list(vp.get("virtual-link-connectivity")):
                for cp in as_list(conn.get("constituent-cpd-id")):
                    attached.add((str(conn.get("virtual-link-profile-id")), str(cp.get("constituent-base-element-id")),
                                  str(cp.get("constituent-cpd-id"))))
    for i, vld in enumerate(vlds):
        where = f"ns.vld[{i}]"
        _check_fields(vld, where, {"name": str}, {"vim-network-name": (str, dict), "vim-network-id": (str, dict),
                                                  "ip-profile": dict, "vnfd-connection-point-ref": list})
        if vld["name"] not in links:
            raise _bad(f"{where}.name: '{vld['name']}' is not a virtual link of NSD '{nsd.ident}'")
        for j, ref in enumerate(vld.get("vnfd-connection-point-ref", [])):
            at = f"{where}.vnfd-connection-point-ref[{j}]"
            _check_fields(ref, at, {"member-vnf-index-ref": str, "vnfd-connection-point-ref": str},
                          {"ip-address": str})
            if (vld["name"], ref["member-vnf-index-ref"], ref["vnfd-connection-point-ref"]) not in attached:
                raise _bad(f"{at}: member '{ref['member-vnf-index-ref']}' connection point "
                           f"'{ref['vnfd-connection-point-ref']}' is not on virtual link '{vld['name']}'")
            if "ip-address" in ref:
                try:
                    ipaddress.ip_address(ref["ip-address"])
                except ValueError:
                    raise _bad(f"{at}.ip-address: '{ref['ip-address']}' is not an IP address") from None


# LCM resolves these itself (NBI instance_topics.py NsrTopic._format_additional_params does not ask for them)
_LCM_PLACEHOLDERS = ("<rw_mgmt_ip>", "<VDU_SCALE_INFO>", "<ns_config_info>", "<OSM>")
_PARAM_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
VIM_ID = re.compile(r"^[a-fA-F0-9]{8}(-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}$")  # the NBI's id_schema (validation.py)


def _check_initial_params(nsd: Descriptor, vnfds: dict[str, Descriptor], body: dict[str, Any]) -> None:
    """ns-create as the NBI refuses it, before it creates anything (NsrTopic.new → _format_additional_params, NS
    first, then each vnf-profile): a parameter name that is no identifier, and an initial-config-primitive whose
    value is a whole `<name>` that the NS's / the member's additionalParams lack (400, the NBI's text; the step
    it names is the last one set, the NSD lookup)."""
    step = f" while 'getting nsd id='{body['nsdId']}' from database'"
    targets: list[tuple[str, str | None, dict[str, Any]]] = [("additionalParamsForNs", None, nsd.body)]
    for df in as_list(nsd.body.get("df")):
        for vp in as_list(df.get("vnf-profile")):
            vnfd = vnfds.get(str(vp.get("vnfd-id")))
            if vnfd is not None:
                targets.append((f"additionalParamsForVnf[member-vnf-index={vp.get('id')}]", str(vp.get("id")),
                                vnfd.body))
    for where, member, desc in targets:
        if member is None:
            params = body.get("additionalParamsForNs")
            initial = as_list((desc.get("ns-configuration") or {}).get("initial-config-primitive"))
        else:
            item = next((x for x in as_list(body.get("additionalParamsForVnf"))
                         if isinstance(x, dict) and x.get("member-vnf-index") == member), None)
            params = (item.get("additionalParams") or {}) if item else None
            initial = [p for df in as_list(desc.get("df"))
                       for c in as_list(((df.get("lcm-operations-configuration") or {})
                                         .get("operate-vnf-op-config") or {}).get("day1-2"))
                       if isinstance(c, dict) and c.get("id") == desc.get("id")
                       for p in as_list(c.get("initial-config-primitive"))]
        for k in (params or {}):
            if not _PARAM_NAME.match(str(k)):
                raise NbiFault(400, "BAD_REQUEST", f"Invalid param name at {where}:{k}. Must contain only alphanumeric "
                                                   "characters and underscores, and cannot start with a digit" + step)
        for prim in initial:
            for param in as_list(prim.get("parameter") if isinstance(prim, dict) else None):
                value = str(param.get("value", "")) if isinstance(param, dict) else ""
                if (value.startswith("<") and value.endswith(">") and value not in _LCM_PLACEHOLDERS
                        and (not params or value[1:-1] not in params)):
                    raise NbiFault(400, "BAD_REQUEST",
                                   f"Parameter '{value}' needed for vnfd[id={desc.get('id')}]:day1-2 configuration:"
                                   f"initial-config-primitive[name={prim.get('name')}] not supplied" + step)


def _type_name(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}.get(type(v), "value")


def _check_fields(body: Any, where: str, required: dict[str, type | tuple[type, ...]],
                  optional: dict[str, type | tuple[type, ...]]) -> None:
    """A JSON-schema-like check with `additionalProperties: false`, as the NBI's schemas are."""
    if not isinstance(body, dict):
        raise _bad(f"{where}: must be an object, got {_type_name(body)}")
    for key in sorted(set(body) - set(required) - set(optional)):
        raise _bad(f"{where}: additional property '{key}' is not allowed")
    for key in required:
        if key not in body:
            raise _bad(f"{where}: '{key}' is a required property")
    for key, kind in {**required, **optional}.items():
        if key in body and (not isinstance(body[key], kind) or (kind is int and isinstance(body[key], bool))):
            raise _bad(f"{where}.{key}: {body[key]!r} is not of type {kind}")


@dataclass
class Operation:
    id: str
    ns_id: str
    kind: str  # instantiate | action | terminate
    params: dict[str, Any]
    started: float
    done_after: float
    outcome: Callable[[], tuple[str, str]]  # -> (COMPLETED|FAILED, detailed-status), run once when due
    state: str = "PROCESSING"
    detail: str = "in progress"

    def view(self) -> dict[str, Any]:
        if self.state == "PROCESSING" and time.monotonic() >= self.done_after:
            self.state, self.detail = self.outcome()
        return {"_id": self.id, "id": self.id, "nsInstanceId": self.ns_id, "lcmOperationType": self.kind,
                "operationState": self.state, "detailed-status": self.detail, "operationParams": self.params,
                "startTime": self.started}


@dataclass
class NsInstance:
    id: str
    name: str
    nsd: Descriptor
    vnfds: dict[str, Descriptor]  # member-vnf-index -> VNFD
    params: dict[str, Any]
    pdus: list[str]
    state: str = "BUILDING"  # nsState: BUILDING, READY, BROKEN (LCM's)
    admin_state: str = "NOT_INSTANTIATED"  # _admin.nsState: LCM sets INSTANTIATED as instantiation starts
    ops: list[str] = field(default_factory=list)


class StandinNbi:
    """The NBI's state and rules; `serve()` puts it on 127.0.0.1."""

    def __init__(self, users: dict[str, str], vim_accounts: list[str], im: ImValidator | None = None,
                 op_delay_s: float = 0.05, on_action: ActionHandler | None = None,
                 on_instantiate: Callable[[NsInstance], None] | None = None,
                 osm_release: int = DEFAULT_OSM_RELEASE, vca_default_series: str | None = VCA_DEFAULT_SERIES) -> None:
        self.osm_release = osm_release  # which NBI it behaves as: the vnffgd check (render.NFP_POSITIONS_SINCE)
        self.vca_default_series = vca_default_series  # the VCA's model-config default-series (None: unset)
        self.users = dict(users)
        self.vims = {str(uuid.uuid4()): name for name in vim_accounts}
        self.im = im
        self.op_delay_s = op_delay_s
        self.on_action = on_action
        self.on_instantiate = on_instantiate  # runs once the checks pass, inside the operation (blocking the NBI)
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[str, float]] = {}
        self.vnfds: dict[str, Descriptor] = {}  # _id -> descriptor
        self.nsds: dict[str, Descriptor] = {}
        self.pdus: dict[str, dict[str, Any]] = {}
        self.nss: dict[str, NsInstance] = {}
        self.ops: dict[str, Operation] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="srchain-nbi-standin-")

    # --- auth -------------------------------------------------------------------------------------
    def new_token(self, body: Any) -> dict[str, Any]:
        _check_fields(body, "token", {"username": str, "password": str}, {"project_id": str})
        expected = self.users.get(body["username"])
        if expected is None or not hmac.compare_digest(expected.encode(), body["password"].encode()):
            raise NbiFault(401, "UNAUTHORIZED", "Invalid username/password")
        token = secrets.token_urlsafe(24)
        expires = time.time() + TOKEN_TTL_S
        self.tokens[token] = (body["username"], expires)
        return {"_id": token, "id": token, "expires": expires, "username": body["username"],
                "project_id": body.get("project_id", "admin")}

    def authorise(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NbiFault(401, "UNAUTHORIZED", "Not possible to get authorization token")
        known = next((v for t, v in self.tokens.items() if hmac.compare_digest(t.encode(), token.encode())), None)
        if known is None or known[1] < time.time():
            raise NbiFault(401, "UNAUTHORIZED", "Invalid Token or Authorization HTTP header")

    # --- packages ---------------------------------------------------------------------------------
    def upload(self, kind: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        md5 = headers.get("content-file-md5")
        if not md5:
            raise _bad("Content-File-MD5 header is required for a package upload")
        actual = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if md5.strip().lower() != actual:
            raise _bad(f"MD5 mismatch: Content-File-MD5 {md5.strip()} but the content's is {actual}")
        if headers.get("content-type", "").split(";")[0].strip() not in ("application/gzip", "application/x-gzip"):
            raise _bad("Content-Type must be application/gzip for a package (tar.gz)")
        name = Path(headers.get("content-filename") or "package.tar.gz").name
        work = Path(self._tmp.name) / str(uuid.uuid4())
        work.mkdir()
        tar_path = work / name
        tar_path.write_bytes(body)
        findings, top = check_layout(tar_path)
        if findings or top is None:
            raise _bad("package refused: " + "; ".join(_short(f) for f in findings))
        with tarfile.open(tar_path, "r:gz") as tar:
            tar.extractall(work / "x", filter="data")
        found, problems = collect([work / "x" / top])
        if problems or len(found) != 1:
            raise _bad("package refused: " + ("; ".join(_short(p) for p in problems) or "no descriptor at its top"))
        desc = found[0]
        if desc.kind != kind:
            raise _bad(f"package holds a {desc.kind}, but this endpoint takes a {kind}")
        newer = kind == "nsd" and self.osm_release >= NFP_POSITIONS_SINCE
        if self.im is not None:
            # the IM given is the one of Releases 14/15; as a newer NBI, the keys its IM added are taken out first
            errors = self.im.errors(_without_nfp_positions(desc.data) if newer else desc.data)
            if errors:
                raise _bad(f"descriptor {desc.ident} is not valid OSM IM: " + "; ".join(errors))
        if newer:
            for fg in as_list(desc.body.get("vnffgd")):
                _check_vnffgd(fg)
        with self.lock:
            store = self.vnfds if kind == "vnfd" else self.nsds
            if any(d.ident == desc.ident for d in store.values()):
                raise NbiFault(409, "CONFLICT", f"{kind} with id '{desc.ident}' already exists for this project")
            if kind == "nsd":
                onboarded = {d.ident for d in self.vnfds.values()}
                missing = sorted({str(v) for v in as_list(desc.body.get("vnfd-id"))} - onboarded)
                if missing:
                    raise _bad(f"NSD '{desc.ident}' references VNFD(s) not onboarded: {', '.join(missing)}")
            new_id = str(uuid.uuid4())
            store[new_id] = desc
        return {"id": new_id}

    def list_descriptors(self, kind: str) -> list[dict[str, Any]]:
        store = self.vnfds if kind == "vnfd" else self.nsds
        return [{"_id": k, "id": d.ident, "name": d.body.get("name", d.ident),
                 "product-name": d.body.get("product-name", d.ident)} for k, d in store.items()]

    # --- PDUs -------------------------------------------------------------------------------------
    def new_pdu(self, body: Any) -> dict[str, Any]:
        _check_fields(body, "pdu", {"name": str, "type": str, "interfaces": list},
                      {"vim_accounts": list, "vims": list, "shared": bool, "description": str})
        if not body["interfaces"]:
            raise _bad("pdu.interfaces: must have at least one item")
        for i, itf in enumerate(body["interfaces"]):
            _check_fields(itf, f"pdu.interfaces[{i}]", {"name": str, "mgmt": bool, "ip-address": str},
                          {"type": str, "mac-address": str, "vim-network-name": str, "vim-network-id": str})
            try:
                ipaddress.ip_address(itf["ip-address"])
            except ValueError:
                raise _bad(f"pdu.interfaces[{i}].ip-address: '{itf['ip-address']}' is not an IP address") from None
            if itf.get("type", "overlay") not in ("overlay", "underlay"):
                raise _bad(f"pdu.interfaces[{i}].type: '{itf['type']}' is not one of overlay, underlay")
        vims = body.get("vim_accounts", [])
        for i, v in enumerate(vims):  # NBI pdu_new_schema: names; stored as given, matched against the VIM
            if not isinstance(v, str):  # account's id at ns-create (NsrTopic._look_for_pdu)
                raise _bad(f"pdu.vim_accounts[{i}]: {v!r} is not of type string")
        with self.lock:
            # no uniqueness check: the NBI's PduTopic has none (checked against OSM's NBI: a second PDU named
            # alike is 201 Created)
            new_id = str(uuid.uuid4())
            self.pdus[new_id] = {**body, "_id": new_id, "vim_accounts": vims,
                                 "_admin": {"operationalState": "ENABLED", "usageState": "NOT_IN_USE"}}
        return {"id": new_id}

    def _vim_id(self, ref: Any, where: str) -> str:
        """ns-create's vimAccountId: the account's id, as the NBI looks it up (`_id`). Not shaped like an id (a
        name): the NBI's input schema refuses it (validation.py `id_schema`, 422); an id of no account: 400."""
        if not isinstance(ref, str):
            raise _bad(f"{where}: {ref!r} is not of type string")
        if not VIM_ID.fullmatch(ref):
            raise _bad(f"Format error at 'vimAccountId' ''{ref}' does not match '{VIM_ID.pattern}'' while "
                       "'validating input parameters'")
        if ref in self.vims:
            return ref
        raise NbiFault(400, "BAD_REQUEST", f"Invalid vimAccountId='{ref}' not present for the project")

    # --- NS lifecycle -----------------------------------------------------------------------------
    def ns_create(self, body: Any) -> dict[str, Any]:
        _check_fields(body, "ns", {"nsName": str, "nsdId": str, "vimAccountId": str},
                      {"nsDescription": (str, type(None)), "additionalParamsForNs": dict,
                       "additionalParamsForVnf": list, "vld": list, "vnf": list, "ssh_keys": list,
                       "timeout_ns_deploy": int, "wimAccountId": (str, bool, type(None)), "lcmOperationType": str,
                       "nsInstanceId": str})
        with self.lock:  # in the NBI's order: the NSD, the parameters LCM will need, the VIM account, links, PDUs
            nsd = self.nsds.get(body["nsdId"]) or next(
                (d for d in self.nsds.values() if d.ident == body["nsdId"]), None)
            if nsd is None:
                raise _bad(f"ns.nsdId: NSD '{body['nsdId']}' not found")
            # no uniqueness check on nsName: NsrTopic.new has none (checked against OSM's NBI); NbiClient refuses
            # to act on an ambiguous name
            members: dict[str, Descriptor] = {}
            by_ident = {d.ident: d for d in self.vnfds.values()}
            for df in as_list(nsd.body.get("df")):
                for vp in as_list(df.get("vnf-profile")):
                    members[str(vp.get("id"))] = by_ident[str(vp.get("vnfd-id"))]
            for i, v in enumerate(body.get("additionalParamsForVnf", [])):
                _check_fields(v, f"ns.additionalParamsForVnf[{i}]", {"member-vnf-index": str},
                              {"additionalParams": dict, "additionalParamsForVdu": list,
                               "additionalParamsForKdu": list, "k8s-namespace": str, "config-units": int})
                if v["member-vnf-index"] not in members:
                    raise _bad(f"ns.additionalParamsForVnf[{i}].member-vnf-index: '{v['member-vnf-index']}' is "
                               f"not a vnf-profile of NSD '{nsd.ident}' (known: {', '.join(members)})")
            _check_initial_params(nsd, by_ident, body)
            vim = self._vim_id(body["vimAccountId"], "ns.vimAccountId")
            _check_vlds(nsd, body.get("vld", []))
            pdus = self._reserve_pdus(members, vim)
            ns = NsInstance(str(uuid.uuid4()), body["nsName"], nsd, members, body, pdus)
            self.nss[ns.id] = ns
            op = self._operation(ns, "instantiate", body, lambda: self._instantiated(ns))
        return {"id": ns.id, "nslcmop_id": op.id}

    def _reserve_pdus(self, members: dict[str, Descriptor], vim: str) -> list[str]:
        """NBI `_look_for_pdu`: same type, usable from the VIM account, free, interface names a superset."""
        taken: list[str] = []
        for member, vnfd in members.items():
            for vdu in as_list(vnfd.body.get("vdu")):
                ptype = vdu.get("pdu-type")
                if not ptype:
                    continue
                names = {r.get("name") for c in as_list(vdu.get("int-cpd"))
                         for r in as_list(c.get("virtual-network-interface-requirement"))}
                pick = next((pid for pid, p in self.pdus.items() if pid not in taken and p["type"] == ptype
                             and vim in p["vim_accounts"] and p["_admin"]["usageState"] == "NOT_IN_USE"
                             and names <= {i["name"] for i in p["interfaces"]}), None)
                if pick is None:
                    raise NbiFault(400, "BAD_REQUEST", f"No PDU of type={ptype} at vim_account={vim} found for "
                                   f"member_vnf_index={member}, vdu={vdu.get('id')} matching interface names")
                taken.append(pick)
        for pid in taken:
            self.pdus[pid]["_admin"]["usageState"] = "IN_USE"
        return taken

    def _instantiated(self, ns: NsInstance) -> tuple[str, str]:
        ns.admin_state = "INSTANTIATED"  # LCM ns.py NsLcm.instantiate, before it deploys anything
        findings = check_placeholders(ns.nsd, {d.ident: d for d in ns.vnfds.values()}, ns.params,
                                      "the instantiation parameters")
        if findings:
            ns.state = "BROKEN"
            return "FAILED", "; ".join(f.message for f in findings)
        if self.osm_release >= RO_SFC_SINCE and as_list(ns.nsd.body.get("vnffgd")):
            ns.state = "BROKEN"  # RO's deploy (NG-RO ns.py process_vnffgd_descriptor) runs before any charm
            return "FAILED", (f"NSD '{ns.nsd.ident}' has a vnffgd: RO of Release {RO_SFC_SINCE} and later deploys it "
                              "as service function chaining at the VIM (NG-RO process_vnffgd_descriptor), which "
                              "needs match-attributes and order/ingress-/egress-constituent-cpd-id on every position "
                              "(the stand-in's text, not RO's); render the NSD for this release")
        problems = self._charm_problems(ns)
        if problems:
            ns.state = "BROKEN"
            return "FAILED", "; ".join(problems)
        if self.on_instantiate is not None:  # day 1 for real (e.g. srchain.osm.unitagent.lcm.NbiLcm)
            try:
                self.on_instantiate(ns)
            except Exception as e:  # LCM fails the instantiation with the primitive's error
                ns.state = "BROKEN"
                return "FAILED", str(e)
            ns.state = "READY"
            return "COMPLETED", "Done"
        ns.state = "READY"
        return "COMPLETED", "Done (stand-in: day-1 primitives are not executed)"

    def _charm_problems(self, ns: NsInstance) -> list[str]:
        """Each proxy charm of the NS and its VNFs as N2VC would deploy it: the artifact must exist
        (N2VC's message), libjuju must find a series or base, and the charm must be built for that base."""
        problems = []
        for desc in [ns.nsd, *{d.ident: d for d in ns.vnfds.values()}.values()]:
            for block in juju_blocks(desc):
                if not is_proxy(block):
                    continue
                charm_dir = desc.root / "charms" / str(block["charm"])
                if not charm_dir.is_dir():
                    problems.append(f"artifact path does not exist: {desc.ident}/charms/{block['charm']}")
                    continue
                try:
                    why = runs_there(plan(charm_dir, block, ns.id, self.vca_default_series), charm_dir)
                except DeployError as e:
                    why = f"Error deploying charm: {e}"
                if why:
                    problems.append(why)
        return problems

    def _operation(self, ns: NsInstance, kind: str, params: dict[str, Any],
                   outcome: Callable[[], tuple[str, str]]) -> Operation:
        now = time.monotonic()
        op = Operation(str(uuid.uuid4()), ns.id, kind, params, time.time(), now + self.op_delay_s, outcome)
        self.ops[op.id] = op
        ns.ops.append(op.id)
        return op

    def _find_ns(self, ref: str) -> NsInstance:
        ns = self.nss.get(ref) or next((n for n in self.nss.values() if n.name == ref), None)
        if ns is None:
            raise NbiFault(404, "NOT_FOUND", f"NS instance '{ref}' not found")
        return ns

    def ns_view(self, ref: str) -> dict[str, Any]:
        with self.lock:
            ns = self._find_ns(ref)
            for op_id in ns.ops:
                self.ops[op_id].view()  # advance due operations
            # a real NS record lists no operations: they are ns_lcm_op_occs?nsInstanceId=<id>
            return {"_id": ns.id, "id": ns.id, "name": ns.name, "nsd-id": ns.nsd.ident, "nsState": ns.state,
                    "_admin": {"nsState": ns.admin_state}, "constituent-vnfr-ref": sorted(ns.vnfds)}

    def ns_list(self) -> list[dict[str, Any]]:
        return [self.ns_view(i) for i in list(self.nss)]

    def ns_action(self, ref: str, body: Any) -> dict[str, Any]:
        _check_fields(body, "action", {"primitive": str, "primitive_params": dict},
                      {"member_vnf_index": str, "vnf_member_index": str, "vdu_id": str, "vdu_count_index": int,
                       "kdu_name": str, "timeout_ns_action": int, "lcmOperationType": str, "nsInstanceId": str})
        with self.lock:
            ns = self._find_ns(ref)
            for op_id in ns.ops:
                self.ops[op_id].view()
            if ns.admin_state == "NOT_INSTANTIATED":  # NBI NsLcmOpTopic.new: the only state it refuses
                raise NbiFault(409, "CONFLICT", f"ns_instance '{ns.id}' cannot be 'action' because it is not "
                                                "instantiated")
            member = body.get("member_vnf_index") or body.get("vnf_member_index")
            prim = self._primitive(ns, member, body["primitive"])
            given = body["primitive_params"]
            # NBI instance_topics.py NsLcmOpTopic._check_action_ns_operation: a parameter is optional only with a
            # non-empty default-value (`mandatory` is not read); an undeclared one is refused.
            rest = dict(given)
            for p in prim.params:
                if rest.pop(str(p.get("name")), _MISSING) is _MISSING and not p.get("default-value"):
                    raise NbiFault(400, "BAD_REQUEST", f"Needed parameter {p.get('name')} not provided for "
                                                       f"primitive '{prim.name}'")
            if rest:
                raise NbiFault(400, "BAD_REQUEST", f"parameter/s '{list(rest)}' not present at vnfd /nsd for "
                                                   f"primitive '{prim.name}'")
            op = self._operation(ns, "action", body,
                                 lambda: self._run_action(ns.name, member, prim, dict(given)))
        return {"id": op.id}

    def _primitive(self, ns: NsInstance, member: str | None, name: str) -> Primitive:
        """The config-primitive as NBI `_check_action_ns_operation` finds it: the NSD's ns-configuration, or the
        day1-2 entry of the member's VNFD whose id is the VNFD's id, in its first df."""
        if member is None:
            config = ns.nsd.body.get("ns-configuration")
            block, path = (config if isinstance(config, dict) else {}), "ns-configuration"
        else:
            vnfd = ns.vnfds.get(member)
            if vnfd is None:
                raise NbiFault(400, "BAD_REQUEST", f"Invalid parameter member_vnf_index='{member}' is not one of "
                                                   "the nsd:constituent-vnfd")
            dfs = as_list(vnfd.body.get("df"))
            op = ((dfs[0].get("lcm-operations-configuration") or {}).get("operate-vnf-op-config") or {}) if dfs else {}
            block = next((b for b in as_list(op.get("day1-2")) if b.get("id") == vnfd.ident), {})
            path = f"day1-2[{vnfd.ident}]"
        for prim in primitives(block, path):
            if prim.kind == "config-primitive" and prim.name == name:
                return prim
        raise NbiFault(400, "BAD_REQUEST", f"Invalid primitive '{name}' is not present at vnfd/nsd")

    def _run_action(self, ns_name: str, member: str | None, prim: Primitive,
                    given: dict[str, Any]) -> tuple[str, str]:
        try:
            params = _lcm_params(prim, given)
        except ValueError as e:  # LCM fails the operation, the NBI had accepted it
            return "FAILED", str(e)
        if self.on_action is None:
            return "COMPLETED", "Done (stand-in: the primitive was accepted, not executed)"
        try:
            result = self.on_action(ns_name, member, prim.name, params)
        except Exception as e:  # the primitive's failure is the operation's outcome, as in OSM
            return "FAILED", f"{prim.name}: {e}"
        return "COMPLETED", json.dumps(result, sort_keys=True)

    def ns_delete(self, ref: str) -> dict[str, Any]:
        with self.lock:
            ns = self._find_ns(ref)
            for pid in ns.pdus:
                self.pdus[pid]["_admin"]["usageState"] = "NOT_IN_USE"
            del self.nss[ns.id]
        return {"deleted": ns.id}

    def op_view(self, op_id: str) -> dict[str, Any]:
        with self.lock:
            op = self.ops.get(op_id)
            if op is None:
                raise NbiFault(404, "NOT_FOUND", f"operation '{op_id}' not found")
            ns = self.nss.get(op.ns_id)
            for earlier in ns.ops[:ns.ops.index(op_id)] if ns else []:  # LCM runs an NS's operations in order
                self.ops[earlier].view()
            return op.view()

    def op_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """GET ns_lcm_op_occs[?nsInstanceId=ID] (osmclient `ns-op-list`), oldest first."""
        with self.lock:
            wanted = set(query.get("nsInstanceId", []))
            return [self.ops[o].view() for ns in self.nss.values() if not wanted or ns.id in wanted for o in ns.ops]

    # --- HTTP ------------------------------------------------------------------------------------
    def route(self, method: str, path: str, headers: dict[str, str], raw: bytes,
              query: dict[str, list[str]] | None = None) -> tuple[int, Any]:
        if method == "POST" and path == "/osm/admin/v1/tokens":
            return 200, self.new_token(_decode(raw, headers))
        self.authorise(headers.get("authorization"))
        table: list[tuple[str, str, Callable[..., Any], int]] = [
            ("GET", r"/osm/admin/v1/vim_accounts", lambda: [{"_id": k, "name": v} for k, v in self.vims.items()], 200),
            ("POST", r"/osm/vnfpkgm/v1/vnf_packages_content", lambda: self.upload("vnfd", raw, headers), 201),
            ("POST", r"/osm/nsd/v1/ns_descriptors_content", lambda: self.upload("nsd", raw, headers), 201),
            ("GET", r"/osm/vnfpkgm/v1/vnf_packages", lambda: self.list_descriptors("vnfd"), 200),
            ("GET", r"/osm/nsd/v1/ns_descriptors", lambda: self.list_descriptors("nsd"), 200),
            ("POST", r"/osm/pdu/v1/pdu_descriptors", lambda: self.new_pdu(_decode(raw, headers)), 201),
            ("GET", r"/osm/pdu/v1/pdu_descriptors", lambda: list(self.pdus.values()), 200),
            ("POST", r"/osm/nslcm/v1/ns_instances_content", lambda: self.ns_create(_decode(raw, headers)), 201),
            ("GET", r"/osm/nslcm/v1/ns_instances", self.ns_list, 200),
            ("GET", r"/osm/nslcm/v1/ns_instances/([^/]+)", self.ns_view, 200),
            ("DELETE", r"/osm/nslcm/v1/ns_instances_content/([^/]+)", self.ns_delete, 202),
            ("POST", r"/osm/nslcm/v1/ns_instances/([^/]+)/action",
             lambda ref: self.ns_action(ref, _decode(raw, headers)), 202),
            ("GET", r"/osm/nslcm/v1/ns_lcm_op_occs", lambda: self.op_list(query or {}), 200),
            ("GET", r"/osm/nslcm/v1/ns_lcm_op_occs/([^/]+)", self.op_view, 200),
        ]
        for m, pattern, handler, status in table:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                return status, handler(*match.groups())
        raise NbiFault(404 if all(not re.fullmatch(p, path) for _, p, _, _ in table) else 405,
                       "NOT_FOUND", f"{method} {path}: no such resource here")

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> StandinServer:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the NBI stand-in listens on loopback only, not {host}")
        return StandinServer(self, host, port)

    def close(self) -> None:
        self._tmp.cleanup()


_MISSING = object()


def _without_nfp_positions(data: Any) -> Any:
    """A copy without `nfp-position-element` / `nfp-position-element-id` (in the IM after Release 15 only)."""
    if isinstance(data, dict):
        return {k: _without_nfp_positions(v) for k, v in data.items()
                if k not in ("nfp-position-element", "nfp-position-element-id")}
    if isinstance(data, list):
        return [_without_nfp_positions(v) for v in data]
    return data


def _check_vnffgd(fg: dict[str, Any]) -> None:
    """As NBI descriptor_topics.py NsdTopic.validate_vnffgd_data (2025) checks the positions: every nfpd
    position-desc-id's `nfp-position-element-id[0]` is an `nfp-position-element` of the vnffgd. Without the key
    that NBI fails on subscripting None, answered as 400 with Python's message, as it does."""
    known = [p.get("id") for p in as_list(fg.get("nfp-position-element")) if isinstance(p, dict)]
    for nfpd in as_list(fg.get("nfpd")):
        for position in as_list(nfpd.get("position-desc-id")):
            ids = position.get("nfp-position-element-id") if isinstance(position, dict) else None
            if not isinstance(ids, list):
                raise NbiFault(400, "BAD_REQUEST", "'NoneType' object is not subscriptable")
            if not ids or ids[0] not in known:
                raise _bad(f"Error at vnffgd nfpd[id='{nfpd.get('id')}']:nfp-position-element-id="
                           f"'{ids[0] if ids else ''}' does not match any nfp-position-element")


def _lcm_params(prim: Primitive, given: dict[str, Any]) -> dict[str, Any]:
    """What LCM hands the charm (LCM ns.py NsLcm._map_primitive_params): the given value, else the parameter's
    `value` or `default-value`; mappings/lists as flow YAML; INTEGER as int, BOOLEAN as bool."""
    out: dict[str, Any] = {}
    for p in prim.params:
        name = str(p.get("name"))
        value: Any = given[name] if name in given else p.get("value", p.get("default-value"))
        if isinstance(value, (dict, list, tuple)):
            value = yaml.safe_dump(value, default_flow_style=True, width=256)
        if p.get("data-type") == "INTEGER":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"Parameter {name} of primitive {prim.name} must be integer") from None
        elif p.get("data-type") == "BOOLEAN":
            value = str(value).lower() != "false"
        out[name] = value
    return out


def _short(f: Finding) -> str:
    return f"{f.path}: [{f.rule}] {f.message}" if f.path else f"[{f.rule}] {f.message}"


def _decode(raw: bytes, headers: dict[str, str]) -> Any:
    kind = headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if kind in ("application/yaml", "text/yaml", "application/x-yaml"):
            return yaml.safe_load(raw.decode())
        return json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        raise NbiFault(400, "BAD_REQUEST", f"body is not valid {kind}: {e}") from None


class _Handler(BaseHTTPRequestHandler):
    server: _Http
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: requests carry tokens in headers
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"code": "REQUEST_ENTITY_TOO_LARGE", "status": 413, "detail": "body too large"})
            return
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            path, _, query = self.path.partition("?")
            status, body = self.server.nbi.route(self.command, path, headers, raw, urllib.parse.parse_qs(query))
        except NbiFault as f:
            status, body = f.status, {"code": f.code, "status": f.status, "detail": f.detail}
        self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    nbi: StandinNbi


class StandinServer:
    """A running stand-in: `url` is its base (http://127.0.0.1:PORT); use as a context manager."""

    def __init__(self, nbi: StandinNbi, host: str, port: int) -> None:
        self.nbi = nbi
        self.httpd = _Http((host, port), _Handler)
        self.httpd.nbi = nbi
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="nbi-standin", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self.nbi.close()

    def __enter__(self) -> StandinServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
