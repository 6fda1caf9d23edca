"""Referential checks of one VNFD: the references OSM's IM validation leaves to instantiation time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srchain.osm.day12 import CharmCache, as_list, check_block
from srchain.osm.descriptors import Descriptor
from srchain.osm.findings import Finding
from srchain.osm.pdu import Switch


def _ids(items: Any, key: str = "id") -> set[str]:
    return {str(i.get(key)) for i in as_list(items) if isinstance(i, dict) and i.get(key) is not None}


def _known(ids: set[str]) -> str:
    return ", ".join(sorted(ids)) if ids else "none"


def check_vnfd(desc: Descriptor, charm_roots: list[Path], charms: CharmCache,
               switches: list[Switch] | None = None) -> list[Finding]:
    v = desc.body
    f = str(desc.file)
    out: list[Finding] = []
    vdus = {str(d.get("id")): d for d in as_list(v.get("vdu")) if isinstance(d, dict)}
    ext_cpds = _ids(v.get("ext-cpd"))
    int_vlds = _ids(v.get("int-virtual-link-desc"))

    mgmt = v.get("mgmt-cp")
    if mgmt is None:
        out.append(Finding(f, "vnfd.mgmt-cp", "vnfd.mgmt-cp",
                           "mgmt-cp is not set: OSM needs it to find the VNF's management address (<rw_mgmt_ip>)"))
    elif mgmt not in ext_cpds:
        out.append(Finding(f, "vnfd.mgmt-cp", "vnfd.mgmt-cp",
                           f"'{mgmt}' is not an ext-cpd (known: {_known(ext_cpds)})"))

    out += _check_vdus(f, v, vdus, int_vlds, desc.root)
    out += _check_ext_cpds(f, v, vdus, int_vlds)
    monitoring = {str(m.get("id")) for d in vdus.values() for m in as_list(d.get("monitoring-parameter"))}
    for df in as_list(v.get("df")):
        out += _check_df(f, v, df, vdus, monitoring, ext_cpds, charm_roots, charms)
    if switches is not None:
        out += _check_pdus(f, vdus, switches)
    return out


def _check_vdus(f: str, v: dict[str, Any], vdus: dict[str, Any], int_vlds: set[str], root: Path) -> list[Finding]:
    out: list[Finding] = []
    refs = {"sw-image-desc": _ids(v.get("sw-image-desc")), "virtual-compute-desc": _ids(v.get("virtual-compute-desc")),
            "virtual-storage-desc": _ids(v.get("virtual-storage-desc"))}
    for vid, vdu in vdus.items():
        p = f"vnfd.vdu[{vid}]"
        for key, known in refs.items():
            values = vdu.get(key)
            for value in values if isinstance(values, list) else ([values] if values is not None else []):
                if str(value) not in known:
                    out.append(Finding(f, f"{p}.{key}", "vnfd.vdu-refs",
                                       f"'{value}' is not a {key} of this VNFD (known: {_known(known)})"))
        if vdu.get("pdu-type") is None and vdu.get("sw-image-desc") is None:
            out.append(Finding(f, p, "vnfd.vdu-refs", "a VM VDU needs a sw-image-desc (or pdu-type for a PDU)"))
        for cpd in as_list(vdu.get("int-cpd")):
            ivl = cpd.get("int-virtual-link-desc")
            if ivl is not None and ivl not in int_vlds:
                out.append(Finding(f, f"{p}.int-cpd[{cpd.get('id')}].int-virtual-link-desc", "vnfd.int-cpd",
                                   f"'{ivl}' is not an int-virtual-link-desc (known: {_known(int_vlds)})"))
        cloud_init = vdu.get("cloud-init-file")
        if cloud_init is not None and not (root / "cloud_init" / str(cloud_init)).is_file():
            out.append(Finding(f, f"{p}.cloud-init-file", "cloud-init.file",
                               f"'{cloud_init}' is missing: OSM reads it from cloud_init/{cloud_init} "
                               "in the package"))
    return out


def _check_ext_cpds(f: str, v: dict[str, Any], vdus: dict[str, Any], int_vlds: set[str]) -> list[Finding]:
    out: list[Finding] = []
    for cpd in as_list(v.get("ext-cpd")):
        p = f"vnfd.ext-cpd[{cpd.get('id')}]"
        link = cpd.get("int-cpd")
        if isinstance(link, dict):
            vdu_id = link.get("vdu-id")
            if vdu_id not in vdus:
                out.append(Finding(f, f"{p}.int-cpd.vdu-id", "vnfd.ext-cpd",
                                   f"'{vdu_id}' is not a vdu (known: {_known(set(vdus))})"))
            elif link.get("cpd") not in _ids(vdus[vdu_id].get("int-cpd")):
                known = _ids(vdus[vdu_id].get("int-cpd"))
                out.append(Finding(f, f"{p}.int-cpd.cpd", "vnfd.ext-cpd",
                                   f"'{link.get('cpd')}' is not an int-cpd of vdu '{vdu_id}' (known: {_known(known)})"))
        ivl = cpd.get("int-virtual-link-desc")
        if ivl is not None and ivl not in int_vlds:
            out.append(Finding(f, f"{p}.int-virtual-link-desc", "vnfd.ext-cpd",
                               f"'{ivl}' is not an int-virtual-link-desc (known: {_known(int_vlds)})"))
    return out


def _check_df(f: str, v: dict[str, Any], df: dict[str, Any], vdus: dict[str, Any], monitoring: set[str],
              ext_cpds: set[str], charm_roots: list[Path], charms: CharmCache) -> list[Finding]:
    out: list[Finding] = []
    p = f"vnfd.df[{df.get('id')}]"
    profiles = {str(vp.get("id")): vp for vp in as_list(df.get("vdu-profile"))}
    for pid in profiles:
        if pid not in vdus:
            out.append(Finding(f, f"{p}.vdu-profile[{pid}].id", "vnfd.vdu-profile",
                               f"'{pid}' is not a vdu (known: {_known(set(vdus))})"))
    for vid in vdus:
        if vid not in profiles:
            out.append(Finding(f, f"{p}.vdu-profile", "vnfd.vdu-profile",
                               f"vdu '{vid}' has no vdu-profile, so OSM would not instantiate it"))

    aspects = {str(a.get("id")): a for a in as_list(df.get("scaling-aspect"))}
    levels = _ids(df.get("instantiation-level"))
    for level in as_list(df.get("instantiation-level")):
        lp = f"{p}.instantiation-level[{level.get('id')}]"
        for vl in as_list(level.get("vdu-level")):
            if vl.get("vdu-id") not in vdus:
                out.append(Finding(f, f"{lp}.vdu-level[{vl.get('vdu-id')}]", "vnfd.instantiation-level",
                                   f"'{vl.get('vdu-id')}' is not a vdu (known: {_known(set(vdus))})"))
        for si in as_list(level.get("scaling-info")):
            if si.get("scaling-aspect-id") not in aspects:
                out.append(Finding(f, f"{lp}.scaling-info[{si.get('scaling-aspect-id')}]", "vnfd.instantiation-level",
                                   f"'{si.get('scaling-aspect-id')}' is not a scaling-aspect "
                                   f"(known: {_known(set(aspects))})"))
    default = df.get("default-instantiation-level")
    if default is not None and default not in levels:
        out.append(Finding(f, f"{p}.default-instantiation-level", "vnfd.instantiation-level",
                           f"'{default}' is not an instantiation-level (known: {_known(levels)})"))

    monitoring = monitoring | _ids(df.get("monitoring-parameter"))
    blocks = as_list(((df.get("lcm-operations-configuration") or {}).get("operate-vnf-op-config") or {}).get("day1-2"))
    config_primitives = {str(cp.get("name")) for b in blocks for cp in as_list(b.get("config-primitive"))}
    for aid, aspect in aspects.items():
        out += _check_aspect(f, f"{p}.scaling-aspect[{aid}]", aspect, vdus, profiles, monitoring, config_primitives)

    owners = {str(v.get("id"))} | set(vdus) | _ids(v.get("kdu"), "name")
    for block in blocks:
        bp = f"{p}.lcm-operations-configuration.operate-vnf-op-config.day1-2[{block.get('id')}]"
        if str(block.get("id")) not in owners:
            out.append(Finding(f, f"{bp}.id", "day1-2.id",
                               f"'{block.get('id')}' must be the VNFD id (VNF-level charm), a vdu id or a kdu name "
                               f"(known: {_known(owners)})"))
        out += check_block(f, block, bp, charm_roots, ext_cpds, charms)
    return out


def _check_aspect(f: str, p: str, aspect: dict[str, Any], vdus: dict[str, Any], profiles: dict[str, Any],
                  monitoring: set[str], config_primitives: set[str]) -> list[Finding]:
    out: list[Finding] = []
    max_level = int(aspect.get("max-scale-level") or 1)
    for delta in as_list((aspect.get("aspect-delta-details") or {}).get("deltas")):
        for vd in as_list(delta.get("vdu-delta")):
            vid = vd.get("id")
            dp = f"{p}.aspect-delta-details.deltas[{delta.get('id')}].vdu-delta[{vid}]"
            if vid not in vdus:
                out.append(Finding(f, dp, "vnfd.scaling-aspect", f"'{vid}' is not a vdu (known: {_known(set(vdus))})"))
                continue
            prof = profiles.get(str(vid)) or {}
            lo, hi = prof.get("min-number-of-instances"), prof.get("max-number-of-instances")
            if lo is not None and hi is not None:
                reach = int(lo) + max_level * int(vd.get("number-of-instances") or 1)
                if reach > int(hi):
                    out.append(Finding(f, dp, "vnfd.scaling-aspect",
                                       f"scaling to max-scale-level {max_level} needs {reach} instances of '{vid}' "
                                       f"but its vdu-profile allows at most {hi}"))
    for policy in as_list(aspect.get("scaling-policy")):
        for crit in as_list(policy.get("scaling-criteria")):
            ref = crit.get("vnf-monitoring-param-ref")
            if ref is not None and ref not in monitoring:
                out.append(Finding(f, f"{p}.scaling-policy[{policy.get('name')}].scaling-criteria[{crit.get('name')}]",
                                   "vnfd.scaling-aspect",
                                   f"vnf-monitoring-param-ref '{ref}' is not a monitoring-parameter "
                                   f"(known: {_known(monitoring)})"))
    for action in as_list(aspect.get("scaling-config-action")):
        ref = action.get("vnf-config-primitive-name-ref")
        if ref is not None and ref not in config_primitives:
            out.append(Finding(f, f"{p}.scaling-config-action[{action.get('trigger')}]", "vnfd.scaling-aspect",
                               f"'{ref}' is not a config-primitive (known: {_known(config_primitives)})"))
    return out


def pdu_interface_names(vdu: dict[str, Any]) -> set[str]:
    return {str(r.get("name")) for cpd in as_list(vdu.get("int-cpd"))
            for r in as_list(cpd.get("virtual-network-interface-requirement"))}


def _check_pdus(f: str, vdus: dict[str, Any], switches: list[Switch]) -> list[Finding]:
    """OSM picks a registered PDU of the VDU's pdu-type whose interface names include all of the VDU's."""
    out: list[Finding] = []
    for vid, vdu in vdus.items():
        ptype = vdu.get("pdu-type")
        if ptype is None:
            continue
        needed = pdu_interface_names(vdu)
        candidates = [s for s in switches if s.pdu_type == ptype]
        p = f"vnfd.vdu[{vid}]"
        if not candidates:
            types = sorted({s.pdu_type for s in switches})
            out.append(Finding(f, f"{p}.pdu-type", "pdu.interfaces",
                               f"no switch in the inventory has pdu-type '{ptype}' "
                               f"(types there: {_known(set(types))})"))
            continue
        if not any(needed <= s.interface_names for s in candidates):
            gaps = "; ".join(f"{s.name} lacks {', '.join(sorted(needed - s.interface_names))}" for s in candidates)
            out.append(Finding(f, f"{p}.int-cpd", "pdu.interfaces",
                               f"no switch of pdu-type '{ptype}' provides all interfaces "
                               f"{', '.join(sorted(needed))}: {gaps}"))
    return out
