"""Referential checks of one NSD against itself and the VNFDs it uses, plus `<placeholder>` coverage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from srchain.osm import ns_hostkeys
from srchain.osm.day12 import CharmCache, as_list, check_block, primitives
from srchain.osm.descriptors import Descriptor
from srchain.osm.findings import Finding

# Values OSM's LCM fills in itself; every other `<name>` must come from the instantiation parameters.
BUILTIN_PLACEHOLDERS = frozenset({"rw_mgmt_ip", "VDU_SCALE_INFO", "ns_config_info"})
PLACEHOLDER = re.compile(r"^<([^<>\s]+)>$")


def _known(ids: Any) -> str:
    names = sorted(str(i) for i in ids)
    return ", ".join(names) if names else "none"


def _ext_cpds(vnfd: Descriptor) -> set[str]:
    return {str(c.get("id")) for c in as_list(vnfd.body.get("ext-cpd"))}


def check_nsd(desc: Descriptor, vnfds: dict[str, Descriptor], charm_roots: list[Path],
              charms: CharmCache) -> list[Finding]:
    n = desc.body
    f = str(desc.file)
    p = f"nsd.nsd[{n.get('id')}]"
    out: list[Finding] = []
    declared = {str(x) for x in as_list(n.get("vnfd-id"))}
    for vid in sorted(declared):
        if vid not in vnfds:
            out.append(Finding(f, f"{p}.vnfd-id", "nsd.vnfd-id",
                               f"VNFD '{vid}' is not among the descriptors being validated; OSM refuses an NSD "
                               f"whose VNFDs are not onboarded (known: {_known(vnfds)})"))
    vlds = {str(v.get("id")) for v in as_list(n.get("virtual-link-desc"))}
    profiles: dict[str, str] = {}  # vnf-profile id (member-vnf-index) -> vnfd id
    for df in as_list(n.get("df")):
        dp = f"{p}.df[{df.get('id')}]"
        vl_profiles = {str(v.get("id")) for v in as_list(df.get("virtual-link-profile"))}
        for vp in as_list(df.get("vnf-profile")):
            vpid, vnfd_id = str(vp.get("id")), str(vp.get("vnfd-id"))
            pp = f"{dp}.vnf-profile[{vpid}]"
            profiles[vpid] = vnfd_id
            if vnfd_id not in declared:
                out.append(Finding(f, f"{pp}.vnfd-id", "nsd.vnfd-id",
                                   f"'{vnfd_id}' is not listed in the NSD's vnfd-id (listed: {_known(declared)})"))
            cpds = _ext_cpds(vnfds[vnfd_id]) if vnfd_id in vnfds else None
            for conn in as_list(vp.get("virtual-link-connectivity")):
                link = conn.get("virtual-link-profile-id")
                cp = f"{pp}.virtual-link-connectivity[{link}]"
                # OSM resolves this id against virtual-link-desc (strict SOL006: df.virtual-link-profile).
                if link not in vlds and link not in vl_profiles:
                    out.append(Finding(f, cp, "nsd.virtual-link",
                                       f"'{link}' is not a virtual-link-desc (known: {_known(vlds)})"))
                for cc in as_list(conn.get("constituent-cpd-id")):
                    base, cpd = str(cc.get("constituent-base-element-id")), cc.get("constituent-cpd-id")
                    if base != vpid:
                        out.append(Finding(f, f"{cp}.constituent-cpd-id[{base}]", "nsd.constituent",
                                           f"constituent-base-element-id '{base}' must be this "
                                           f"vnf-profile's id '{vpid}'"))
                    if cpds is not None and cpd not in cpds:
                        out.append(Finding(f, f"{cp}.constituent-cpd-id[{base} {cpd}]", "nsd.constituent",
                                           f"'{cpd}' is not an ext-cpd of VNFD '{vnfd_id}' (known: {_known(cpds)})"))
    out += _check_vnffgd(f, p, n, profiles, vnfds)
    config = n.get("ns-configuration")
    if isinstance(config, dict):
        out += check_block(f, config, f"{p}.ns-configuration", charm_roots, None, charms)
    return out


def _check_vnffgd(f: str, p: str, n: dict[str, Any], profiles: dict[str, str],
                  vnfds: dict[str, Descriptor]) -> list[Finding]:
    out: list[Finding] = []
    for fg in as_list(n.get("vnffgd")):
        fp = f"{p}.vnffgd[{fg.get('id')}]"
        members = {str(x) for x in as_list(fg.get("vnf-profile-id"))}
        for m in sorted(members - set(profiles)):
            out.append(Finding(f, f"{fp}.vnf-profile-id", "nsd.vnffgd",
                               f"'{m}' is not a vnf-profile (known: {_known(profiles)})"))
        for nfp in as_list(fg.get("nfpd")):
            for pos in as_list(nfp.get("position-desc-id")):
                for cpp in as_list(pos.get("cp-profile-id")):
                    for el in as_list(cpp.get("constituent-profile-elements")):
                        ep = (f"{fp}.nfpd[{nfp.get('id')}].position-desc-id[{pos.get('id')}]"
                              f".cp-profile-id[{cpp.get('id')}].constituent-profile-elements[{el.get('id')}]")
                        member = str(el.get("id"))
                        if member not in members:
                            out.append(Finding(f, ep, "nsd.vnffgd",
                                               f"'{member}' is not a member of this vnffgd "
                                               f"(members: {_known(members)})"))
                            continue
                        vnfd = vnfds.get(profiles.get(member, ""))
                        if vnfd is not None and el.get("cpd-id") not in _ext_cpds(vnfd):
                            out.append(Finding(f, f"{ep}.cpd-id", "nsd.vnffgd",
                                               f"'{el.get('cpd-id')}' is not an ext-cpd of VNFD '{vnfd.ident}' "
                                               f"(known: {_known(_ext_cpds(vnfd))})"))
    return out


def _placeholders(block: dict[str, Any], path: str) -> list[tuple[str, str]]:
    found = []
    for prim in primitives(block, path):
        for param in prim.params:
            for key in ("value", "default-value"):
                m = PLACEHOLDER.match(str(param.get(key, "")))
                if m:
                    found.append((m.group(1), f"{prim.path}.parameter[{param.get('name')}].{key}"))
    return found


def vnfd_blocks(vnfd: Descriptor) -> list[tuple[dict[str, Any], str]]:
    blocks = []
    for df in as_list(vnfd.body.get("df")):
        op = (df.get("lcm-operations-configuration") or {}).get("operate-vnf-op-config") or {}
        for b in as_list(op.get("day1-2")):
            blocks.append((b, f"vnfd.df[{df.get('id')}].lcm-operations-configuration."
                              f"operate-vnf-op-config.day1-2[{b.get('id')}]"))
    return blocks


JINJA_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def _cloud_init_variables(vnfd: Descriptor) -> list[tuple[str, str]]:
    """The jinja2 variables of each VDU's cloud-init-file (LCM renders it with the member's parameters,
    StrictUndefined), with where the VDU names the file."""
    found = []
    for i, vdu in enumerate(as_list(vnfd.body.get("vdu"))):
        name = vdu.get("cloud-init-file") if isinstance(vdu, dict) else None
        path = vnfd.root / "cloud_init" / str(name) if name else None
        if path is None or not path.is_file():
            continue  # rule cloud-init.file reports a missing file
        for var in sorted(set(JINJA_VARIABLE.findall(path.read_text()))):
            if var != "OSM":
                found.append((var, f"vnfd.vdu[{vdu.get('id', i)}].cloud-init-file"))
    return found


def _with_generated(have: set[str]) -> set[str]:
    return have | ns_hostkeys.GENERATED_PER_VNF if ns_hostkeys.KEY_TYPE in have else have


def check_placeholders(nsd: Descriptor, vnfds: dict[str, Descriptor], params: dict[str, Any],
                       params_file: str) -> list[Finding]:
    """Every `<name>` a primitive uses has a value in the ns-create parameters (`--config` YAML)."""
    out: list[Finding] = []
    # What `srchain osm ns-create` generates (ns_hostkeys): a host key pair for a member with the marker, and
    # the SSH proxies' public keys for the NS charm when any member has it.
    per_vnf = {str(v.get("member-vnf-index")): _with_generated(set((v.get("additionalParams") or {}).keys()))
               for v in as_list(params.get("additionalParamsForVnf")) if isinstance(v, dict)}
    ns_params = set((params.get("additionalParamsForNs") or {}).keys())
    if any(ns_hostkeys.KEY_TYPE in have for have in per_vnf.values()):
        ns_params |= ns_hostkeys.GENERATED_PER_NS
    config = nsd.body.get("ns-configuration")
    if isinstance(config, dict):
        for name, where in _placeholders(config, f"nsd.nsd[{nsd.ident}].ns-configuration"):
            if name not in ns_params | BUILTIN_PLACEHOLDERS:
                out.append(Finding(str(nsd.file), where, "placeholder",
                                   f"<{name}> has no value: add it to additionalParamsForNs in {params_file}"))
    for df in as_list(nsd.body.get("df")):
        for vp in as_list(df.get("vnf-profile")):
            member, vnfd = str(vp.get("id")), vnfds.get(str(vp.get("vnfd-id")))
            if vnfd is None:
                continue
            have = per_vnf.get(member, set()) | BUILTIN_PLACEHOLDERS
            for name, where in _cloud_init_variables(vnfd):
                if name not in have:
                    out.append(Finding(str(vnfd.file), where, "placeholder",
                                       f"{{{{ {name} }}}} in the cloud-init has no value for vnf-profile '{member}' of "
                                       f"NSD '{nsd.ident}' (LCM stops the instantiation): add it to "
                                       f"additionalParamsForVnf[member-vnf-index={member}].additionalParams in "
                                       f"{params_file}"))
            for block, path in vnfd_blocks(vnfd):
                for name, where in _placeholders(block, path):
                    if name not in have:
                        out.append(Finding(str(vnfd.file), where, "placeholder",
                                           f"<{name}> has no value for vnf-profile '{member}' of NSD '{nsd.ident}': "
                                           f"add it to additionalParamsForVnf[member-vnf-index={member}]"
                                           f".additionalParams in {params_file}"))
    return out
