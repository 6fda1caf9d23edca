"""Juju relations in the unit-agent stand-in (srchain.osm.unitagent.relations): two tiny real ops charms (ops 3.9, the
charms' version, from the project's venv, run by the project's Python through each unit's `dispatch`) related as
`juju integrate` relates them. Checked: the hooks a relation causes and their order and environment, the data the
two sides exchange until it settles, the application databag (leader only), a failing relation hook committing
nothing, the hook tools' answers and Juju's error texts, relate's refusals, remove-relation, and two related units
driven from two threads without a deadlock."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from osm_relcharms import build_charms, unit

from srchain.osm.unitagent.relations import Relations
from srchain.osm.unitagent.unit import HookFailed, JujuRefusal, Unit

pytestmark = pytest.mark.timeout(120)

CREATED, JOINED, CHANGED, DEPARTED, BROKEN = (f"db-relation-{k}" for k in
                                              ("created", "joined", "changed", "departed", "broken"))


@pytest.fixture(scope="module")
def charms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_charms(tmp_path_factory.mktemp("charms"))


def events(u: Unit) -> list[dict[str, Any]]:
    path = u.root / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def store_doc(store: Relations) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(store.path.read_text())
    return doc


def test_relate_runs_created_joined_changed_and_the_exchange_settles(charms: dict[str, Path], tmp_path: Path) -> None:
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store, config={"publish": "true", "app-data": "true"})
    app = unit(charms, "app", tmp_path, store, config={"publish": "true"})
    rid = store.relate(db, "db", app, "db")
    assert rid == 0
    # created on both sides first; then per remote unit joined, right away changed; later changes as they come.
    # The requirer hears of the provider's application databag (written in the provider's -joined) before it
    # joins: the uniter's resolver runs application -changed hooks before joins (operator#175, LP 1866828).
    assert [h for _, h, _ in store.log][:2] == [CREATED, CREATED]
    assert [(e["hook"], e["unit"]) for e in events(db)] == [
        (CREATED, None), (JOINED, "app/0"), (CHANGED, "app/0"), (CHANGED, "app/0")]
    assert [(e["hook"], e["unit"]) for e in events(app)] == [
        (CREATED, None), (CHANGED, None), (JOINED, "db/0"), (CHANGED, "db/0"), (CHANGED, "db/0")]
    assert db.status[0] != "error" and app.status[0] != "error"
    # the provider published in -joined, the requirer read it in its -changed and answered, the provider confirmed
    # the answer; the leader's application data reached the requirer; then nothing changed any more
    assert store.data(rid) == {"db/0": {"host": "db/0.example", "confirmed": "ack db/0.example"},
                               "db": {"token": "t0k3n"}, "app/0": {"ack": "ack db/0.example"}, "app": {}}
    assert store.settle() == []
    seen = events(app)
    created, joined = seen[0], seen[2]
    assert created["hook"] == CREATED and created["unit"] is None and created["units"] == []
    assert created["env"] == {"JUJU_RELATION": "db", "JUJU_RELATION_ID": "db:0", "JUJU_REMOTE_UNIT": "",
                              "JUJU_REMOTE_APP": "db", "JUJU_DEPARTING_UNIT": None}
    assert joined["hook"] == JOINED and joined["unit"] == "db/0" and joined["units"] == ["db/0"]
    assert joined["env"]["JUJU_REMOTE_UNIT"] == "db/0" and joined["ids"] == [0]
    unit_changes = [e for e in seen if e["hook"] == CHANGED and e["unit"] == "db/0"]
    assert unit_changes[0]["remote"] == {"host": "db/0.example"}
    assert unit_changes[-1]["remote"] == {"host": "db/0.example", "confirmed": "ack db/0.example"}
    app_changes = [e for e in seen if e["hook"] == CHANGED and e["unit"] is None]
    assert len(app_changes) == 1 and app_changes[0]["remote_app"] == {"token": "t0k3n"}
    assert app_changes[0]["env"]["JUJU_REMOTE_UNIT"] == "" and app_changes[0]["env"]["JUJU_REMOTE_APP"] == "db"
    assert [e["remote"] for e in events(db) if e["hook"] == CHANGED] == [{}, {"ack": "ack db/0.example"}]


def test_hook_tools_answer_as_juju_and_commit_on_success(charms: dict[str, Path], tmp_path: Path) -> None:
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store)
    app = unit(charms, "app", tmp_path, store, leader=False)
    rid = store.relate(db, "db", app, "db")
    r = f"db:{rid}"
    commands: list[tuple[list[str], int, str]] = [
        (["relation-ids", "db", "--format=json"], 0, '["db:0"]'),
        (["relation-list", "-r", r, "--format=json"], 0, '["db/0"]'),
        (["relation-list", "-r", r, "--app", "--format=json"], 0, '"db"'),
        (["relation-set", "-r", r, "k=v", "gone="], 0, ""),
        (["relation-set", "-r", r, "--file", "-"], 0, ""),  # ops' form: JSON on stdin
        (["relation-get", "--format=json", "-r", r, "-", "app/0"], 0, '{"j": "w", "k": "v"}'),  # own pending writes
        (["relation-get", "--format=json", "-r", r, "k", "app/0"], 0, '"v"'),
        (["relation-get", "--format=json", "-r", r, "nope", "app/0"], 0, "null"),
        (["relation-get", "--format=json", "-r", r, "--app", "-", "db"], 0, "{}"),  # the remote application's
        (["relation-get", "--format=json", "-r", r, "-", "db/0"], 0, "{}"),
        (["relation-set", "-r", r, "--app", "x=y"], 1, "ERROR cannot write relation settings"),
        (["relation-get", "--format=json", "-r", r, "--app", "-", "app"], 1, "ERROR permission denied"),
        (["relation-get", "--format=json", "-r", r, "-", "stranger/0"], 1, "ERROR permission denied"),
        (["relation-get", "--format=json", "-r", "db:7", "-", "db/0"], 1,
         'ERROR invalid value "db:7" for flag -r: relation not found'),
        (["relation-get", "--format=json", "-", "db/0"], 1, "ERROR no relation id specified"),
        (["relation-set", "-r", r, "a=1", "a=2"], 1, 'ERROR key "a" specified more than once'),
        (["relation-set", "-r", r, "novalue"], 1, 'ERROR expected "key=value", got "novalue"'),
    ]
    before = len(db.hooks_run)
    done = app.run_action("tools", {"commands": json.dumps([c for c, _, _ in commands]), "stdin": '{"j": "w"}'})
    assert done.status == "completed", done
    got = json.loads(done.results["out"])
    for (argv, code, text), (rc, out, err) in zip(commands, got, strict=True):
        assert (rc, out if rc == 0 else err) == (code, text), argv
    # committed once the action exited 0, and delivered: the provider's relation-changed saw it
    assert store.data(rid)["app/0"] == {"j": "w", "k": "v"}
    assert db.hooks_run[before:] == [CHANGED] and events(db)[-1]["remote"] == {"j": "w", "k": "v"}
    # a dispatch that fails commits nothing (and so delivers nothing)
    lost = app.run_action("tools", {"commands": json.dumps([["relation-set", "-r", r, "lost=1"]]), "exit": 1})
    assert lost.status == "failed" and json.loads(lost.results["out"]) == [[0, "", ""]]
    assert store.data(rid)["app/0"] == {"j": "w", "k": "v"} and db.hooks_run[before:] == [CHANGED]
    # calls are logged by tool name and argument count only
    calls = app.state()["calls"]
    assert ["relation-set", 4] in calls and all(len(c) == 2 and isinstance(c[1], int) for c in calls)


@pytest.mark.parametrize(("leader", "config", "why"), [
    (False, {"publish": "true", "app-data": "true"}, "is not leader and cannot write application data"),
    (True, {"publish": "true", "fail-on": JOINED}, "failing db-relation-joined on purpose"),
], ids=["non-leader-writes-app-databag", "hook-raises"])
def test_failing_relation_hook_commits_nothing_and_leaves_the_unit_in_error(
        charms: dict[str, Path], tmp_path: Path, leader: bool, config: dict[str, str], why: str) -> None:
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store, leader=leader, config=config)
    app = unit(charms, "app", tmp_path, store)
    with pytest.raises(HookFailed, match=f'db/0: hook failed: "{JOINED}"'):
        store.relate(db, "db", app, "db")
    assert any(why in line for _, line in db.logs)  # ops logs a hook's uncaught exception through juju-log
    assert db.status == ("error", f'hook failed: "{JOINED}"')
    # `host` was set before the hook failed: not committed, nor the application data; the other side was not told
    assert store.ids() == [0]
    assert store.data(0) == {"db/0": {}, "db": {}, "app/0": {}, "app": {}}
    assert db.hooks_run == [CREATED, JOINED] and app.hooks_run == [CREATED]
    assert db.state()["relation_pending"] == {}


def test_relate_refusals_change_nothing(charms: dict[str, Path], tmp_path: Path) -> None:
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store)
    app = unit(charms, "app", tmp_path, store)
    other = unit(charms, "other", tmp_path, None)
    elsewhere = Unit(charms["app"], tmp_path / "elsewhere", python=sys.executable, application="app2",
                     model="another")
    refusals = [
        ((db, "nope", app, "db"), 'application "db" has no "nope" relation'),  # state Application.Endpoint
        ((app, "db", db, "db"), "no relations found"),  # requires given as the provider (InferEndpoints)
        ((db, "db", other, "db"), "no relations found"),  # testdb vs otherdb
        ((db, "db", elsewhere, "db"), 'cannot relate units of models "osm" and "another"'),
    ]
    for args, text in refusals:
        with pytest.raises(JujuRefusal) as refused:
            store.relate(*args)
        assert str(refused.value).startswith(text), refused.value
    assert store_doc(store) == {"next_id": 0, "relations": {}}
    assert other.relations is None and elsewhere.relations is None
    assert all(u.hooks_run == [] for u in (db, app, other, elsewhere)) and store.log == []


def test_duplicate_refused_then_remove_runs_departed_then_broken(charms: dict[str, Path], tmp_path: Path) -> None:
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store)
    app = unit(charms, "app", tmp_path, store)
    rid = store.relate(db, "db", app, "db")
    doc, hooks = store_doc(store), (list(db.hooks_run), list(app.hooks_run))
    with pytest.raises(JujuRefusal) as refused:
        store.relate(db, "db", app, "db")
    # state.AddRelation's text (N2VC takes any "already exists" as done)
    assert str(refused.value) == 'cannot add relation "app:db db:db": relation app:db db:db already exists'
    assert store_doc(store) == doc and (db.hooks_run, app.hooks_run) == hooks
    store.remove(rid)
    for u, remote in ((db, "app"), (app, "db")):
        assert u.hooks_run[-2:] == [DEPARTED, BROKEN], u.hooks_run
        departed, broken = events(u)[-2:]
        # -departed: the departing remote unit, no longer in relation-list, its data still readable
        assert departed["unit"] == departed["departing"] == f"{remote}/0" and departed["units"] == []
        assert departed["env"]["JUJU_DEPARTING_UNIT"] == f"{remote}/0" and departed["remote"] == {}
        # -broken: no remote unit, the remote application; the relation is no longer in the model's relations
        assert broken["unit"] is None and broken["ids"] == [] and broken["units"] == []
        assert broken["env"]["JUJU_REMOTE_UNIT"] == "" and broken["env"]["JUJU_REMOTE_APP"] == remote
    assert store.ids() == []
    with pytest.raises(KeyError):
        store.data(rid)
    with pytest.raises(JujuRefusal, match="relation 0 not found"):
        store.remove(rid)


@pytest.mark.timeout(60)
def test_actions_on_two_related_units_from_two_threads_do_not_deadlock(charms: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    """db's action ends first and delivers its change to app while app's (longer) action still holds app's lock;
    app's own delivery then waits for db's to finish. Holding a unit's lock while delivering would deadlock."""
    store = Relations(tmp_path / "relations.json")
    db = unit(charms, "db", tmp_path, store)
    app = unit(charms, "app", tmp_path, store)
    rid = store.relate(db, "db", app, "db")
    with ThreadPoolExecutor(max_workers=2) as pool:
        fast = pool.submit(db.run_action, "set", {"key": "from-db", "value": "1"})
        slow = pool.submit(app.run_action, "set", {"key": "from-app", "value": "2", "sleep": 1.0})
        outcomes = [f.result(timeout=45) for f in (fast, slow)]
    assert [o.status for o in outcomes] == ["completed", "completed"], outcomes
    assert store.data(rid) == {"db/0": {"from-db": "1"}, "app/0": {"from-app": "2"}, "db": {}, "app": {}}
    assert events(db)[-1]["hook"] == CHANGED and events(db)[-1]["remote"] == {"from-app": "2"}
    assert events(app)[-1]["hook"] == CHANGED and events(app)[-1]["remote"] == {"from-db": "1"}
    assert store.failures == [] and store.settle() == []
