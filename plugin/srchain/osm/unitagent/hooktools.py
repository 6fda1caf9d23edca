#!/usr/bin/env python3
"""Juju's hook tools for one unit, as a single stdlib-only script (a stand-in, NOT Juju). `unit.Unit` installs it
into the unit's `bin/` under every tool's name (symlinks; the tool is `basename(argv[0])`) and points it at the
unit's JSON state file (`SRCHAIN_UNIT_STATE`). It imports nothing of the project: the charm's own Python (its
base's, 3.10) runs the charm, this file runs with the interpreter the stand-in was started with.

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
  * relations, ports, goal state, storage: this unit has none (empty answers);
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
import secrets
import sys
from pathlib import Path
from typing import Any

STATE_ENV = "SRCHAIN_UNIT_STATE"
KEY_SEGMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
SECRET_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # Juju's secret ids: 20-character xids, base32hex lowercase
NO_REASON = "action failed without reason given, check action for errors"
VALUE_FLAGS = {"--label", "--description", "--expire", "--rotate", "--owner", "--revision", "--relation", "--app",
               "--unit", "--log-level", "-l", "--file", "-r"}


class ToolError(Exception):
    """The tool's stderr line (`ERROR ...`) and exit status 1, as Juju's hook tools fail."""


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
            key, value = key[: -len("#file")], Path(value).read_text(encoding="utf-8")
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
    if tool in ("relation-ids", "relation-list", "opened-ports", "storage-list", "secret-ids"):
        return "[]" if tool != "secret-ids" else json.dumps(sorted(state.get("secrets", {})))
    if tool == "goal-state":
        return json.dumps({"units": {}, "relations": {}})
    if tool in ("open-port", "close-port"):
        return ""
    if tool == "secret-add":
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


def main() -> int:
    tool = Path(sys.argv[0]).name
    path = Path(os.environ[STATE_ENV])
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text())
        state.setdefault("calls", []).append([tool, len(sys.argv) - 1])
        try:
            out = run(tool, sys.argv[1:], state, stdin)
        except ToolError as e:
            code, out = 1, ""
            sys.stderr.write(f"ERROR {e}\n")
        else:
            code = 0
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(path)
    if out:
        sys.stdout.write(out + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
