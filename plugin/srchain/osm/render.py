"""One chain spec + inventory -> the chain's OSM network service: an NSD, a PNF VNFD per switch and the
`osm ns-create --config_file` parameters, rendered with the jinja2 templates in `templates/` (package data).

Naming contract (docs/osm.md):
  * vnf-profile id (= member-vnf-index) = the inventory name of the switch, SR proxy or VNF instance;
  * NSD id `srchain-<chain>`; PNF VNFD `srchain-tofino-<switch>` with pdu-type `srchain-tofino-<switch>`
    (`srchain osm pdu` registers the switch with that type), one ext-cpd `port<N>-ext` per inventory port;
  * virtual links: `mgmtnet`, `<proxy>-sr` (switch port <-> proxy), `<proxy>-vnfs` (proxy <-> its VNFs),
    `host-<host>` (switch port <-> traffic host), `<a>p<N>-<b>p<M>` (switch <-> switch);
  * additionalParamsForNs: `chain_spec` and `inventory` (the YAML texts, which the controller charm gets as
    day-1 config); additionalParamsForVnf: every `<placeholder>` the VNFDs' primitives use; `vld`: the
    management IP of each SR proxy the controller reaches over SSH (= its inventory `ssh.host`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from srchain.bfrt.client import BfrtError
from srchain.errors import SrchainError
from srchain.model.inventory import Inventory
from srchain.model.inventory import Switch as InventorySwitch
from srchain.model.load import ChainModel, load_chain
from srchain.model.spec import Match, P4Segment, Rule, VnfSegment
from srchain.osm import ns_hostkeys
from srchain.osm.pdu import interface_name, pdu_type_for, port_link, vim_network_name
from srchain.targets.loader import Bundle

PROXY_VNFD = "srchain-sr-proxy"
# Inventory VNF kind -> the VNFD (vnfd/) that runs it, and its data connection point.
VNFD_BY_KIND = {
    "formatter": "srchain-formatter",
    "classifier": "srchain-classifier",
    "aggregator": "srchain-aggregator",
    "attack-mitigation": "srchain-mitigation",
    "mitigation": "srchain-mitigation",
}
VNF_DATA_CPD = "data-ext"
SAFE_IFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,13}$")
FROM_PACKAGE = "from-package"  # load-p4-program digest: the one the package build recorded (p4_switch)
# The vnffgd depends on the OSM release. From Release 15 on, RO realises an NSD's vnffgd as service function
# chaining at the VIM (NG-RO ns.py `calculate_all_differences_to_deploy` → `process_vnffgd_descriptor`, Feature 10980,
# tag release-v15.0-start; port pairs, port chains and flow classifiers): it would steer traffic that the controller
# charm steers with SR, it fails on a documentation-only vnffgd ('NoneType' object is not iterable: no
# match-attributes; then `order`, `ingress-constituent-cpd-id`, …), and LCM refuses to scale an NS with one
# (`Scaling is not allowed for NS with SFC`, which the classifier's scaling aspect needs). The 2025 NBI also
# refuses a vnffgd without `nfp-position-element` (NsdTopic.validate_vnffgd_data), which the IM of
# ../shared/osm-im (ef549b0) rejects. So: 14 → the vnffgd as documentation; 15 and later → none.
OSM_RELEASES = range(14, 19)
DEFAULT_OSM_RELEASE = 14
RO_SFC_SINCE = 15  # the first release whose RO deploys a vnffgd (the rendering leaves it out from there on)
NFP_POSITIONS_SINCE = 16  # the NBI's vnffgd check (nfp-position-element-id), as the stand-in applies it
# VNFDs with two data legs: (in: on the proxy's `<proxy>-vnfs` link, out: on its `<proxy>-vnfs-ret` link).
VNF_DATA_LEGS = {"srchain-mitigation": ("data-in-ext", "data-out-ext")}
# Day-1 values of the VNF primitives that the chain spec does not carry (the services' own defaults).
VNF_DEFAULTS: dict[str, dict[str, str]] = {
    "srchain-formatter": {"formatter_window_reports": "4"},
    "srchain-classifier": {"classifier_model": "default"},
    "srchain-mitigation": {"mitigation_rate_pps": "10000", "mitigation_fan_in": "100"},
}

# The VNF VMs' data interface (VNFD `data`, position 2) and the proxy VM's VDU and SR interface (VNFD names).
VNF_DATA_IFACE = "ens4"
PROXY_VDU, PROXY_SR_IFACE = "proxy-vm", "sr"
# Every VM member asks `srchain osm ns-create` for a host key generated at instantiation (ns_hostkeys).
VM_HOST_KEY = {ns_hostkeys.KEY_TYPE: "ed25519"}


class RenderError(SrchainError):
    """The chain cannot be expressed as an OSM network service; the message names what and why."""


def nsd_id(chain: str) -> str:
    return f"srchain-{chain}"


def pnf_vnfd_id(switch: str) -> str:
    return f"srchain-tofino-{switch}"


@dataclass
class Link:
    id: str
    description: str
    vim_network: str | None = None  # a link with a switch port: the VIM network the port is wired to


@dataclass
class Profile:
    id: str
    vnfd_id: str
    connectivity: list[tuple[str, list[str]]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)

    def connect(self, link: str, cpd: str) -> None:
        for name, cpds in self.connectivity:
            if name == link:
                cpds.append(cpd)
                return
        self.connectivity.append((link, [cpd]))


@dataclass
class Rendered:
    chain: str
    nsd_text: str
    pnf_texts: dict[str, str]  # switch name -> PNF VNFD text
    params: dict[str, Any]  # the ns-create --config_file content

    def files(self, root: Path) -> dict[Path, str]:
        """`nsd/<chain>/<chain>_nsd.yaml`, `vnfd/tofino-<switch>/tofino-<switch>_vnfd.yaml` and
        `nsd/<chain>.ns-config.yaml` under `root`, with their content."""
        files = {root / "nsd" / self.chain / f"{self.chain}_nsd.yaml": self.nsd_text,
                 root / "nsd" / f"{self.chain}.ns-config.yaml": params_text(self)}
        for sw, text in self.pnf_texts.items():
            files[root / "vnfd" / f"tofino-{sw}" / f"tofino-{sw}_vnfd.yaml"] = text
        return files

    def stale(self, root: Path) -> list[Path]:
        """The files under `root` that are missing or differ from this rendering."""
        return sorted(p for p, text in self.files(root).items() if not p.is_file() or p.read_text() != text)

    def write(self, root: Path) -> list[Path]:
        """Write `files(root)`; each file is replaced atomically."""
        files = self.files(root)
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.partial")
            tmp.write_text(text)
            tmp.replace(path)
        return sorted(files)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the spec and inventory texts) as readable `|` blocks."""


_BlockDumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def params_text(r: Rendered) -> str:
    head = (f"# `osm ns-create --config_file` parameters for NSD {nsd_id(r.chain)}; rendered by "
            "`srchain package render-nsd`.\n")
    return head + yaml.dump(r.params, Dumper=_BlockDumper, sort_keys=False, width=100)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("srchain.osm", "templates"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["j"] = lambda v: json.dumps(v)  # a JSON scalar is a valid, safely quoted YAML scalar
    env.filters["basename"] = lambda v: Path(str(v)).name
    return env


def rule_text(rule: Rule) -> str:
    m: Match = rule.match
    parts = [f"{k}={getattr(m, k)}" for k in ("src", "dst", "protocol", "ingress_port") if getattr(m, k) is not None]
    for k in ("src_port", "dst_port"):
        v = getattr(m, k)
        if v is not None:
            parts.append(f"{k}={v}" if isinstance(v, int) else f"{k}={v.value:#x}/{v.mask:#x}")
    return f"{rule.name}: " + (",".join(parts) or "any")


def _switch_cpd(sw: InventorySwitch) -> str:
    """Where a P4 module sits in the vnffgd: the switch's first fabric port (toward a switch or a proxy)."""
    fabric = [p for p in sorted(sw.ports, key=lambda p: p.port) if p.peer.kind != "host"]
    port = (fabric or sorted(sw.ports, key=lambda p: p.port))[0]
    return f"{interface_name(port.port)}-ext"


def vlan_netplan(vlans: list[tuple[str, int]]) -> str:
    """The `network:` value of the VMs' cloud-init netplan file for 802.1Q sub-interfaces `<iface>.<vlan>` (a YAML
    flow mapping without quotes: LCM's jinja2 autoescaping would change quotes). The parent is declared (netplan
    needs a vlan's `link` in its configuration) without settings, so cloud-init's own stay as they are."""
    for iface, vlan in vlans:
        if not SAFE_IFACE.match(iface) or not 1 <= vlan <= 4094:
            raise RenderError(f"VLAN attachment {iface}.{vlan}: not an interface name and 802.1Q VLAN ID")
    if not vlans:
        return "{version: 2}"
    parents = ", ".join(f"{i}: {{}}" for i in sorted({i for i, _ in vlans}))
    subs = ", ".join(f"{i}.{v}: {{id: {v}, link: {i}}}" for i, v in sorted(set(vlans)))
    return f"{{version: 2, ethernets: {{{parents}}}, vlans: {{{subs}}}}}"


def _vnf_vlan(inv: Inventory, inst: str) -> list[tuple[str, int]]:
    """The VLAN a one-legged VNF instance is attached by: its data interface then carries the same tag."""
    return [(VNF_DATA_IFACE, int(a.vlan)) for px in inv.proxies for a in px.attachments
            if a.vnf == inst and a.vlan]


def _vnf_profiles(model: ChainModel) -> tuple[list[Profile], list[str]]:
    """The chain's VNF instances, then every other VNF the inventory attaches to one of the chain's SR proxies:
    standing by (a VM, attached at the proxy, its charm's day 1 done; in no path) for a day-2 `add-segment` or
    `reconfigure-chain`, since OSM adds no VNF to a running NS. Returns (profiles, the chain's proxies)."""
    inv = model.inventory
    vnf_profiles: list[Profile] = []
    proxies: list[str] = []
    for seg in model.segments:
        if not isinstance(seg.spec, VnfSegment):
            continue
        proxy = seg.spec.proxy
        if proxy not in proxies:
            proxies.append(proxy)
        for inst in seg.instances:
            if not any(p.id == inst for p in vnf_profiles):
                vnf_profiles.append(_vnf_profile(model, inst, proxy, ""))
    for proxy in proxies:
        px = inv.proxy(proxy)
        assert px is not None  # load_chain checked it
        for att in px.attachments:
            if inv.vnf(att.vnf) is not None and not any(p.id == att.vnf for p in vnf_profiles):
                vnf_profiles.append(_vnf_profile(model, att.vnf, proxy, f" (attached to SR proxy {proxy}: in the NS, "
                                                                        "standing by)"))
    return vnf_profiles, proxies


def _vnf_profile(model: ChainModel, inst: str, proxy: str, standby: str) -> Profile:
    inv = model.inventory
    vnf = inv.vnf(inst)
    assert vnf is not None
    vnfd = VNFD_BY_KIND.get(vnf.kind)
    if vnfd is None:
        raise RenderError(f"{model.inventory_file}: VNF '{inst}'{standby} has kind '{vnf.kind}', which no srchain "
                          f"VNFD runs (known kinds: {', '.join(sorted(VNFD_BY_KIND))})")
    p = Profile(inst, vnfd, params={**VNF_DEFAULTS.get(vnfd, {}), **VM_HOST_KEY,
                                    "vlan_netplan": vlan_netplan(_vnf_vlan(inv, inst))})
    p.connect("mgmtnet", "mgmt-ext")
    if vnfd in VNF_DATA_LEGS:
        p.connect(f"{proxy}-vnfs", VNF_DATA_LEGS[vnfd][0])
        p.connect(f"{proxy}-vnfs-ret", VNF_DATA_LEGS[vnfd][1])
    else:
        p.connect(f"{proxy}-vnfs", VNF_DATA_CPD)
    return p


def _switch_profiles(inv: Inventory, links: dict[str, Link], p4_digests: dict[str, str]) -> list[Profile]:
    out = []
    for sw in inv.switches:
        p = Profile(sw.name, pnf_vnfd_id(sw.name),
                    params={"bfrt_port": sw.grpc.rpartition(":")[2], "p4_program": sw.program,
                            "device_id": str(sw.device_id),
                            "p4_program_digest": p4_digests.get(sw.program, FROM_PACKAGE)})
        p.connect("mgmtnet", "mgmt-ext")
        for port in sorted(sw.ports, key=lambda x: x.port):
            peer = port.peer
            link = port_link(sw.name, port)
            if peer.kind == "host":
                what = f"switch {sw.name} port {port.port} <-> host {peer.host}"
            elif peer.kind == "proxy":
                what = f"SR-MPLS link: switch {sw.name} port {port.port} <-> SR proxy {peer.proxy}"
            else:
                what = f"SR-MPLS link: switch {sw.name} port {port.port} <-> switch {peer.switch} port {peer.port}"
            links.setdefault(link, Link(link, what, vim_network_name(link)))
            p.connect(link, f"{interface_name(port.port)}-ext")
        out.append(p)
    return out


def _proxy_profiles(model: ChainModel, proxies: list[str], instances: set[str],
                    links: dict[str, Link]) -> list[Profile]:
    inv = model.inventory
    out = []
    for name in proxies:
        px = inv.proxy(name)
        assert px is not None
        sw, port = next(((s, p) for s in inv.switches for p in s.ports if p.peer.proxy == name), (None, None))
        if sw is None or port is None:
            raise RenderError(f"{model.inventory_file}: proxy '{name}' is not connected to any switch port")
        attachments = [a.model_dump(exclude_none=True) for a in px.attachments if a.vnf in instances]
        p = Profile(name, PROXY_VNFD, params={
            "sr_iface": px.sr_interface, "sr_next_hop_mac": port.mac,
            "vnf_attachments": json.dumps(attachments, separators=(",", ":")), **VM_HOST_KEY,
            "vlan_netplan": vlan_netplan([(str(a.iface), int(a.vlan)) for a in px.attachments
                                          if a.vnf in instances and a.iface and a.vlan])})
        p.connect("mgmtnet", "mgmt-ext")
        p.connect(f"{name}-sr", "sr-ext")
        p.connect(f"{name}-vnfs", "vnf-ext")
        p.connect(f"{name}-vnfs-ret", "vnf-ret-ext")
        links.setdefault(f"{name}-vnfs", Link(f"{name}-vnfs", f"plain IP between SR proxy {name} and its VNFs"))
        links.setdefault(f"{name}-vnfs-ret", Link(f"{name}-vnfs-ret", f"return leg of two-legged VNFs "
                                                                      f"(mitigation) to SR proxy {name}"))
        out.append(p)
    return out


def _positions(model: ChainModel, traffic: str) -> list[dict[str, Any]]:
    inv = model.inventory
    out = []
    for seg in model.segments:
        if not seg.takes(traffic):
            continue
        if isinstance(seg.spec, P4Segment):
            sw = inv.switch(seg.spec.switch)
            assert sw is not None
            elements = [(sw.name, _switch_cpd(sw))]
        else:
            elements = [(inst, _vnf_in_cpd(inv, inst)) for inst in seg.instances]
        out.append({"segment": seg.name, "elements": elements})
    return out


def _vnf_in_cpd(inv: Inventory, inst: str) -> str:
    vnf = inv.vnf(inst)
    vnfd = VNFD_BY_KIND.get(vnf.kind, "") if vnf else ""
    return VNF_DATA_LEGS[vnfd][0] if vnfd in VNF_DATA_LEGS else VNF_DATA_CPD


def _paths(model: ChainModel) -> list[dict[str, Any]]:
    rules = "; ".join(rule_text(r) for r in model.spec.classifier.rules)
    emitters = [s.name for s in model.segments if s.emits_reports]
    candidates = [("data", f"classifier on {model.spec.classifier.switch}: {rules}"),
                  ("reports", f"feature reports emitted by {', '.join(emitters)}")]
    return [{"id": pid, "rule": rule, "positions": pos}
            for pid, rule in candidates if (pos := _positions(model, pid))]


def render(model: ChainModel, osm_release: int = DEFAULT_OSM_RELEASE,
           p4_digests: dict[str, str] | None = None) -> Rendered:
    """The NS of `model` for OSM Release `osm_release` (OSM_RELEASES; a vnffgd only before RO_SFC_SINCE).
    `p4_digests` ({program: sha256:<hex>}): the digest each switch's load-p4-program requires of the bundle
    shipped in its charm; a program without one gets `from-package` (the digest the package build recorded)."""
    if osm_release not in OSM_RELEASES:
        raise RenderError(f"OSM release {osm_release}: not one this rendering knows "
                          f"({OSM_RELEASES.start}-{OSM_RELEASES.stop - 1})")
    if model.spec.dataplane == "srv6":  # IPv6 virtual links, SRv6 proxy config, Linux head/tail: not drawn yet
        raise RenderError(f"chain '{model.spec.chain}': the NS of an srv6 chain is not rendered yet (issue 19); "
                          "plan and apply it with 'srchain chain'")
    if model.inventory.sites:  # per-VNF VIM accounts and per-site networks: issue 20, not drawn yet
        raise RenderError(f"chain '{model.spec.chain}': the NS over a multi-site inventory "
                          f"({len(model.inventory.sites)} sites) is not rendered yet (docs/multisite.md); "
                          "plan it with 'srchain chain plan'")
    inv = model.inventory
    vnf_profiles, proxies = _vnf_profiles(model)
    links: dict[str, Link] = {}
    switch_profiles = _switch_profiles(inv, links, p4_digests or {})
    instances = {p.id for p in vnf_profiles}
    proxy_profiles = _proxy_profiles(model, proxies, instances, links)
    profiles = switch_profiles + proxy_profiles + vnf_profiles
    seen: dict[str, str] = {}
    for p in profiles:
        if p.id in seen:
            raise RenderError(f"{model.inventory_file}: '{p.id}' names both a {seen[p.id]} and a {p.vnfd_id}; "
                              "vnf-profile ids (member-vnf-index) are the inventory names, so they must differ")
        seen[p.id] = p.vnfd_id
    members: list[str] = []
    for seg in model.segments:
        names = [str(seg.spec.switch)] if isinstance(seg.spec, P4Segment) else [*seg.instances]
        if isinstance(seg.spec, VnfSegment):  # (a node segment is srv6: refused above)
            names.insert(0, str(seg.spec.proxy))
        members += [n for n in names if n not in members]
    spec = model.spec
    description = spec.description or f"srchain chain {spec.chain}"
    env = _env()
    nsd_text = env.get_template("nsd.yaml.j2").render(
        nsd_id=nsd_id(spec.chain), chain=spec.chain, description=description,
        spec_file=model.spec_file, inventory_file=model.inventory_file,
        vnfd_ids=sorted({p.vnfd_id for p in profiles}), links=sorted(links.values(), key=lambda v: v.id),
        profiles=profiles, fg_members=members, paths=_paths(model), osm_release=osm_release,
        vnffgd=osm_release < RO_SFC_SINCE,
        proxy_host_keys=any(px.ssh is not None and px.name in proxies for px in inv.proxies),
        login_proxies=[px.name for px in inv.proxies if px.ssh is not None and px.name in proxies])
    pnf = env.get_template("pnf_vnfd.yaml.j2")
    pnf_texts = {sw.name: pnf.render(vnfd_id=pnf_vnfd_id(sw.name), pdu_type=pdu_type_for(sw.name), switch=sw,
                                     inventory_file=model.inventory_file,
                                     ports=[interface_name(p.port) for p in sorted(sw.ports, key=lambda x: x.port)])
                 for sw in inv.switches}
    params = {
        "additionalParamsForNs": {"chain_spec": Path(model.spec_file).read_text(),
                                  "inventory": Path(model.inventory_file).read_text()},
        "additionalParamsForVnf": [{"member-vnf-index": p.id, "additionalParams": p.params}
                                   for p in profiles if p.params],
    }
    # A proxy the controller reaches over SSH gets the management address the inventory names (OSM's
    # instantiation-time `vld` ip-address), so the inventory given at ns-create is right for the VM.
    fixed = [{"member-vnf-index-ref": px.name, "vnfd-connection-point-ref": "mgmt-ext", "ip-address": px.ssh.host}
             for px in inv.proxies if px.ssh is not None and px.name in {p.id for p in profiles}]
    if fixed:
        params["vld"] = [{"name": "mgmtnet", "vnfd-connection-point-ref": fixed}]
    # The SR proxy VM's SR-side port gets the inventory's MAC (ns-create `vnf[].vdu[].interface[].mac-address`:
    # NBI marks it fixed-mac, RO creates the port with it), so the switch's next hop is right from day 1.
    params["vnf"] = [{"member-vnf-index": px.name, "vdu": [{"id": PROXY_VDU, "interface": [
        {"name": PROXY_SR_IFACE, "mac-address": px.mac}]}]} for px in inv.proxies if px.name in proxies]
    return Rendered(spec.chain, nsd_text, pnf_texts, params)


def render_files(spec_path: Path, inventory_path: Path, osm_release: int = DEFAULT_OSM_RELEASE,
                 p4_bundles: list[Path] | None = None) -> Rendered:
    """`p4_bundles`: compiled bundles (DIR named after the program) whose digests the NS config names."""
    digests = {}
    for d in p4_bundles or []:
        b = Bundle(d.name, d)
        try:
            digests[b.name] = f"sha256:{b.digest()}"
        except BfrtError as exc:
            raise RenderError(f"--p4-bundle {d}: {exc}") from None
    return render(load_chain(spec_path, inventory_path), osm_release, digests)
