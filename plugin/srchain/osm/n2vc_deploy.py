"""What OSM's N2VC, with python-libjuju 2.9.44.0, would deploy for a package's charm, read in their code (LCM 2025
with N2VC inside, `seltonlucas/osm-capk` 35936ae, `LCM/osm_lcm/`; libjuju 2.9.44.0 `juju/`); docs/osm.md
"Supported OSM, Juju and Ubuntu". Used by the NBI stand-in and the deployable-charm tests; no Juju runs here.

  * vca type (`lcm_utils.py` `get_vca_info`): `juju.charm` set → lxc_proxy_charm; `cloud: k8s` → k8s_proxy_charm,
    else `proxy: false` → native_charm.
  * lxc_proxy_charm: N2VC `create_machine` default `series="bionic"` (`n2vc/libjuju.py` ≈361); `deploy_charm`
    deploys with the machine's series.
  * k8s_proxy_charm (`n2vc_juju_conn.py` `install_k8s_proxy_charm` ≈492–572): model `<ns_id>-k8s` on the VCA's
    K8s cloud, `machine_id=None`, no series; libjuju `Model.deploy` (model.py ≈1705–1716): series = metadata
    `series[0]`, else the model's `default-series` (`bundle.get_charm_series`); base =
    `utils.get_local_charm_base`: from the series, else manifest.yaml `bases[0]`, else charmcraft.yaml
    `bases[0].run-on[0]`, else `JujuError("Unable to determine base for charm : <path>")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from srchain.errors import SrchainError

LXC_MACHINE_SERIES = "bionic"  # N2VC libjuju.create_machine's default; LCM never passes another
# libjuju 2.9.44.0 utils.UBUNTU_SERIES + KUBERNETES_SERIES: a series outside it is "Unknown series"
SERIES_VERSIONS = {
    "precise": "12.04", "quantal": "12.10", "raring": "13.04", "saucy": "13.10", "trusty": "14.04",
    "utopic": "14.10", "vivid": "15.04", "wily": "15.10", "xenial": "16.04", "yakkety": "16.10",
    "zesty": "17.04", "artful": "17.10", "bionic": "18.04", "cosmic": "18.10", "disco": "19.04",
    "eoan": "19.10", "focal": "20.04", "groovy": "20.10", "hirsute": "21.04", "impish": "21.10",
    "jammy": "22.04", "kinetic": "22.10", "kubernetes": "kubernetes",
}


class DeployError(SrchainError):
    """N2VC/libjuju would not deploy the charm (the message is libjuju's where libjuju raises)."""


@dataclass(frozen=True)
class Deployment:
    vca_type: str  # lxc_proxy_charm | k8s_proxy_charm | native_charm
    model: str  # the Juju model N2VC uses
    series: str | None  # what libjuju passes to Juju (None: none known, the base decides)
    base: tuple[str, str]  # (os name, channel) of the charm origin


def vca_type(juju: dict[str, Any]) -> str:
    """LCM `get_vca_info` for a `juju` execution environment."""
    kind = "lxc_proxy_charm" if juju.get("charm") is not None else "native_charm"
    if juju.get("cloud") == "k8s":
        return "k8s_proxy_charm"
    if juju.get("proxy") is False:
        return "native_charm"
    return kind


def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def local_charm_base(series: str | None, charm_dir: Path) -> tuple[str, str]:
    """libjuju 2.9.44 `utils.get_local_charm_base` (a charm directory)."""
    if series:
        if series not in SERIES_VERSIONS:
            raise DeployError(f"Unknown series : {series}")
        return ("kubernetes" if series == "kubernetes" else "ubuntu", SERIES_VERSIONS[series])
    bases = _yaml(charm_dir / "manifest.yaml").get("bases")
    if bases:
        return str(bases[0]["name"]), str(bases[0]["channel"])
    crafted = _yaml(charm_dir / "charmcraft.yaml").get("bases")
    if crafted:
        run_on = crafted[0]["run-on"][0]
        return str(run_on["name"]), str(run_on["channel"])
    raise DeployError(f"Unable to determine base for charm : {charm_dir}")


def plan(charm_dir: Path, juju: dict[str, Any], ns_id: str, model_default_series: str | None) -> Deployment:
    """The model, series and base N2VC + libjuju 2.9.44 would deploy `charm_dir` with.
    `model_default_series`: the VCA's model-config `default-series` (None: not set)."""
    kind = vca_type(juju)
    if kind == "native_charm":
        raise DeployError("a native charm deploys on the VNF's own machine; not modelled here")
    if kind == "lxc_proxy_charm":
        return Deployment(kind, ns_id, LXC_MACHINE_SERIES, local_charm_base(LXC_MACHINE_SERIES, charm_dir))
    listed = _yaml(charm_dir / "metadata.yaml").get("series")
    series = str(listed[0]) if listed else (model_default_series or None)
    return Deployment(kind, f"{ns_id}-k8s", series, local_charm_base(series, charm_dir))


def runs_there(dep: Deployment, charm_dir: Path) -> str | None:
    """Why the charm cannot run where `dep` puts it (its manifest lists no such base), or None."""
    bases = [(str(b.get("name")), str(b.get("channel")).split("/")[0])
             for b in _yaml(charm_dir / "manifest.yaml").get("bases") or [] if isinstance(b, dict)]
    if (dep.base[0], dep.base[1].split("/")[0]) in bases:
        return None
    built = ", ".join(f"{n}@{c}" for n, c in bases) or "none"
    return (f"{charm_dir.name}: {dep.vca_type} would run on {dep.base[0]}@{dep.base[1]} (series "
            f"{dep.series or 'none'}), but the charm is built for {built}")
