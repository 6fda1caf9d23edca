#!/usr/bin/env python3
"""Juju's hook tools for one unit, as a single stdlib-only module (a stand-in, NOT Juju). `unit.Unit` copies it into
the unit and puts a launcher of it (`main()`) into the unit's `bin/` under every tool's name (symlinks; the tool is
`basename(argv[0])`), pointed at the unit's JSON state file (`SRCHAIN_UNIT_STATE`). It imports nothing of the
project: the charm's own Python (its base's, 3.10) runs the charm, this file runs with the interpreter the stand-in
was started with (`-I -S`: no site-packages, no PYTHONPATH).

What each tool does is read from ops' own callers (canonical/operator `ops/hookcmds/` and `ops/model.py`
`_ModelBackend`, ops 3.9 as locked) and Juju's documented behaviour:
  * `config-get --format=json [key]`: the settings with a value (set, or a non-null default); a key without one
    is `null`, not an error;
  * `is-leader --format=json`; `action-get --format=json [dotted.key]`;
  * `action-set k=v ...`: dotted keys nest (ops flattens nested results that way); each segment lowercase letters,
    digits and inner hyphens, as Juju checks; `action-fail [--] [message]` (no message: Juju's default text);
    `action-log [--] message`;
  * `status-set [--application=BOOL] STATUS [--] [message]`; `status-get --include-data --format=json
    --application=BOOL`; `juju-log [--log-level L | -l L] [--] message`; `application-version-set [--] v`;
  * `state-get --format=json [key]`, `state-set --file -` (JSON on stdin), `state-delete key`: controller
    storage; `leader-get` / `leader-set`;
  * relations (when the unit belongs to a model's relation store, `SRCHAIN_RELATIONS_STATE`, `relations.py`;
    without one: none, empty answers): `relation-ids [--format=json] ENDPOINT`, `relation-list [--format=json]
    [-r ID] [--app]`, `relation-get [--format=json] [-r ID] [--app] [KEY|-] [UNIT|APP]`, `relation-set [-r ID]
    [--app] [--file PATH|-] [key=value ...]`, `relation-model-get [--format=json] [-r ID]` (Juju >= 3.6.2), as
    ops 3.9's `ops/hookcmds/_relation.py` sends them (`-r <endpoint>:<id>`, `relation-set --file -` with JSON; a
    `key: value` subset of YAML besides) and read as Juju's `worker/uniter/runner/jujuc/relation-*.go` do: `-r`
    defaults to the hook's relation, the text before the last `:` is ignored, an id the unit's context lacks is
    `relation not found` (`HookContext.Relation`; ops maps it to RelationNotFoundError); a relation hook's remote
    unit is the default, else its remote application; the own unit's databag and, for the leader, the own
    application's are read with this hook's own writes (`readLocalUnitOrAppSettings`), everything else as
    committed; a non-leader reading its own application's databag gets `permission denied` (the controller's
    ErrPerm, `ReadLocalApplicationSettings`), a non-leader's `relation-set --app` `cannot write relation
    settings`. Writes go to the unit's `relation_pending` and reach the store only when the hook exits 0
    (`unit.py`; Juju: "All values are set in a transaction at the point when the hook terminates successfully");
    an empty value deletes the key;
  * ports, goal state, storage: this unit has none (empty answers);
  * `secret-add / secret-get / secret-set / secret-info-get / secret-remove / secret-ids / secret-grant /
    secret-revoke` only when the unit's Juju version has secrets (`unit.py` installs them for >= 3.0.3, ops'
    `JujuVersion.has_secrets`); a missing secret answers `ERROR secret "x" not found` (ops maps "not found" to
    SecretNotFoundError, `_ModelBackend._wrap_hookcmd`).
Every call is appended to the state's `calls` as the tool's name and its argument count only (values may be
secrets); status changes and log lines are kept in full, as Juju keeps them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys

# Every tool call starts a process (~10 per hook): nothing imported that the tools can do without (typing, pathlib);
# mypy takes any `TYPE_CHECKING` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_ENV = "SRCHAIN_UNIT_STATE"
RELATIONS_ENV = "SRCHAIN_RELATIONS_STATE"  # the model's relation store (relations.py), when the unit has one
RELATION_TOOLS = ("relation-ids", "relation-list", "relation-get", "relation-set", "relation-model-get")
STDIN_TOOLS = ("state-set", "relation-set")  # the tools ops feeds on stdin (`--file -`)
PERMISSION_DENIED = "permission denied"  # apiserver/common/errors.go ErrPerm
KEY_SEGMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
SECRET_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # Juju's secret ids: 20-character xids, base32hex lowercase
NO_REASON = "action failed without reason given, check action for errors"
VALUE_FLAGS = {"--label", "--description", "--expire", "--rotate", "--owner", "--revision", "--relation", "--app",
               "--unit", "--log-level", "-l", "--file", "-r"}


class ToolError(Exception):
    """The tool's stderr line (`ERROR ...`) and exit status 1, as Juju's hook tools fail."""


def _read(path: str | os.PathLike[str]) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class LockedJson:
    """`with LockedJson(path) as doc:` the JSON document at `path` (`x.json`) under an exclusive lock on `x.lock`
    (fcntl: between processes and between threads, each open being its own lock), written back atomically when the
    block ends without an exception (unless `write` is false)."""

    def __init__(self, path: str | os.PathLike[str], write: bool = True) -> None:
        self.path = os.fspath(path)
        self.write = write
        self.data: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        self._lock = open(os.path.splitext(self.path)[0] + ".lock", "a")  # closed in __exit__
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            self.data = json.loads(_read(self.path))
        except BaseException:
            self._lock.close()
            raise
        return self.data

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None and self.write:
                tmp = os.path.splitext(self.path)[0] + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(json.dumps(self.data, indent=1, sort_keys=True))
                os.replace(tmp, self.path)
        finally:
            self._lock.close()


def _split(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """(flags, positionals): `--x=v`, `--x v` for the flags that take a value, bare flags as "true"; after `--`
    everything is positional."""
    flags: dict[str, str] = {}
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--":
            rest.extend(it)
            break
        if a.startswith("-") and len(a) > 1:
            name, eq, value = a.partition("=")
            if eq:
                flags[name] = value
            elif name in VALUE_FLAGS:
                flags[name] = next(it, "")
            else:
                flags[name] = "true"
        else:
            rest.append(a)
    return flags, rest


def _dotted_get(data: dict[str, Any], key: str) -> Any:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _content(pairs: list[str]) -> dict[str, str]:
    """`key=value` or `key#file=path` (how ops passes secret content: one file per key)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise ToolError(f'invalid key value "{pair}"')
        if key.endswith("#file"):
            key, value = key[: -len("#file")], _read(value)
        out[key] = value
    return out


def _find_secret(state: dict[str, Any], ident: str | None, label: str | None) -> tuple[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = state.setdefault("secrets", {})
    if ident:
        xid = ident.rsplit("/", 1)[-1].removeprefix("secret:")
        if xid in store:
            if label:
                store[xid]["label"] = label
            return xid, store[xid]
        raise ToolError(f'secret "{xid}" not found')
    for xid, secret in store.items():
        if label and secret.get("label") == label:
            return xid, secret
    raise ToolError(f'secret "{label}" not found')


def run(tool: str, args: list[str], state: dict[str, Any], stdin: str) -> str:
    """The tool's stdout; updates `state` in place; ToolError for a refusal."""
    flags, pos = _split(args)
    action: dict[str, Any] | None = state.get("action")
    if tool == "config-get":
        config: dict[str, Any] = state.get("config", {})
        return json.dumps(config.get(pos[0]) if pos else config)
    if tool == "is-leader":
        return json.dumps(bool(state.get("leader", False)))
    if tool.startswith("action-"):
        if action is None:
            raise ToolError(f"{tool}: not running an action")  # Juju: the tool exists only in an action context
        if tool == "action-get":
            return json.dumps(_dotted_get(action["params"], pos[0]) if pos else action["params"])
        if tool == "action-set":
            for pair in pos:
                key, eq, value = pair.partition("=")
                if not eq or not all(KEY_SEGMENT.match(p) for p in key.split(".")):
                    raise ToolError(f'key "{key}" must start and end with lowercase alphanumeric, and contain only '
                                    "lowercase alphanumeric, hyphens and periods")
                node = action["results"]
                *parents, leaf = key.split(".")
                for p in parents:
                    node = node.setdefault(p, {})
                node[leaf] = value
            return ""
        if tool == "action-fail":
            action["failed"] = " ".join(pos) or NO_REASON
            return ""
        if tool == "action-log":
            action["log"].append(" ".join(pos))
            return ""
    if tool == "status-set":
        if not pos:
            raise ToolError("invalid status, expected one of maintenance, blocked, waiting, active")
        which = "app" if flags.get("--application", "False").lower() == "true" else "unit"
        if which == "app" and not state.get("leader"):
            raise ToolError("this unit is not the leader")
        entry = [pos[0], " ".join(pos[1:])]
        state.setdefault("status", {})[which] = entry
        state.setdefault("status_history", []).append([which, *entry])
        return ""
    if tool == "status-get":
        unit = state.get("status", {}).get("unit", ["unknown", ""])
        if flags.get("--application", "false").lower() == "true":
            app = state.get("status", {}).get("app", ["unknown", ""])
            return json.dumps({"application-status": {"status": app[0], "message": app[1], "status-data": {},
                                                      "units": {}}})
        return json.dumps({"status": unit[0], "message": unit[1], "status-data": {}})
    if tool == "juju-log":
        level = flags.get("--log-level") or flags.get("-l") or "INFO"
        state.setdefault("log", []).append([level, " ".join(pos)])
        return ""
    if tool == "application-version-set":
        state["app_version"] = " ".join(pos)
        return ""
    if tool == "state-get":
        stored: dict[str, str] = state.setdefault("state", {})
        return json.dumps(stored.get(pos[0]) if pos else stored)
    if tool == "state-set":  # ops: `state-set --file -`, the mapping as JSON on stdin; or key=value pairs
        update = json.loads(stdin) if flags.get("--file") == "-" else _content(pos)
        state.setdefault("state", {}).update({str(k): str(v) for k, v in update.items()})
        return ""
    if tool == "state-delete":
        if pos:
            state.setdefault("state", {}).pop(pos[0], None)
        return ""
    if tool == "leader-get":
        settings: dict[str, str] = state.setdefault("leader_settings", {})
        return json.dumps(settings.get(pos[0]) if pos else settings)
    if tool == "leader-set":
        if not state.get("leader"):
            raise ToolError("cannot write leadership settings: not the leader")
        state.setdefault("leader_settings", {}).update(_content(pos))
        return ""
    if tool in RELATION_TOOLS:
        return _relation_tool(tool, args, state, stdin)
    if tool in ("opened-ports", "storage-list", "secret-ids"):
        return "[]" if tool != "secret-ids" else json.dumps(sorted(state.get("secrets", {})))
    if tool == "goal-state":
        return json.dumps({"units": {}, "relations": {}})
    if tool in ("open-port", "close-port"):
        return ""
    if tool == "secret-add":
        import secrets  # here: every tool call starts a process, most need no random source

        xid = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(20))
        state.setdefault("secrets", {})[xid] = {
            "content": _content(pos), "label": flags.get("--label"), "description": flags.get("--description"),
            "owner": flags.get("--owner", "application"), "revision": 1}
        return f"secret:{xid}"
    if tool == "secret-get":
        _, secret = _find_secret(state, pos[0] if pos else None, flags.get("--label"))
        return json.dumps(secret["content"])
    if tool == "secret-set":
        _, secret = _find_secret(state, pos[0] if pos else None, None)
        if pos[1:]:
            secret["content"] = _content(pos[1:])
            secret["revision"] += 1
        for flag in ("--label", "--description"):
            if flag in flags:
                secret[flag[2:]] = flags[flag]
        return ""
    if tool == "secret-info-get":
        xid, secret = _find_secret(state, pos[0] if pos else None, flags.get("--label"))
        return json.dumps({xid: {k: secret.get(k) for k in ("label", "description", "owner", "revision")}})
    if tool == "secret-remove":
        xid, _ = _find_secret(state, pos[0] if pos else None, None)
        del state["secrets"][xid]
        return ""
    if tool in ("secret-grant", "secret-revoke"):
        return ""
    raise ToolError(f"{tool}: not provided by this unit-agent stand-in")


# --- relations -----------------------------------------------------------------------------------------------------
# The store (relations.py `Relations`): {"next_id": n, "relations": {"<id>": {"endpoints": {app: endpoint},
# "roles": {app: "provider"|"requirer"}, "interface": ..., "key": "<req-app>:<ep> <prov-app>:<ep>", "dying": bool,
# "units": {app: [unit, ...]}, "data": {unit-or-app: {key: value}}, "versions": {unit-or-app: n},
# "seen": {unit: {"created": bool, "broken": bool, "members": {remote unit: version}, "apps": {remote app: version},
# "changed_pending": unit or null}}}}}. `seen` is each unit's uniter state (worker/uniter/relation: what it has
# been told); its `members` are what relation-list answers (the relation cache's MemberNames).
RELATION_VALUE_FLAGS = {"-r", "--relation", "--format", "--file", "-o", "--output"}
RELATION_FLAGS = {"relation-ids": {"--format", "-o", "--output"},
                  "relation-list": {"-r", "--relation", "--app", "--format", "-o", "--output"},
                  "relation-get": {"-r", "--relation", "--app", "--format", "-o", "--output"},
                  "relation-set": {"-r", "--relation", "--app", "--file", "--format"},
                  "relation-model-get": {"-r", "--relation", "--format", "-o", "--output"}}


def _gostr(value: str) -> str:
    return json.dumps(value)  # Go's %q, for the texts here


def _relation_args(tool: str, args: list[str]) -> tuple[dict[str, str], list[str]]:
    """gnuflag as juju/cmd parses these tools (flags may come between positionals, `--` ends them, `--app` is a
    boolean): (flags, positionals)."""
    flags: dict[str, str] = {}
    pos: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--":
            pos.extend(it)
            break
        if not a.startswith("-") or a == "-":
            pos.append(a)
            continue
        name, eq, value = a.partition("=")
        if name not in RELATION_FLAGS[tool]:
            raise ToolError(f"flag provided but not defined: {name}")
        if name in RELATION_VALUE_FLAGS and not eq:
            nxt = next(it, None)
            if nxt is None:
                raise ToolError(f"flag needs an argument: {name}")
            value = nxt
        elif not eq:
            value = "true"
        flags["-r" if name == "--relation" else name] = value
    return flags, pos


def _check_empty(pos: list[str]) -> None:
    if pos:  # juju/cmd CheckEmpty
        raise ToolError("unrecognized args: [" + " ".join(_gostr(p) for p in pos) + "]")


def _store_doc() -> dict[str, Any]:
    path = os.environ.get(RELATIONS_ENV)
    if not path:
        return {"next_id": 0, "relations": {}}
    with LockedJson(path, write=False) as doc:
        return doc


def _me(state: dict[str, Any]) -> tuple[str, str]:
    unit = str(state.get("unit", ""))
    return unit, unit.split("/")[0]


def in_context(rel: dict[str, Any], unit: str, rid: int, hook_rid: int | None) -> bool:
    """Whether relation `rid` is in `unit`'s hook context: its application is an end and the unit has not run its
    relation-broken yet (during that hook it still is: `HookContext.Relation` finds it, `RelationIds` skips it)."""
    app = unit.split("/")[0]
    if app not in rel.get("endpoints", {}):
        return False
    return not (rel.get("seen", {}).get(unit, {}).get("broken") and hook_rid != rid)


def remote_app(rel: dict[str, Any], app: str) -> str:
    return next((a for a in sorted(rel.get("endpoints", {})) if a != app), app)


def _hook_relation(state: dict[str, Any]) -> dict[str, Any]:
    hook: dict[str, Any] = state.get("relation_hook") or {}
    return hook


def _relation(doc: dict[str, Any], state: dict[str, Any], flags: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The relation `-r` names (`relationIdValue.Set`: the text after the last `:` is the id) or the hook's."""
    unit, _ = _me(state)
    hook = _hook_relation(state)
    hook_rid = int(hook["id"]) if hook else None
    ref = flags.get("-r")
    if ref is None:
        if hook_rid is None:
            raise ToolError("no relation id specified")
        rid = hook_rid
    else:
        try:
            rid = int(ref.rsplit(":", 1)[-1])
        except ValueError:
            raise ToolError(f"invalid value {_gostr(ref)} for flag -r: invalid relation id") from None
    rel = doc.get("relations", {}).get(str(rid))
    if rel is None or not in_context(rel, unit, rid, hook_rid):
        if ref is None:
            raise ToolError("relation not found")
        raise ToolError(f"invalid value {_gostr(ref)} for flag -r: relation not found")
    return rid, rel


def overlay(base: dict[str, str], writes: dict[str, str]) -> dict[str, str]:
    out = dict(base)
    for key, value in writes.items():
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _pending(state: dict[str, Any], rid: int) -> dict[str, dict[str, str]]:
    bag: dict[str, dict[str, str]] = state.setdefault("relation_pending", {}).setdefault(
        str(rid), {"unit": {}, "app": {}})
    return bag


def _settings_value(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ToolError(f"yaml: cannot unmarshal {type(value).__name__} into string (key {_gostr(key)})")


def _parse_settings_file(text: str) -> dict[str, str]:
    """`relation-set --file`: Juju reads a YAML mapping of strings (goyaml into map[string]string). JSON (what ops
    sends) is YAML; besides it, `key: value` lines (plain or quoted scalars) are read, a subset of YAML."""
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        doc = _yaml_lines(text)
    if not isinstance(doc, dict):
        raise ToolError("yaml: the settings file is not a mapping")
    return {str(k): _settings_value(str(k), v) for k, v in doc.items()}


def _yaml_lines(text: str) -> dict[str, str]:
    doc: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        if not colon or line[:1].isspace():
            raise ToolError(f"yaml: line {_gostr(line)}: this stand-in reads JSON or `key: value` lines only")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        doc[key.strip()] = value
    return doc


def _key_values(pairs: list[str]) -> dict[str, str]:
    """juju/utils keyvalues.Parse(args, allowEmptyValues=true)."""
    out: dict[str, str] = {}
    for kv in pairs:
        key, eq, value = kv.partition("=")
        if not eq:
            raise ToolError(f'expected "key=value", got {_gostr(kv)}')
        key, value = key.strip(), value.strip()
        if not key:
            raise ToolError(f'expected "key=value", got "{key}={value}"')
        if key in out:
            raise ToolError(f"key {_gostr(key)} specified more than once")
        out[key] = value
    return out


def _relation_tool(tool: str, args: list[str], state: dict[str, Any], stdin: str) -> str:
    flags, pos = _relation_args(tool, args)
    unit, app = _me(state)
    if tool in ("relation-ids", "relation-list") and not os.environ.get(RELATIONS_ENV):
        return "[]"  # a unit outside any relation store takes part in no relation
    doc = _store_doc()
    hook = _hook_relation(state)
    if tool == "relation-ids":
        name = pos[0] if pos else hook.get("endpoint")
        if not name:
            raise ToolError("no relation name specified")
        _check_empty(pos[1:])
        ids = [f"{rel['endpoints'][app]}:{rid}" for rid, rel in doc.get("relations", {}).items()
               if rel.get("endpoints", {}).get(app) == name and not rel.get("seen", {}).get(unit, {}).get("broken")]
        return json.dumps(sorted(ids))
    rid, rel = _relation(doc, state, flags)
    app_flag = flags.get("--app", "false").lower() == "true"
    if tool == "relation-list":
        _check_empty(pos)
        if app_flag:
            return json.dumps(remote_app(rel, app))
        return json.dumps(sorted(rel.get("seen", {}).get(unit, {}).get("members", {})))
    if tool == "relation-model-get":
        _check_empty(pos)
        return json.dumps({"uuid": os.environ.get("JUJU_MODEL_UUID", "")})
    leader = bool(state.get("leader"))
    writes = state.get("relation_pending", {}).get(str(rid), {"unit": {}, "app": {}})
    data: dict[str, dict[str, str]] = rel.get("data", {})
    if tool == "relation-get":  # RelationGetCommand.Init / determineUnitOrAppName / Run
        key = pos[0] if pos else ""
        key = "" if key == "-" else key
        rest = pos[1:]
        if rest:
            target = rest.pop(0)
            if app_flag and "/" in target:
                target = target.split("/")[0]
        elif app_flag:
            target = str(hook.get("remote_app") or "")
            if not target:
                raise ToolError("no unit or application specified")
        elif hook.get("remote_unit"):
            target = str(hook["remote_unit"])
        elif hook.get("remote_app"):
            target, app_flag = str(hook["remote_app"]), True
        else:
            raise ToolError("no unit or application specified")
        _check_empty(rest)
        if target == unit:
            settings = overlay(data.get(unit, {}), writes.get("unit", {}))
        elif target == app and leader:
            settings = overlay(data.get(app, {}), writes.get("app", {}))
        elif target == app:
            raise ToolError(PERMISSION_DENIED)  # a non-leader's own application databag (non-peer relation)
        elif target.split("/")[0] != remote_app(rel, app):
            raise ToolError(PERMISSION_DENIED)  # not in this relation (checkRemoteUnit / getRemoteRelationAppSettings)
        elif target in data:
            settings = dict(data[target])
        else:
            raise ToolError(f"cannot read settings for unit {_gostr(target)} in relation {_gostr(rel.get('key', ''))}"
                            ": settings not found")
        return json.dumps(settings.get(key) if key else settings)
    # relation-set: RelationSetCommand.Init (key=value), handleSettingsFile, then Run
    overrides = _key_values(pos)
    settings = {}
    if "--file" in flags:
        source = flags["--file"]
        text = stdin if source == "-" else _read(source)
        settings = _parse_settings_file(text)
    settings.update(overrides)
    if app_flag and not leader:
        raise ToolError("cannot write relation settings")
    _pending(state, rid)["app" if app_flag else "unit"].update(settings)
    return ""


def main() -> int:
    tool = os.path.basename(sys.argv[0])
    path = os.environ[STATE_ENV]
    # only the tools that take `--file -` read stdin (a hook's stdin may be an open pipe nobody writes to)
    stdin = "" if tool not in STDIN_TOOLS or sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with LockedJson(path) as state:  # lock order: the unit's state, then (relation tools) the model's store
        state.setdefault("calls", []).append([tool, len(sys.argv) - 1])
        try:
            out = run(tool, sys.argv[1:], state, stdin)
        except ToolError as e:
            code, out = 1, ""
            sys.stderr.write(f"ERROR {e}\n")
        else:
            code = 0
    if out:
        sys.stdout.write(out + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
