"""Where OSM runs a package's proxy charms: `juju.cloud` of every proxy execution environment (OSM IM
`common-augments.yang`, grouping configuration-method: `cloud: lxd | k8s`, default lxd), set on the staged
descriptor when a package is built (`srchain package build --charm-cloud`).

LCM (`lcm_utils.py` `get_vca_info`) makes `cloud: k8s` a `k8s_proxy_charm`, which N2VC deploys into the VCA's
Kubernetes cloud with the series the charm or the model gives (`srchain.osm.n2vc_deploy`); `lxd` makes an
`lxc_proxy_charm` on a bionic LXD machine, where these charms cannot run (Python 3.6). Hence k8s by default.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from srchain.osm.day12 import as_list
from srchain.osm.descriptors import Descriptor
from srchain.osm.findings import OsmToolError

CHARM_CLOUDS = ("k8s", "lxd")
DEFAULT_CHARM_CLOUD = "k8s"
IM_DEFAULT_CLOUD = "lxd"  # what OSM reads when `cloud` is absent

# A one-line flow mapping `juju: {charm: X, proxy: true}`, the form every descriptor here uses; editing the text
# (not dumping parsed YAML) keeps the descriptor's comments and layout in the package.
_FLOW_JUJU = re.compile(r"^(?P<head>[ \t-]*juju:[ \t]*\{)(?P<body>[^{}\n]*)\}", re.MULTILINE)


def juju_blocks(desc: Descriptor) -> list[dict[str, Any]]:
    """Every `juju` mapping of the descriptor's day1-2 (VNFD) or ns-configuration (NSD) entries."""
    body = desc.body
    configs: list[Any] = []
    if desc.kind == "vnfd":
        for df in as_list(body.get("df")):
            op = (df.get("lcm-operations-configuration") or {}).get("operate-vnf-op-config") or {}
            configs += as_list(op.get("day1-2"))
    elif isinstance(body.get("ns-configuration"), dict):
        configs.append(body["ns-configuration"])
    blocks: list[Any] = []
    for c in configs:
        if isinstance(c, dict):
            blocks += [e.get("juju") for e in as_list(c.get("execution-environment-list")) if isinstance(e, dict)]
            blocks.append(c.get("juju"))
    return [b for b in blocks if isinstance(b, dict)]


def is_proxy(block: dict[str, Any]) -> bool:
    """LCM: a charm is a proxy charm unless `proxy` is false (`cloud` applies to proxy charms only)."""
    return bool(block.get("charm")) and block.get("proxy", True) is not False


def _with_cloud(match: re.Match[str], cloud: str) -> str:
    inner = match.group("body")
    parsed = yaml.safe_load("{" + inner + "}") or {}
    if not is_proxy(parsed) or "cloud" in parsed or cloud == IM_DEFAULT_CLOUD:
        return match.group(0)
    return f"{match.group('head')}{inner.rstrip()}, cloud: {cloud}}}"


def set_charm_cloud(desc: Descriptor, cloud: str) -> Descriptor:
    """Give every proxy charm of `desc` (a staged copy: its file is rewritten) `cloud`; return the result.
    A proxy charm whose descriptor already names another cloud stops the build (file and charm named): the
    author chose that cloud. The one-line `juju: {...}` blocks are edited in the text, keeping comments; a
    descriptor written otherwise is written back from its parsed form."""
    if cloud not in CHARM_CLOUDS:
        raise OsmToolError(f"charm cloud '{cloud}': must be one of {', '.join(CHARM_CLOUDS)}")
    conflicts = sorted(f"{b['charm']} (cloud: {b['cloud']})" for b in juju_blocks(desc)
                       if is_proxy(b) and b.get("cloud", cloud) != cloud)
    if conflicts:
        raise OsmToolError(f"{desc.file}: charm(s) {', '.join(conflicts)} cannot be deployed on cloud '{cloud}' "
                           "as asked: the descriptor names another cloud")
    wanted = copy.deepcopy(desc.data)
    for block in juju_blocks(Descriptor(desc.file, desc.root, wanted)):
        if is_proxy(block) and cloud != IM_DEFAULT_CLOUD:
            block["cloud"] = cloud
    if wanted == desc.data:
        return desc
    text = _FLOW_JUJU.sub(lambda m: _with_cloud(m, cloud), desc.file.read_text())
    if yaml.safe_load(text) != wanted:
        text = (json.dumps(wanted, indent=2) + "\n" if desc.file.suffix == ".json"
                else yaml.safe_dump(wanted, sort_keys=False))
    desc.file.write_text(text)
    return Descriptor(desc.file, desc.root, wanted)
