"""The LCM stand-in adds the NSD's relations as OSM's LCM does (`ns.py` `instantiate_N2VC` → `_add_vca_relations`):
after both charms are installed and before either's initial config primitives, once, through the unit-agent
stand-in's relations (real ops charms run by dispatch: osm_relcharms.py's tiny charms); a relation
that cannot be added fails the instantiation with LCM's text and runs no primitive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from osm_relcharms import build_charms, unit

from srchain.osm.unitagent.lcm import (
    RELATIONS_FAILED,
    ExecutionEnvironment,
    Lcm,
    LcmError,
    RelationSpec,
    ns_relations,
)

pytestmark = pytest.mark.timeout(120)

DEPLOY = ["install", "leader-elected", "config-changed", "start"]
DAY1 = {"initial-config-primitive": [{"seq": 1, "name": "config", "parameter": [{"name": "fail-on", "value": "x"}]}]}


@pytest.fixture(scope="module")
def charms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_charms(tmp_path_factory.mktemp("charms"))


def nsd(*relations: dict[str, Any]) -> dict[str, Any]:
    return {"id": "rel-ns", "ns-configuration": {"relation": list(relations)}}


def provider_requirer(name: str = "r1") -> dict[str, Any]:
    return {"name": name, "provider": {"vnf-profile-id": "m1", "endpoint": "db"},
            "requirer": {"vnf-profile-id": "m2", "endpoint": "db"}}


def ees(charms: dict[str, Path], tmp_path: Path, requirer: str = "app") -> tuple[ExecutionEnvironment, ...]:
    db = ExecutionEnvironment(unit(charms, "db", tmp_path, None, model="m-k8s"), "m1", DAY1)
    app = ExecutionEnvironment(unit(charms, requirer, tmp_path, None, model="m-k8s"), "m2", DAY1)
    return db, app


@pytest.mark.parametrize("concurrent", [False, True])
def test_relations_are_added_after_install_and_before_day1(charms: dict[str, Path], tmp_path: Path,
                                                           concurrent: bool) -> None:
    db, app = ees(charms, tmp_path)
    rels = ns_relations(nsd(provider_requirer()), {"m1": db, "m2": app})
    assert [(r.name, r.provider, r.provider_endpoint, r.requirer, r.requirer_endpoint) for r in rels] == [
        ("r1", db, "db", app, "db")]
    Lcm(concurrent=concurrent).instantiate_ns([db, app], None, relations=rels)
    for ee in (db, app):
        hooks = ee.unit.hooks_run
        assert hooks[:4] == DEPLOY, hooks
        first_relation = next(i for i, h in enumerate(hooks) if h.startswith("db-relation-"))
        day1 = len(hooks) - 1 - hooks[::-1].index("config-changed")  # the `config` primitive's config-changed
        assert first_relation >= 4 and hooks[first_relation] == "db-relation-created" and first_relation < day1
        assert [s.primitive for s in ee.steps][-1] == "config"
    # added once (both tasks see the relation; the second add would be Juju's "already exists")
    assert [s.primitive for s in db.steps].count("add-relation") + [s.primitive for s in app.steps].count(
        "add-relation") == 1
    store = db.unit.relations
    assert store is not None and store is app.unit.relations and len(store.ids()) == 1
    assert "db-relation-joined" in db.unit.hooks_run and "db-relation-joined" in app.unit.hooks_run


def test_a_relation_juju_refuses_fails_the_instantiation_before_any_primitive(charms: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    db, other = ees(charms, tmp_path, requirer="other")  # requires db of another interface
    rels = ns_relations(nsd(provider_requirer()), {"m1": db, "m2": other})
    with pytest.raises(LcmError) as e:
        Lcm().instantiate_ns([db, other], None, relations=rels)
    assert str(e.value) == RELATIONS_FAILED == "Relations could not be added to VCA."
    step = db.steps[-1]
    assert (step.primitive, step.ok) == ("add-relation", False)
    assert step.detail == f"Error adding relation between {db.ee_id} and {other.ee_id}: no relations found"
    assert [s.primitive for s in db.steps] == ["add-relation"] and other.steps == []  # no config, nothing else
    assert "config-changed" not in db.unit.hooks_run[4:]


def test_a_peer_that_never_installs_times_out_with_lcms_text(charms: dict[str, Path], tmp_path: Path) -> None:
    db, app = ees(charms, tmp_path)
    lcm = Lcm(relation_timeout_s=0.3)
    lcm.deploy(db)  # app is never deployed
    with pytest.raises(LcmError, match=f"^{RELATIONS_FAILED}$"):
        lcm.instantiate(db, relations=[RelationSpec("r1", db, "db", app, "db")])
    assert db.steps[-1].detail == "timeout adding relations: app not installed"
    assert not any(h.startswith("db-relation-") for h in db.unit.hooks_run)


def test_ns_relations_reads_the_nsd_as_lcm_does(charms: dict[str, Path], tmp_path: Path) -> None:
    db, app = ees(charms, tmp_path)
    envs = {"m1": db, None: app}
    entities = {"name": "old", "entities": [{"id": "m1", "endpoint": "db"}, {"id": "rel-ns", "endpoint": "db"}]}
    [rel] = ns_relations(nsd(entities), envs)  # the deprecated pair: the NSD's own id is the NS charm
    assert (rel.provider, rel.requirer) == (db, app)
    assert ns_relations(nsd(provider_requirer()), envs) == []  # m2 is not deployed here: left out
    with pytest.raises(LcmError, match=r"^provider/requirer or entities must be included in the relation\.$"):
        ns_relations(nsd({"name": "bad"}), envs)
    vdu = {"name": "v", "provider": {"vnf-profile-id": "m1", "vdu-profile-id": "vdu1", "endpoint": "db"},
           "requirer": {"endpoint": "db"}}
    with pytest.raises(LcmError, match="VDU- and KDU-level execution environments are not modelled"):
        ns_relations(nsd(vdu), envs)
