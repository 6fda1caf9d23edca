"""One unit of a built charm directory, run the way a Juju unit agent runs it (a stand-in, NOT Juju).

The unit gets its own copy of the charm (Juju unpacks the charm archive into the unit's `charm/` directory; ops
writes its stored state, `.unit-state.db`, there), a `bin/` with the hook tools (a launcher of the unit's copy of
`hooktools.py` under every tool's name, plus `python3` when the charm's interpreter is given) and a JSON state
file the tools read and write. Each hook or action is one run of the charm's `dispatch` with the environment Juju
sets for it (`JUJU_DISPATCH_PATH` `hooks/<hook>` or `actions/<action>`, `JUJU_HOOK_NAME` or `JUJU_ACTION_NAME` +
`JUJU_ACTION_UUID`, `JUJU_UNIT_NAME`, `JUJU_CHARM_DIR`, `JUJU_MODEL_NAME`, `JUJU_MODEL_UUID`, `JUJU_VERSION`,
`JUJU_CONTEXT_ID`; ops reads them in `ops/jujucontext.py` `JujuContext.from_dict`), the tools first on PATH, the
charm directory as working directory, no stdin.

What the controller would refuse is refused before anything runs, with nothing applied:
  * application config (`set_config`, what `juju config` and libjuju's `Application.set_config` send): every value
    a string (libjuju 3.x refuses others, `JujuApplicationConfigError`; 2.9.44 sends them to the `Set` facade's
    `options`, a map of strings), parsed per option type as juju/charm `config.go` `Config.ParseSettingsStrings` does
    (`unknown option "x"`, `option "x" expected int, got "abc"`; an empty string resets the option to its default);
    all settings or none; `config-changed` only when a value changed;
  * an action (`run_action`): an action the charm does not declare (N2VC's `Libjuju.execute_action`: `Action X not
    in available actions`), and parameters against the action's schema in actions.yaml (JSON-schema types,
    `required`, `additionalProperties: false` when declared; defaults filled in, as Juju does before the charm runs).
    The texts of these parameter refusals are the stand-in's, not Juju's.
A hook whose dispatch exits non-zero leaves the unit in `error` (Juju's hook error): `HookFailed`.

Relations (`relations.py`, which imports this module; here only the `RelationStore` / `RelationHook` protocols):
a unit given its model's `Relations` store (`relations=`, or `Relations.relate`/`register`) takes part in
relations: its hook tools answer relation-ids/-list/-get/-set from the store (`SRCHAIN_RELATIONS_STATE`), the
store's resolver runs its `<endpoint>-relation-*` hooks (`run_relation_hook`, with `JUJU_RELATION`,
`JUJU_RELATION_ID`, `JUJU_REMOTE_UNIT`, `JUJU_REMOTE_APP`, `JUJU_DEPARTING_UNIT`), and what a hook or action wrote
with relation-set reaches the store only when its dispatch exits 0 (Juju's relation-set doc: "All values are set in
a transaction at the point when the hook terminates successfully"); then the other side gets its -changed hooks.
Juju runs one hook at a time per unit: every dispatch (hook, action, relation hook) holds the unit's lock, and what
it committed is delivered to the other units after that lock is released.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from srchain.errors import SrchainError
from srchain.osm.unitagent import hooktools

TOOLS_MODULE = "srchain_unit_hooktools"  # the name the unit's copy of hooktools.py is imported under
JUJU_29 = "2.9.43"  # OSM's VCA (devops installer JUJU_AGENT_VERSION); docs/osm.md "Supported OSM, Juju and Ubuntu"
TOOLS = ("config-get", "is-leader", "status-set", "status-get", "juju-log", "action-get", "action-set",
         "action-fail", "action-log", "application-version-set", "opened-ports", "open-port", "close-port",
         "state-get", "state-set", "state-delete", "relation-ids", "relation-list", "relation-get", "relation-set",
         "goal-state", "leader-get", "leader-set", "storage-list")
RELATION_MODEL_TOOLS = ("relation-model-get",)  # Juju >= 3.6.2 (ops Relation.remote_model: "jujuadded 3.6.2")
RELATION_MODEL_SINCE = (3, 6, 2)
SECRET_TOOLS = ("secret-add", "secret-get", "secret-set", "secret-info-get", "secret-remove", "secret-ids",
                "secret-grant", "secret-revoke")
SECRETS_SINCE = (3, 0, 3)  # ops JujuVersion.has_secrets
JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                           "boolean": (bool,), "object": (dict,), "array": (list,)}


class JujuRefusal(SrchainError):
    """What the Juju controller refuses before any hook runs (config, action, parameters); nothing changed."""


class HookFailed(SrchainError):
    """A hook's dispatch exited non-zero: the unit is in error, as Juju puts it."""


class RelationStore(Protocol):
    """What a unit needs of its model's relation store (`relations.py` `Relations`, which imports this module)."""

    path: Path

    def register(self, unit: Unit) -> None: ...

    def relate(self, provider: Unit, provider_endpoint: str, requirer: Unit, requirer_endpoint: str) -> int: ...

    def commit(self, unit: Unit, pending: dict[str, dict[str, dict[str, str]]]) -> bool: ...

    def deliver(self) -> None: ...


class RelationHook(Protocol):
    """One relation hook to run (`relations.py` `RelationEvent`)."""

    @property
    def hook(self) -> str: ...

    def env(self) -> dict[str, str]: ...

    def context(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ActionOutcome:
    """A finished action as Juju reports it: `completed` or `failed` (action-fail's message, or a failed
    dispatch), the results `action-set` gave (kept on failure too) and `action-log` lines."""

    name: str
    status: str
    results: dict[str, Any]
    message: str = ""
    log: list[str] = field(default_factory=list)
    stderr: str = ""


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("-")[0].split(".")[:3] if p.isdigit())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class Unit:
    """`<application>/0` of the charm directory `charm`, living under `root` (created)."""

    def __init__(self, charm: Path, root: Path, *, python: str | None = None, juju_version: str = JUJU_29,
                 application: str | None = None, model: str = "osm", leader: bool = True,
                 timeout_s: float = 300.0, env: Mapping[str, str] | None = None,
                 config: Mapping[str, str] | None = None, relations: RelationStore | None = None) -> None:
        meta = yaml.safe_load((charm / "metadata.yaml").read_text()) or {}
        self.application = application or str(meta["name"])
        self.name = f"{self.application}/0"
        self.model = model
        self.juju_version = juju_version
        self.timeout_s = timeout_s
        self.extra_env = dict(env or {})
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.charm_dir = root / "charm"
        shutil.copytree(charm, self.charm_dir, symlinks=True, copy_function=_link_or_copy)
        self.options: dict[str, dict[str, Any]] = (
            (yaml.safe_load((charm / "config.yaml").read_text()) or {}).get("options") or {}
            if (charm / "config.yaml").is_file() else {})
        self.actions: dict[str, dict[str, Any]] = (
            yaml.safe_load((charm / "actions.yaml").read_text()) or {} if (charm / "actions.yaml").is_file() else {})
        self.bin = root / "bin"
        self.bin.mkdir()
        # The tools: `.hooktool`, a launcher of the unit's copy of hooktools.py (imported, so byte-compiled once, not
        # at each of the ~10 calls a hook makes); -I -S: stdlib only, no site-packages, no PYTHONPATH (dispatch's
        # lib:venv), a faster start.
        tools = root / ".hooktools"
        tools.mkdir()
        shutil.copyfile(hooktools.__file__, tools / f"{TOOLS_MODULE}.py")
        tool = self.bin / ".hooktool"
        tool.write_text(f"#!{sys.executable} -IS\nimport sys\nsys.path.insert(0, {str(tools)!r})\n"
                        f"from {TOOLS_MODULE} import main\nsys.exit(main())\n")
        tool.chmod(0o755)
        has_secrets = version_tuple(juju_version) >= SECRETS_SINCE
        has_model_get = version_tuple(juju_version) >= RELATION_MODEL_SINCE
        for name in TOOLS + (SECRET_TOOLS if has_secrets else ()) + (RELATION_MODEL_TOOLS if has_model_get else ()):
            (self.bin / name).symlink_to(".hooktool")
        if python:
            (self.bin / "python3").symlink_to(python)
        self.state_file = root / "state.json"
        self.settings: dict[str, Any] = {}  # what was set; config-get adds the defaults
        # `juju deploy --config` (N2VC deploys a proxy charm with none: tests use it for what the VM's defaults
        # would be, e.g. the test sshd's port)
        self.settings.update({k: v for k, v in self.parse_settings(config or {}).items() if v is not None})
        self._write({"juju_version": juju_version, "unit": self.name, "leader": leader, "config": self.config,
                     "action": None, "status": {"unit": ["maintenance", ""], "app": ["unknown", ""]},
                     "status_history": [], "log": [], "calls": [], "state": {}, "secrets": {},
                     "relation_hook": None, "relation_pending": {}})
        self.hooks_run: list[str] = []
        self.timings: list[tuple[str, float]] = []  # (dispatch path, seconds) of every dispatch run
        self._lock = threading.Lock()  # Juju runs one hook (or action) at a time per unit
        self.relations: RelationStore | None = None
        if relations is not None:
            relations.register(self)

    # --- state ------------------------------------------------------------------------------------
    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.state_file)

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def _update(self, **values: Any) -> None:
        state = self.state()
        state.update(values)
        self._write(state)

    @property
    def config(self) -> dict[str, Any]:
        """What `config-get` answers: set values, else non-null defaults."""
        out = {k: o["default"] for k, o in self.options.items() if o.get("default") is not None}
        out.update(self.settings)
        return out

    @property
    def status(self) -> tuple[str, str]:
        status = self.state()["status"]["unit"]
        return str(status[0]), str(status[1])

    @property
    def logs(self) -> list[tuple[str, str]]:
        return [(str(level), str(msg)) for level, msg in self.state()["log"]]

    def add_user_secret(self, content: Mapping[str, str]) -> str:
        """A secret an operator made and granted (`juju add-secret`, `juju grant-secret`, Juju >= 3.3): its URI."""
        if version_tuple(self.juju_version) < (3, 3):
            raise JujuRefusal(f"Juju {self.juju_version} has no user secrets (juju add-secret is 3.3+)")
        xid = uuid.uuid4().hex[:20]
        state = self.state()
        state["secrets"][xid] = {"content": dict(content), "label": None, "description": None, "owner": "model",
                                 "revision": 1}
        self._write(state)
        return f"secret:{xid}"

    # --- running the charm ---------------------------------------------------------------------------
    def _env(self, dispatch_path: str) -> dict[str, str]:
        env = {"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root), "LANG": "C.UTF-8",
               "JUJU_DISPATCH_PATH": dispatch_path, "JUJU_CHARM_DIR": str(self.charm_dir),
               "JUJU_UNIT_NAME": self.name, "JUJU_MODEL_NAME": self.model, "JUJU_VERSION": self.juju_version,
               "JUJU_MODEL_UUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.model)), "JUJU_MACHINE_ID": "0",
               "JUJU_CONTEXT_ID": f"{self.name}-{dispatch_path.replace('/', '-')}-{uuid.uuid4().hex[:8]}",
               hooktools.STATE_ENV: str(self.state_file), **self.extra_env}
        if self.relations is not None:
            env[hooktools.RELATIONS_ENV] = str(self.relations.path)
        return env

    def _dispatch(self, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        try:
            return subprocess.run(["./dispatch"], cwd=self.charm_dir, env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=self.timeout_s, check=False)
        finally:
            self.timings.append((env["JUJU_DISPATCH_PATH"], time.monotonic() - started))

    def hook(self, name: str) -> None:
        """Run hook `name` (install, leader-elected, config-changed, start, ...); HookFailed when it fails. What it
        set on relations is committed, and delivered to the other side, when it succeeded."""
        with self._lock:
            changed = self._run_hook(name, {})
        if changed and self.relations is not None:
            self.relations.deliver()

    def run_relation_hook(self, event: RelationHook) -> None:
        """Run the relation hook `event` (`Relations` calls this; it chose the hook and tracks what the unit was
        told) with Juju's relation environment; HookFailed when it fails, and then its relation-set writes are
        dropped. Its committed changes are delivered by the caller's `Relations.settle`."""
        with self._lock:
            self._run_hook(event.hook, event.env(), event.context())

    def _run_hook(self, name: str, extra: Mapping[str, str], relation: Mapping[str, Any] | None = None) -> bool:
        """One hook's dispatch (the caller holds the unit's lock): whether it changed a relation databag."""
        self._update(config=self.config, action=None, relation_hook=dict(relation) if relation else None,
                     relation_pending={})
        env = {**self._env(f"hooks/{name}"), "JUJU_HOOK_NAME": name, **extra}
        done = self._dispatch(env)
        self.hooks_run.append(name)
        pending = self._take_pending()
        if done.returncode != 0:
            state = self.state()
            state["status"]["unit"] = ["error", f'hook failed: "{name}"']
            self._write(state)
            raise HookFailed(f"{self.name}: hook failed: \"{name}\" (dispatch exited {done.returncode}): "
                             f"{done.stderr.strip()[-1500:]}")
        return self._commit(pending)

    def _take_pending(self) -> dict[str, dict[str, dict[str, str]]]:
        """The finished dispatch's relation-set writes, cleared from the unit's state with its hook context."""
        state = self.state()
        pending: dict[str, dict[str, dict[str, str]]] = state.get("relation_pending") or {}
        state["relation_pending"], state["relation_hook"] = {}, None
        self._write(state)
        return pending

    def _commit(self, pending: dict[str, dict[str, dict[str, str]]]) -> bool:
        if not pending or self.relations is None:
            return False
        return self.relations.commit(self, pending)

    def relate(self, endpoint: str, requirer: Unit, requirer_endpoint: str) -> int:
        """`juju integrate <this app>:<endpoint> <requirer app>:<requirer_endpoint>`, this unit the provider:
        `Relations.relate` on the units' store (the model's: given to either unit); JujuRefusal when neither has
        one (the stand-in's text)."""
        store = self.relations or requirer.relations
        if store is None:
            raise JujuRefusal(f"{self.name} and {requirer.name} have no relation store: give their model's "
                              "(Unit(..., relations=Relations(path))) to either")
        return store.relate(self, endpoint, requirer, requirer_endpoint)

    def deploy(self) -> None:
        """A new unit's first hooks, in Juju's order: install, leader-elected (the only unit leads),
        config-changed, start."""
        self.hook("install")
        if self.state()["leader"]:
            self.hook("leader-elected")
        self.hook("config-changed")
        self.hook("start")

    def parse_settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Juju's parse of string settings (juju/charm config.go ParseSettingsStrings), all or nothing."""
        out: dict[str, Any] = {}
        for name, raw in values.items():
            option = self.options.get(name)
            if option is None:
                raise JujuRefusal(f'unknown option "{name}"')
            if not isinstance(raw, str):
                raise JujuRefusal(f'option "{name}": {raw!r} is a {type(raw).__name__}; application config takes '
                                  "strings (libjuju Application.set_config)")
            out[name] = None if raw == "" else _parse(name, str(option.get("type", "string")), raw)
        return out

    def set_config(self, values: Mapping[str, Any]) -> bool:
        """`juju config <app> k=v ...`: refused as a whole (JujuRefusal) or applied; config-changed runs when a
        value changed. Returns whether it ran."""
        parsed = self.parse_settings(values)
        before = self.config
        for name, value in parsed.items():
            if value is None:
                self.settings.pop(name, None)
            else:
                self.settings[name] = value
        if self.config == before:
            return False
        self.hook("config-changed")
        return True

    def _run_action(self, name: str, checked: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str],
                                                                        dict[str, Any], bool]:
        """The action's dispatch (the caller holds the unit's lock): (process, action record, relations changed).
        Its relation-set writes are committed when the dispatch exited 0, action-fail or not (Juju flushes the
        context unless the hook process failed)."""
        action_id = str(uuid.uuid4())
        self._update(config=self.config, action={"name": name, "params": checked, "results": {}, "failed": None,
                                                 "log": []}, relation_hook=None, relation_pending={})
        env = {**self._env(f"actions/{name}"), "JUJU_ACTION_NAME": name, "JUJU_ACTION_UUID": action_id}
        done = self._dispatch(env)
        pending = self._take_pending()
        state = self.state()
        record: dict[str, Any] = state["action"] or {}
        state["action"] = None
        self._write(state)
        return done, record, self._commit(pending) if done.returncode == 0 else False

    def check_params(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters Juju hands the charm: validated against the action's schema, defaults filled in."""
        if action not in self.actions:
            raise JujuRefusal(f"Action {action} not in available actions")
        spec = self.actions[action] or {}
        schema: dict[str, Any] = spec.get("params") or {}
        out = {k: v["default"] for k, v in schema.items() if isinstance(v, dict) and "default" in v}
        for name, value in params.items():
            prop = schema.get(name)
            if prop is None:
                if spec.get("additionalProperties") is False:
                    raise JujuRefusal(f"validation failed: (root) : additional property \"{name}\" is not allowed")
                out[name] = value
                continue
            kind = prop.get("type") if isinstance(prop, dict) else None
            if kind in JSON_TYPES and not _is_json_type(value, str(kind)):
                raise JujuRefusal(f"validation failed: (root).{name} : invalid type. Expected: {kind}, given: "
                                  f"{_json_type_name(value)}")
            out[name] = value
        for name in spec.get("required") or []:
            if name not in out:
                raise JujuRefusal(f"validation failed: (root) : \"{name}\" property is missing and required")
        return out

    def run_action(self, name: str, params: Mapping[str, Any] | None = None) -> ActionOutcome:
        """`juju run <unit> <action> k=v` (2.9: `run-action --wait`): the outcome; JujuRefusal before it runs."""
        checked = self.check_params(name, dict(params or {}))
        with self._lock:
            done, record, changed = self._run_action(name, checked)
        if changed and self.relations is not None:
            self.relations.deliver()
        results = dict(record.get("results") or {})
        if done.returncode != 0:  # Juju: the action fails with the hook's exit; results so far are kept
            return ActionOutcome(name, "failed", results, f"exit status {done.returncode}", record.get("log", []),
                                 done.stderr)
        if record.get("failed") is not None:
            return ActionOutcome(name, "failed", results, str(record["failed"]), record.get("log", []), done.stderr)
        return ActionOutcome(name, "completed", results, "", record.get("log", []), done.stderr)


def _parse(name: str, kind: str, raw: str) -> Any:
    def refuse() -> JujuRefusal:
        return JujuRefusal(f'option "{name}" expected {kind}, got {json.dumps(raw)}')

    if kind in ("string", "secret"):
        return raw
    if kind == "int":
        try:
            return int(raw, 10)
        except ValueError:
            raise refuse() from None
    if kind == "float":
        try:
            value = float(raw)
        except ValueError:
            raise refuse() from None
        if math.isnan(value) and raw.lower() != "nan":
            raise refuse()
        return value
    if kind == "boolean":  # Go strconv.ParseBool
        if raw in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if raw in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise refuse()
    raise JujuRefusal(f'option "{name}" has unknown type "{kind}"')


def _is_json_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, JSON_TYPES[kind])


def _json_type_name(value: Any) -> str:
    for name, types in (("boolean", (bool,)), ("integer", (int,)), ("number", (float,)), ("string", (str,)),
                        ("object", (dict,)), ("array", (list,))):
        if isinstance(value, types):
            return name
    return "null"
