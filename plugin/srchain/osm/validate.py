"""`srchain package validate`: OSM IM validation (as OSM does it) plus the referential checks OSM leaves
to instantiation time, over a set of descriptors validated together (an NSD is checked against the
VNFDs given with it, as OSM checks it against the onboarded ones).

Rules (ids appear in every finding; docs/osm.md lists them with examples):
  im                    OSM IM (pyangbind) rejects the descriptor
  yaml, input           unreadable file / missing path
  vnfd.mgmt-cp          mgmt-cp missing or not an ext-cpd
  vnfd.vdu-refs         sw-image / compute / storage descriptors a VDU names must exist
  vnfd.int-cpd          int-cpd -> int-virtual-link-desc
  vnfd.ext-cpd          ext-cpd -> vdu / int-cpd / int-virtual-link-desc
  vnfd.vdu-profile      vdu-profile ids are VDUs; every VDU has a profile
  vnfd.instantiation-level, vnfd.scaling-aspect
  day1-2.id             a day1-2 entry belongs to the VNF, a VDU or a KDU
  day1-2.ee, day1-2.ee-ref  execution environments and the primitives' references to them
  charm.present         the charm directory (or .charm) is there and loadable
  charm.action, charm.param, charm.config   primitives vs the charm's actions and config options
  charm.ssh-access      ssh-access.required needs the charm's generate-ssh-key / get-ssh-public-key
  cloud-init.file       cloud_init/<file> is in the package
  nsd.vnfd-id, nsd.virtual-link, nsd.constituent, nsd.vnffgd
  placeholder           `<name>` values are provided by the ns-create parameters (with --params)
  pdu.interfaces        a switch of the inventory provides the PNF's pdu-type and interface names
  duplicate             two descriptors with the same id
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srchain.osm.checkout import find_checkout
from srchain.osm.day12 import CharmCache
from srchain.osm.descriptors import Descriptor, collect, read_yaml
from srchain.osm.findings import Finding, OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.nsd_checks import check_nsd, check_placeholders
from srchain.osm.pdu import Switch
from srchain.osm.vnfd_checks import check_vnfd


def default_charm_roots() -> list[Path]:
    """Charms outside a package: charms/ of the checkout this runs in (where the package builder takes them
    from); none outside a checkout."""
    root = find_checkout()
    return [root / "charms"] if root is not None else []


@dataclass
class Report:
    descriptors: list[Descriptor] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def for_rule(self, rule: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule]


def load_params(path: Path) -> dict[str, Any]:
    data, problem = read_yaml(path)
    if problem:
        raise OsmToolError(str(problem))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OsmToolError(f"{path}: ns-create parameters must be a mapping (the `osm ns-create --config` YAML)")
    return data


def validate_descriptors(descriptors: list[Descriptor], im: ImValidator | None,
                         charm_roots: list[Path] | None = None, params: dict[str, Any] | None = None,
                         params_file: str = "the ns-create parameters",
                         switches: list[Switch] | None = None) -> list[Finding]:
    extra_roots = default_charm_roots() if charm_roots is None else charm_roots
    charms = CharmCache()
    out: list[Finding] = []
    vnfds: dict[str, Descriptor] = {}
    seen: dict[tuple[str, str], Descriptor] = {}
    for d in descriptors:
        key = (d.kind, d.ident)
        if key in seen:
            out.append(Finding(str(d.file), f"{d.kind}.id", "duplicate",
                               f"{d.kind} id '{d.ident}' is also defined in {seen[key].file}"))
        seen[key] = d
        if d.kind == "vnfd":
            vnfds[d.ident] = d
    for d in descriptors:
        if im is not None:
            out += [Finding(str(d.file), d.kind, "im", e) for e in im.errors(d.data)]
        # A package's own charms/ first, then the shared charm directories.
        roots = [d.root / "charms", *extra_roots]
        if d.kind == "vnfd":
            out += check_vnfd(d, roots, charms, switches)
        else:
            out += check_nsd(d, vnfds, roots, charms)
            if params is not None:
                out += check_placeholders(d, vnfds, params, params_file)
    return out


def validate_paths(paths: list[Path], im: ImValidator | None, charm_roots: list[Path] | None = None,
                   params_path: Path | None = None, switches: list[Switch] | None = None) -> Report:
    descriptors, problems = collect(paths)
    params = load_params(params_path) if params_path else None
    report = Report(descriptors, list(problems))
    report.findings += validate_descriptors(descriptors, im, charm_roots, params,
                                            str(params_path) if params_path else "", switches)
    return report
