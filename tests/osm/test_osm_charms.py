"""Every charm is used by a descriptor and its actions are exactly the descriptors' primitives (each
charm's behaviour is tested against the real targets in test_osm_charm_*.py)."""

from __future__ import annotations

from osmlib import REPO

from srchain.osm.charmmeta import load_charm
from srchain.osm.descriptors import collect
from srchain.osm.nsd_checks import vnfd_blocks
from srchain.osm.package import charm_names

CHARMS = sorted(p for p in (REPO / "charms").iterdir() if p.is_dir())
SSH = {"generate-ssh-key", "get-ssh-public-key", "verify-ssh-credentials"}


def _primitives_by_charm() -> dict[str, set[str]]:
    found, _ = collect([REPO / "vnfd", REPO / "nsd"])
    out: dict[str, set[str]] = {}
    for d in found:
        blocks = [b for b, _ in vnfd_blocks(d)] if d.kind == "vnfd" else [d.body["ns-configuration"]]
        names = {p["name"] for b in blocks for key in ("config-primitive", "initial-config-primitive")
                 for p in b.get(key, []) if p["name"] != "config"}
        for charm in charm_names(d):
            out.setdefault(charm, set()).update(names)
    return out


def test_every_charm_is_used_and_its_actions_are_the_primitives() -> None:
    primitives = _primitives_by_charm()
    assert sorted(primitives) == [c.name for c in CHARMS]
    for charm_dir in CHARMS:
        actions = set(load_charm(charm_dir).actions)
        assert actions - SSH == primitives[charm_dir.name], charm_dir.name
