"""OSM's side of `srchain demo --via-osm`: render the NS for the testbed's site, build the packages, run the NBI
stand-in with the LCM and unit-agent stand-ins behind it, onboard, create the PDU, `ns-create`, `ns-action`, all
through srchain's NBI client (`srchain osm … --via nbi`), as an operator would against OSM.

What OSM's other parts would learn elsewhere comes from the testbed: RO boots the VMs (`OsmTestbed.boot_vm`, the host
key from the cloud-init LCM renders) and puts each unit's public key on its VM (`inject_key`); a VM's `rw_mgmt_ip`
is its management address; a PNF's is its PDU's management interface. Each unit is a charm directory of the
onboarded package run by `srchain.osm.unitagent.unit.Unit`; its `state-dir` (a K8s proxy charm's pod filesystem)
is a directory of its own."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srchain.model.load import load_inventory
from srchain.osm import ns_hostkeys
from srchain.osm.checkout import require_checkout
from srchain.osm.day12 import as_list
from srchain.osm.im import ImValidator
from srchain.osm.nbi import Credentials, NbiClient
from srchain.osm.nbi_standin import NsInstance, StandinNbi
from srchain.osm.package import build_package
from srchain.osm.pdu import pdu_descriptors
from srchain.osm.render import Rendered, render_files
from srchain.osm.unitagent.lcm import Lcm, NbiLcm, application_name
from srchain.osm.unitagent.unit import Unit
from srchain_demo.osm.bed import OsmTestbed
from srchain_demo.osm.vms import cloud_init_host_key
from srchain_demo.testbed import MITIGATION_MAX_FAN_IN, MITIGATION_MAX_PPS

NS_NAME = "cg"
VIM = "demo-vim"
USER = "admin"
BASE_PYTHON = "3.10"  # the charms' base, ubuntu@22.04
VM_CHARMS = ("sr-proxy", "formatter", "classifier", "aggregator", "mitigation")


def charm_python() -> tuple[str, str]:
    """(interpreter, X.Y) the units run dispatch with: the charms' base Python 3.10 when this machine has one (the
    venv is then the one a package ships), else this interpreter (the venv is built for it)."""
    candidates = [*sorted(Path("/root/.pyenv/versions").glob(f"{BASE_PYTHON}*/bin/python{BASE_PYTHON}")),
                  shutil.which(f"python{BASE_PYTHON}")]
    for candidate in filter(None, candidates):
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        words = probe.stdout.split() or ["", ""]
        if probe.returncode == 0 and ".".join(words[1:]) == BASE_PYTHON:
            return words[0], BASE_PYTHON
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / f"python{version}"), version


def build(tb: OsmTestbed, spec: Path, out: Path, python_version: str) -> tuple[list[Path], Rendered]:
    """`srchain package render-nsd SPEC --inventory SITE --p4-bundle B -o out/site` and `srchain package build` of
    the NS, the PNF and the VM VNFs the NS uses: (packages, the rendering: its NSD id and ns-create parameters)."""
    checkout = require_checkout("srchain demo --via-osm builds the packages from the checkout's vnfd/ and charms/")
    rendered = render_files(spec, tb.site_inventory, p4_bundles=[tb.bundle])
    # the site's values in the ns-config, as an operator edits them: the mitigation's thresholds above the demo's
    # legitimate traffic (render-nsd's defaults would block its 20 kpps flow from one source)
    for member in as_list(rendered.params.get("additionalParamsForVnf")):
        if member.get("member-vnf-index") in tb.layout.mitigations:
            member["additionalParams"].update(mitigation_rate_pps=str(MITIGATION_MAX_PPS),
                                              mitigation_fan_in=str(MITIGATION_MAX_FAN_IN))
    site = out / "site"
    rendered.write(site)
    folders = [site / "nsd" / rendered.chain, *sorted((site / "vnfd").iterdir()),
               *(checkout / "vnfd" / name for name in VM_CHARMS)]
    im = ImValidator()
    pkgs = out / "packages"
    pkgs.mkdir(parents=True, exist_ok=True)
    built = [build_package(f, pkgs, im, charm_roots=[checkout / "charms"], charm_python=python_version,
                           p4_bundles=[tb.bundle]) for f in folders]
    return built, rendered


@dataclass
class OsmSession:
    """The NBI stand-in on 127.0.0.1 with NbiLcm behind it, and the client that talks to it."""

    tb: OsmTestbed
    work: Path
    python: str
    lcm: Lcm = field(default_factory=Lcm)
    note: Callable[[str], None] = lambda _: None

    def __post_init__(self) -> None:
        password = secrets.token_urlsafe(18)
        self.agent = NbiLcm(self.lcm, self.make_unit, inject_key=self.inject_key)
        self.nbi = StandinNbi({USER: password}, [VIM], im=ImValidator(), op_delay_s=0.0,
                              on_action=self.agent.action, on_instantiate=self.instantiate)
        self.server = self.nbi.serve()
        self.client = NbiClient(Credentials(self.server.url, USER, password), timeout_s=900)
        self.ns_id = ""

    # --- what the rest of OSM does (RO, the PDU, N2VC's units) -----------------------------------------
    def _ns(self, ns_name: str) -> NsInstance:
        return next(n for n in self.nbi.nss.values() if n.name == ns_name)

    def instantiate(self, ns: NsInstance) -> None:
        """RO boots the NS's VMs (cloud-init with the generated host key), then LCM runs the charms' day 1."""
        additional = {str(v.get("member-vnf-index")): v.get("additionalParams") or {}
                      for v in as_list(ns.params.get("additionalParamsForVnf")) if isinstance(v, dict)}
        for member, vnfd in ns.vnfds.items():
            for vdu in as_list(vnfd.body.get("vdu")):
                name = vdu.get("cloud-init-file")
                if name and member in self.tb.vms:
                    text = (vnfd.root / "cloud_init" / str(name)).read_text()
                    self.tb.boot_vm(member, cloud_init_host_key(text, additional.get(member, {})))
        self.note(f"RO: {len(self.tb.vms)} VMs booted (SSH on their management addresses); LCM: day 1 of every charm")
        self.agent.instantiate(ns)

    def inject_key(self, member: str, key: str) -> None:
        self.tb.vms[member].authorize(key)

    def _pdu_mgmt_ip(self, ns: NsInstance) -> str:
        for pid in ns.pdus:
            for iface in self.nbi.pdus[pid]["interfaces"]:
                if iface.get("mgmt"):
                    return str(iface["ip-address"])
        raise RuntimeError("the PNF's PDU has no management interface")

    def make_unit(self, ns_name: str, member: str | None, charm: str) -> tuple[Unit, dict[str, Any]]:
        ns = self._ns(ns_name)
        desc = ns.nsd if member is None else ns.vnfds[member]
        root = self.work / "units" / (member or "ns")
        state = {"state-dir": str(root / "pod" / "var-lib-srchain")} if member is None or member not in self.tb.vms \
            else {}
        unit = Unit(desc.root / "charms" / charm, root, python=self.python,
                    application=application_name(charm, member), model=f"{ns.id}-k8s", config=state)
        if member is None:
            return unit, {}
        if member in self.tb.vms:
            return unit, {"rw_mgmt_ip": self.tb.vms[member].address}
        return unit, {"rw_mgmt_ip": self._pdu_mgmt_ip(ns)}

    # --- the operator's commands ------------------------------------------------------------------------
    def onboard(self, packages: list[Path]) -> None:
        """`srchain osm pdu` + `srchain osm onboard`: the PDU first, VNF packages before the NS."""
        inv, _ = load_inventory(self.tb.site_inventory)
        for descriptor in pdu_descriptors(inv, [VIM]).values():
            self.client.pdu_create(descriptor)
        for pkg in sorted(packages, key=lambda p: p.name.endswith("_ns.tar.gz")):
            self.client.onboard(pkg)

    def ns_create(self, params: dict[str, Any], nsd_name: str, timeout_s: float = 900) -> dict[str, Any]:
        """`srchain osm ns-create --config-file … --wait`: host keys generated, then the operation waited for."""
        config, public = ns_hostkeys.with_host_keys(params)
        for member, key in sorted(public.items()):
            self.note(f"host key of {member}: {ns_hostkeys.fingerprint(key)}")
        self.ns_id, op_id = self.client.ns_create(NS_NAME, nsd_name, VIM, config)
        return self.client.wait(op_id, timeout_s, interval_s=0.1)

    def action(self, primitive: str, params: dict[str, Any], vnf: str | None = None,
               timeout_s: float = 600) -> dict[str, Any]:
        """`srchain osm ns-action cg --action-name P [--vnf-name M] --params … --wait`."""
        return self.client.wait(self.client.ns_action(NS_NAME, primitive, params, vnf), timeout_s, interval_s=0.05)

    def status(self) -> dict[str, Any]:
        return self.client.ns_status(NS_NAME)

    def units(self) -> dict[str | None, Unit]:
        return {member: ee.unit for (_, member), ee in self.agent.envs.items()}

    def close(self) -> None:
        self.server.close()


@contextmanager
def session(tb: OsmTestbed, work: Path, python: str, note: Callable[[str], None] = lambda _: None,
            lcm: Lcm | None = None) -> Iterator[OsmSession]:
    s = OsmSession(tb, work, python, lcm or Lcm(), note)
    try:
        yield s
    finally:
        s.close()

