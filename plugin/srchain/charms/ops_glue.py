"""What every srchain charm does the same way with ops: read a secret named by a config option, run an
action function and report its result or failure (the failure text is what OSM shows the user)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ops

from srchain.charms import ActionError


def secret_content(charm: ops.CharmBase, option: str, required: bool,
                   keys: tuple[str, ...] = ()) -> dict[str, str] | None:
    """The content of the Juju secret whose id is config `option`; None when unset and not required.
    Errors name the option, never the content."""
    secret_id = charm.config.get(option)
    if not secret_id:
        if required:
            raise ActionError(f"{option} not set (a Juju secret with key(s) {', '.join(keys)})")
        return None
    try:
        content = charm.model.get_secret(id=str(secret_id)).get_content(refresh=True)
    except (ops.SecretNotFoundError, ops.ModelError):
        raise ActionError(f"{option}: the secret is not readable (granted to this application?)") from None
    missing = [k for k in keys if k not in content]
    if missing:
        raise ActionError(f"{option}: the secret has no '{missing[0]}' key")
    return dict(content)


def action_name(event: ops.ActionEvent) -> str:
    return event.handle.kind.removesuffix("_action").replace("_", "-")


def run_action(event: ops.ActionEvent, fn: Callable[[], Any]) -> None:
    """`fn()`'s JSON result as the action's `output`, or `event.fail(message)` on ActionError."""
    try:
        result = fn()
    except ActionError as e:
        event.fail(str(e))
        return
    event.set_results({"output": json.dumps(result, sort_keys=True)})
