"""Two tiny real ops charms for the relation tests (test_osm_unitagent_relations.py, test_osm_lcm_relations.py): ops
3.9, the charms' version, from the project's venv, run by the project's Python through each unit's `dispatch`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ops
import yaml

from srchain.osm.unitagent.relations import Relations
from srchain.osm.unitagent.unit import Unit

SITE = Path(ops.__file__).resolve().parent.parent
# what `import ops` loads from site-packages: the charm's venv/ links just these (all of site-packages on PYTHONPATH
# would put e.g. its enum34 ahead of the standard library)
VENV_MODULES = ("ops", "opentelemetry", "typing_extensions.py", "websocket", "yaml")
CHARM = '''#!/usr/bin/env python3
"""Test charm: records every db relation event; `publish` makes the provider publish `host` (and, with
`app-data`, an application `token`) in -joined, the requirer answer `ack` in -changed and the provider confirm it."""
import json
import os
import subprocess
import time
from pathlib import Path

import ops


class RelCharm(ops.CharmBase):
    def __init__(self, framework):
        super().__init__(framework)
        on = self.on["db"]
        for e in (on.relation_created, on.relation_joined, on.relation_changed, on.relation_departed,
                  on.relation_broken):
            framework.observe(e, self._on_relation)
        framework.observe(self.on.set_action, self._on_set)
        framework.observe(self.on.tools_action, self._on_tools)

    def _on_relation(self, event):
        rel, hook = event.relation, os.environ["JUJU_HOOK_NAME"]
        departing = getattr(event, "departing_unit", None)
        record = {"hook": hook, "id": rel.id, "unit": event.unit.name if event.unit else None,
                  "units": sorted(u.name for u in rel.units), "departing": departing.name if departing else None,
                  "remote": dict(rel.data[event.unit]) if event.unit else None,
                  "remote_app": dict(rel.data[rel.app]) if rel.app is not None else None,
                  "ids": [r.id for r in self.model.relations["db"]],
                  "env": {k: os.environ.get(k) for k in ("JUJU_RELATION", "JUJU_RELATION_ID", "JUJU_REMOTE_UNIT",
                                                         "JUJU_REMOTE_APP", "JUJU_DEPARTING_UNIT")}}
        with open(Path(self.charm_dir).parent / "events.jsonl", "a") as f:
            f.write(json.dumps(record) + "\\n")
        provider = "db" in self.meta.provides
        if self.config.get("publish"):
            if provider and isinstance(event, ops.RelationJoinedEvent):
                rel.data[self.unit]["host"] = self.unit.name + ".example"
                if self.config.get("app-data"):
                    rel.data[self.app]["token"] = "t0k3n"
            if isinstance(event, ops.RelationChangedEvent) and event.unit:
                remote = rel.data[event.unit]
                if provider and remote.get("ack"):
                    rel.data[self.unit]["confirmed"] = remote["ack"]
                if not provider and remote.get("host"):
                    rel.data[self.unit]["ack"] = "ack " + remote["host"]
        if self.config.get("fail-on") == hook:
            raise RuntimeError("failing " + hook + " on purpose")

    def _on_set(self, event):
        time.sleep(float(event.params.get("sleep", 0)))
        self.model.get_relation("db").data[self.unit][event.params["key"]] = event.params["value"]

    def _on_tools(self, event):
        out = []
        for argv in json.loads(event.params["commands"]):
            done = subprocess.run(argv, capture_output=True, text=True, input=event.params.get("stdin", ""))
            out.append([done.returncode, done.stdout.strip(), done.stderr.strip()])
        event.set_results({"out": json.dumps(out)})
        if event.params.get("exit"):
            raise SystemExit(int(event.params["exit"]))


if __name__ == "__main__":
    ops.main(RelCharm)
'''
DISPATCH = '#!/bin/sh\nJUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" PYTHONPATH=lib:venv \\\n  exec ./src/charm.py\n'
CONFIG = {"options": {"publish": {"type": "boolean", "default": False},
                      "app-data": {"type": "boolean", "default": False},
                      "fail-on": {"type": "string", "default": ""}}}
ACTIONS = {"set": {"params": {"key": {"type": "string"}, "value": {"type": "string"}, "sleep": {"type": "number"}},
                   "required": ["key", "value"]},
           "tools": {"params": {"commands": {"type": "string"}, "stdin": {"type": "string"},
                                "exit": {"type": "integer"}}, "required": ["commands"]}}


def build_charms(root: Path) -> dict[str, Path]:
    """Built charm directories as the project's charms ship them (metadata/config/actions YAML, charmcraft's
    dispatch line, src/charm.py, lib/, venv/): `db` provides db (testdb), `app` requires it, `other` requires db
    of another interface."""
    out = {}
    for name, role, interface in (("db", "provides", "testdb"), ("app", "requires", "testdb"),
                                  ("other", "requires", "otherdb")):
        d = root / name
        (d / "src").mkdir(parents=True)
        (d / "lib").mkdir()
        (d / "venv").mkdir()
        for module in VENV_MODULES:
            assert (SITE / module).exists(), module
            (d / "venv" / module).symlink_to(SITE / module)
        (d / "metadata.yaml").write_text(yaml.safe_dump({"name": name, role: {"db": {"interface": interface}}}))
        (d / "config.yaml").write_text(yaml.safe_dump(CONFIG))
        (d / "actions.yaml").write_text(yaml.safe_dump(ACTIONS))
        (d / "dispatch").write_text(DISPATCH)
        (d / "src" / "charm.py").write_text(CHARM)
        for f in (d / "dispatch", d / "src" / "charm.py"):
            f.chmod(0o755)
        out[name] = d
    return out


def unit(charms: dict[str, Path], name: str, root: Path, store: Relations | None, **kw: Any) -> Unit:
    return Unit(charms[name], root / name, python=sys.executable, relations=store, **kw)
