"""Load a chain spec and an inventory, validate both, and check every reference between them.

Every problem found becomes an `Issue` naming file, line, path and reason; all of them are reported
together in one `SpecError`, so a user fixes a file in one pass.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from srchain.model.errors import Issue, SpecError
from srchain.model.inventory import Inventory, Proxy
from srchain.model.modules import MODULES, Traffic
from srchain.model.sites import check_sites
from srchain.model.spec import ChainSpec, NodeSegment, P4Segment, VnfSegment
from srchain.model.yamlsource import Loc, YamlDoc, load_yaml

_UNION_TAGS = {"P4Segment", "VnfSegment", "NodeSegment"}  # discriminator tags pydantic inserts into error locations


def _pydantic_issues(doc: YamlDoc, exc: ValidationError, prefix: Loc = ()) -> list[Issue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *(p for p in err["loc"] if p not in _UNION_TAGS))
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        msg = msg.removeprefix("Value error, ")
        issues.append(doc.issue(loc, msg))
    return issues


def _parse(doc: YamlDoc, model: type[BaseModel]) -> Any:
    if not isinstance(doc.data, dict):
        raise SpecError([Issue(doc.file, "", "the document must be a mapping", doc.line_of(()))])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(_pydantic_issues(doc, exc)) from None


def load_spec(path: str | Path) -> tuple[ChainSpec, YamlDoc]:
    doc = load_yaml(path)
    return _parse(doc, ChainSpec), doc


def load_inventory(path: str | Path) -> tuple[Inventory, YamlDoc]:
    doc = load_yaml(path)
    inv: Inventory = _parse(doc, Inventory)
    issues = check_inventory(inv, doc)
    if issues:
        raise SpecError(issues)
    return inv, doc


def _duplicates(doc: YamlDoc, items: Iterable[tuple[Loc, str]], what: str) -> list[Issue]:
    items = list(items)
    counts = Counter(name for _, name in items)
    return [doc.issue(loc, f"{what} '{name}' is defined more than once") for loc, name in items if counts[name] > 1]


def check_inventory(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    issues: list[Issue] = []
    issues += _duplicates(doc, ((("switches", i, "name"), s.name) for i, s in enumerate(inv.switches)), "switch")
    issues += _duplicates(doc, ((("hosts", i, "name"), h.name) for i, h in enumerate(inv.hosts)), "host")
    issues += _duplicates(doc, ((("proxies", i, "name"), p.name) for i, p in enumerate(inv.proxies)), "proxy")
    issues += _duplicates(doc, ((("vnfs", i, "name"), v.name) for i, v in enumerate(inv.vnfs)), "VNF")
    proxy_links: Counter[str] = Counter()
    for si, sw in enumerate(inv.switches):
        issues += _duplicates(
            doc, ((("switches", si, "ports", pi, "port"), str(p.port)) for pi, p in enumerate(sw.ports)), "port"
        )
        for pi, port in enumerate(sw.ports):
            loc: Loc = ("switches", si, "ports", pi, "peer")
            peer = port.peer
            if peer.switch is not None:
                other = inv.switch(peer.switch)
                if other is None:
                    issues.append(doc.issue((*loc, "switch"), f"unknown switch '{peer.switch}'"))
                    continue
                back = other.port_by_number(peer.port or 0)
                if back is None:
                    issues.append(doc.issue((*loc, "port"), f"unknown port {peer.port} on switch '{peer.switch}'"))
                elif back.peer.switch != sw.name or back.peer.port != port.port:
                    issues.append(
                        doc.issue(
                            loc,
                            f"link is one-sided: {peer.switch} port {peer.port} does not "
                            f"connect back to {sw.name} port {port.port}",
                        )
                    )
            elif peer.proxy is not None:
                proxy_links[peer.proxy] += 1
                if inv.proxy(peer.proxy) is None:
                    issues.append(doc.issue((*loc, "proxy"), f"unknown proxy '{peer.proxy}'"))
            elif peer.host is not None and inv.host(peer.host) is None:
                issues.append(doc.issue((*loc, "host"), f"unknown host '{peer.host}'"))
            elif peer.srv6_node is not None:
                node = inv.srv6_node(peer.srv6_node)
                if node is None:
                    known = ", ".join(n.name for n in inv.srv6_nodes) or "none"
                    issues.append(doc.issue((*loc, "srv6_node"),
                                            f"unknown SRv6 node '{peer.srv6_node}' (inventory has: {known})"))
                elif node.mac is None:
                    issues.append(doc.issue((*loc, "srv6_node"), f"SRv6 node '{node.name}' has no 'mac': a switch "
                                            "port that peers with it needs the MAC to send it frames"))
    issues += _duplicates(doc, ((("srv6_nodes", i, "name"), n.name) for i, n in enumerate(inv.srv6_nodes)),
                          "SRv6 node")
    issues += _locator_overlaps(inv, doc)
    for pi, px in enumerate(inv.proxies):
        # an SRv6 proxy may be reached by IPv6 routing alone (an sr-mpls chain checks for its link)
        srv6_only = px.locator is not None and not proxy_links[px.name]
        if proxy_links[px.name] != 1 and not srv6_only:
            how = (
                "not connected to any switch port"
                if not proxy_links[px.name]
                else (f"connected to {proxy_links[px.name]} switch ports; an SR proxy has one SR-side link")
            )
            issues.append(doc.issue(("proxies", pi, "name"), f"proxy '{px.name}' is {how}"))
        issues += _duplicates(
            doc,
            ((("proxies", pi, "attachments", ai, "vnf"), a.vnf) for ai, a in enumerate(px.attachments)),
            "attachment for VNF",
        )
        for ai, att in enumerate(px.attachments):
            if inv.vnf(att.vnf) is None:
                issues.append(doc.issue(("proxies", pi, "attachments", ai, "vnf"), f"unknown VNF '{att.vnf}'"))
    issues += check_sites(inv, doc)
    return issues


def _locator_overlaps(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    """SRv6 locators are disjoint: a SID must name one node. Each clash is reported at the later locator."""
    seen: list[tuple[ipaddress.IPv6Network, str]] = []
    issues = []
    located = [(("switches", i), f"switch '{s.name}'", s.locator) for i, s in enumerate(inv.switches)]
    located += [(("proxies", i), f"proxy '{p.name}'", p.locator) for i, p in enumerate(inv.proxies)]
    located += [(("srv6_nodes", i), f"SRv6 node '{n.name}'", n.locator) for i, n in enumerate(inv.srv6_nodes)]
    for loc, who, locator in located:
        if locator is None:
            continue
        net = ipaddress.IPv6Network(locator)
        for other, other_who in seen:
            if net.overlaps(other):
                issues.append(doc.issue((*loc, "locator"), f"locator {net} overlaps {other} of {other_who}"))
        seen.append((net, who))
    return issues


@dataclass(frozen=True)
class ResolvedSegment:
    """A chain segment with its defaults filled in and its references checked."""

    index: int
    name: str
    kind: str  # "p4" | "vnf" | "node"
    traffic: Traffic
    spec: P4Segment | VnfSegment | NodeSegment
    params: BaseModel | None = None  # P4 module parameters

    @property
    def instances(self) -> list[str]:
        return self.spec.instances if isinstance(self.spec, VnfSegment) else [self.name]

    @property
    def emits_reports(self) -> bool:
        return isinstance(self.spec, P4Segment) and MODULES[self.spec.module].emits_reports

    def takes(self, path: str) -> bool:
        """Does this segment sit on the data path or on the report path ("data" | "reports")?"""
        return self.traffic in (path, "both")


@dataclass(frozen=True)
class ChainModel:
    spec: ChainSpec
    inventory: Inventory
    segments: list[ResolvedSegment]
    spec_file: str
    inventory_file: str


def check_chain(spec: ChainSpec, inv: Inventory, doc: YamlDoc) -> tuple[list[ResolvedSegment], list[Issue]]:
    issues: list[Issue] = []
    switches = ", ".join(s.name for s in inv.switches)
    cls = spec.classifier
    cls_switch = inv.switch(cls.switch) if cls.switch is not None else None
    if cls.switch is not None and cls_switch is None:
        issues.append(doc.issue(("classifier", "switch"), f"unknown switch '{cls.switch}' (inventory has: {switches})"))
    issues += check_dataplane(spec, inv, doc)
    issues += _duplicates(doc, ((("classifier", "rules", i, "name"), r.name) for i, r in enumerate(cls.rules)), "rule")
    for i, rule in enumerate(cls.rules):
        port = rule.match.ingress_port
        if cls_switch is not None and port is not None and cls_switch.port_by_number(port) is None:
            issues.append(
                doc.issue(
                    ("classifier", "rules", i, "match", "ingress_port"), f"unknown port {port} on switch '{cls.switch}'"
                )
            )

    issues += _duplicates(doc, ((("segments", i, "name"), s.name) for i, s in enumerate(spec.segments)), "segment")
    resolved: list[ResolvedSegment] = []
    for i, seg in enumerate(spec.segments):
        loc: Loc = ("segments", i)
        if isinstance(seg, P4Segment):
            if inv.switch(seg.switch) is None:
                issues.append(doc.issue((*loc, "switch"), f"unknown switch '{seg.switch}' (inventory has: {switches})"))
            info = MODULES.get(seg.module)
            if info is None:
                issues.append(
                    doc.issue((*loc, "module"), f"unknown P4 module '{seg.module}' (known: {', '.join(MODULES)})")
                )
                continue
            issues += _p4_dataplane(spec, seg, inv, doc, loc)
            try:
                params = info.params.model_validate(seg.params)
            except ValidationError as exc:
                issues += _pydantic_issues(doc, exc, (*loc, "params"))
                continue
            resolved.append(ResolvedSegment(i, seg.name, "p4", seg.traffic or info.default_traffic, seg, params))
        elif isinstance(seg, NodeSegment):
            issues += _node_segment(spec, seg, inv, doc, loc)
            resolved.append(ResolvedSegment(i, seg.name, "node", seg.traffic, seg))
        else:
            proxy = inv.proxy(seg.proxy)
            if proxy is None:
                known = ", ".join(p.name for p in inv.proxies) or "none"
                issues.append(doc.issue((*loc, "proxy"), f"unknown proxy '{seg.proxy}' (inventory has: {known})"))
            else:
                issues += _vnf_dataplane(spec, seg, proxy, inv, doc, loc)
            for j, inst in enumerate(seg.instances):
                iloc = (*loc, "vnf", j) if isinstance(seg.vnf, list) else (*loc, "vnf")
                if inv.vnf(inst) is None:
                    issues.append(doc.issue(iloc, f"unknown VNF '{inst}'"))
                elif proxy is not None and proxy.attachment(inst) is None:
                    issues.append(doc.issue(iloc, f"VNF '{inst}' has no attachment on proxy '{proxy.name}'"))
            resolved.append(ResolvedSegment(i, seg.name, "vnf", seg.traffic, seg))

    # Report semantics: a report-taking segment needs an emitter before it, an emitter a taker after it.
    seen_emitter = False
    for rs in resolved:
        if rs.traffic == "reports" and not seen_emitter:
            issues.append(
                doc.issue(
                    ("segments", rs.index, "traffic"),
                    f"segment '{rs.name}' takes reports but no report-emitting module (flow-features) comes before it",
                )
            )
        if rs.emits_reports:
            seen_emitter = True
            if not any(later.takes("reports") for later in resolved if later.index > rs.index):
                issues.append(
                    doc.issue(
                        ("segments", rs.index, "module"),
                        f"segment '{rs.name}' emits feature reports but no later segment takes "
                        "them (traffic: reports or both)",
                    )
                )
    return resolved, issues


def check_dataplane(spec: ChainSpec, inv: Inventory, doc: YamlDoc) -> list[Issue]:
    """The chain-level fields of its data plane: where it is classified, and SRv6's ends."""
    issues = []
    if spec.dataplane == "sr-mpls":
        if spec.classifier.node is not None:
            issues.append(doc.issue(("classifier", "node"), "an sr-mpls chain is classified on a switch: "
                                    "give 'switch' ('node' is an SRv6 head end)"))
        if spec.srv6 is not None:
            issues.append(doc.issue(("srv6",), "only for 'dataplane: srv6' (this chain is sr-mpls)"))
        return issues
    nodes = ", ".join(n.name for n in inv.srv6_nodes) or "none"
    if spec.classifier.node is not None and inv.srv6_node(spec.classifier.node) is None:
        issues.append(doc.issue(("classifier", "node"),
                                f"unknown SRv6 node '{spec.classifier.node}' (inventory has: {nodes})"))
    if spec.srv6 is None:
        issues.append(doc.issue(("dataplane",), "an srv6 chain needs 'srv6: {tail: NODE}' (where it decapsulates)"))
    elif inv.srv6_node(spec.srv6.tail) is None:
        issues.append(doc.issue(("srv6", "tail"), f"unknown SRv6 node '{spec.srv6.tail}' (inventory has: {nodes})"))
    if spec.classifier.switch is not None:
        issues += _switch_locator(inv, spec.classifier.switch, doc, ("classifier", "switch"),
                                  "a switch head end encapsulates from its locator's first address")
    return issues


SRV6_MODULES = ("flow-features", "priority")  # the P4 srv6 profile's modules (docs/p4.md "SRv6 profile")


def _switch_locator(inv: Inventory, name: str, doc: YamlDoc, loc: Loc, what: str) -> list[Issue]:
    sw = inv.switch(name)
    if sw is None or sw.locator is not None:
        return []
    return [doc.issue(loc, f"switch '{name}' has no SRv6 locator (inventory switches[].locator): {what}")]


def _p4_dataplane(spec: ChainSpec, seg: P4Segment, inv: Inventory, doc: YamlDoc, loc: Loc) -> list[Issue]:
    """What a P4 segment needs on an srv6 chain: a switch with a locator, a module of the srv6 profile."""
    if spec.dataplane != "srv6":
        return []
    issues = _switch_locator(inv, seg.switch, doc, (*loc, "switch"),
                             "an srv6 chain's module SIDs are functions of it")
    if seg.module in MODULES and seg.module not in SRV6_MODULES:
        issues.append(doc.issue((*loc, "module"), f"the P4 srv6 profile has no '{seg.module}' module (it runs "
                                f"{' and '.join(SRV6_MODULES)}); use an sr-mpls chain for it"))
    return issues


def _node_segment(spec: ChainSpec, seg: NodeSegment, inv: Inventory, doc: YamlDoc, loc: Loc) -> list[Issue]:
    """An End on a Linux SRv6 node: srv6 chains only, a node of the inventory."""
    if spec.dataplane != "srv6":
        return [doc.issue((*loc, "node"), "a Linux SRv6 node's End is an srv6 segment; an sr-mpls chain takes "
                          "P4 modules and VNFs")]
    if inv.srv6_node(seg.node) is None:
        known = ", ".join(n.name for n in inv.srv6_nodes) or "none"
        return [doc.issue((*loc, "node"), f"unknown SRv6 node '{seg.node}' (inventory has: {known})")]
    return []


def _vnf_dataplane(spec: ChainSpec, seg: VnfSegment, proxy: Proxy, inv: Inventory, doc: YamlDoc,
                   loc: Loc) -> list[Issue]:
    """What a VNF segment's proxy and behaviour need on the chain's data plane."""
    issues = []
    if spec.dataplane == "sr-mpls":
        if seg.behaviour == "masquerading":
            issues.append(doc.issue((*loc, "behaviour"), "masquerading (End.AM) is an SRv6 behaviour; "
                                    "an sr-mpls chain takes static or dynamic"))
        if not any(p.peer.proxy == proxy.name for s in inv.switches for p in s.ports):
            issues.append(doc.issue((*loc, "proxy"), f"proxy '{proxy.name}' has no switch link: an sr-mpls "
                                    "chain reaches its proxies through a switch"))
        return issues
    if proxy.locator is None:
        issues.append(doc.issue((*loc, "proxy"), f"proxy '{proxy.name}' has no SRv6 locator "
                                "(inventory proxies[].locator): an srv6 chain's proxy SIDs are functions of it"))
    if seg.behaviour == "dynamic" and seg.miss_policy == "fallback":
        issues.append(doc.issue((*loc, "miss_policy"), "fallback is SR-MPLS only: End.AD has no fallback "
                                "segment list (a miss is dropped and counted)"))
    return issues


def load_chain(spec_path: str | Path, inventory_path: str | Path) -> ChainModel:
    """Load and check both files; raises SpecError with every issue found."""
    inv, _ = load_inventory(inventory_path)
    return load_chain_on(spec_path, inv, inventory_path)


def load_chain_on(spec_path: str | Path, inv: Inventory, inventory_path: str | Path) -> ChainModel:
    """The spec checked against an inventory already loaded (from `inventory_path`)."""
    spec, doc = load_spec(spec_path)
    segments, issues = check_chain(spec, inv, doc)
    if issues:
        raise SpecError(issues)
    return ChainModel(spec, inv, segments, str(spec_path), str(inventory_path))
