"""What every srchain charm does the same way with ops: read a secret named by a config option, run an
action function and report its result or failure (the failure text is what OSM shows the user); and,
for the VM charms, choose where they act (locally or over SSH) and the OSM SSH-key actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ops

from srchain.charms import ActionError, sshkeys
from srchain.remote import LocalTransport, SshTransport, Transport


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


# --- where a VM charm acts: local, or the VM over SSH (srchain.remote) ---------------------

SSH_KEY_LABEL = "ssh-key"  # the unit secret generate-ssh-key fills (OSM injects its public half)


def ssh_private_key(charm: ops.CharmBase) -> str:
    """Secret `ssh-private-key` (key `private-key`) when configured, else the key generate-ssh-key made."""
    configured = secret_content(charm, "ssh-private-key", False, ("private-key",))
    if configured:
        return configured["private-key"]
    try:
        return str(charm.model.get_secret(label=SSH_KEY_LABEL).get_content(refresh=True)["private-key"])
    except (ops.SecretNotFoundError, ops.ModelError, KeyError):
        raise ActionError("no SSH key: run generate-ssh-key (OSM does when the VNFD sets ssh-access.required) "
                          "or set ssh-private-key (a Juju secret with key 'private-key')") from None


def make_transport(charm: ops.CharmBase) -> Transport:
    """Empty `ssh-hostname`: act where the charm runs; else over SSH with the pinned host key."""
    host = str(charm.config.get("ssh-hostname") or "").strip()
    if not host:
        return LocalTransport()
    return SshTransport(host, str(charm.config.get("ssh-username") or "srchain"),
                        str(charm.config.get("ssh-host-key") or ""), ssh_private_key(charm),
                        int(charm.config.get("ssh-port") or 22), bool(charm.config.get("ssh-sudo", True)))


def generate_ssh_key(charm: ops.CharmBase, event: ops.ActionEvent) -> None:
    private, public = sshkeys.generate(f"osm-{charm.unit.name.replace('/', '-')}")
    content = {"private-key": private, "public-key": public}
    try:
        charm.model.get_secret(label=SSH_KEY_LABEL).set_content(content)
    except ops.SecretNotFoundError:
        charm.unit.add_secret(content, label=SSH_KEY_LABEL)
    event.set_results({"output": "generated"})  # the private key stays in the secret


def get_ssh_public_key(charm: ops.CharmBase, event: ops.ActionEvent) -> None:
    try:
        public = charm.model.get_secret(label=SSH_KEY_LABEL).get_content(refresh=True)["public-key"]
    except (ops.SecretNotFoundError, KeyError):
        event.fail("no SSH key yet: run generate-ssh-key first")
        return
    event.set_results({"pubkey": public})


def verify_ssh_credentials(charm: ops.CharmBase, event: ops.ActionEvent) -> None:
    """Log in to the VM (host key pinned, unit key) and run `true` there."""

    def check() -> str:
        t = make_transport(charm)
        if isinstance(t, LocalTransport):
            raise ActionError("ssh-hostname not set: this charm acts where it runs, there is no SSH to verify")
        try:
            done = t.run("true", privileged=False)
        finally:
            t.close()
        if done.code != 0:
            raise ActionError(f"{t.where}: logged in but `true` exited {done.code}")
        return f"{t.where}: logged in, host key verified"

    try:
        event.set_results({"output": check()})
    except ActionError as e:
        event.fail(str(e))


class SshCharm(ops.CharmBase):
    """Base of the VM charms: the OSM SSH-key actions every one of them declares."""

    def observe_ssh_actions(self) -> None:
        self.framework.observe(self.on.generate_ssh_key_action, self._on_generate_ssh_key)
        self.framework.observe(self.on.get_ssh_public_key_action, self._on_get_ssh_public_key)
        self.framework.observe(self.on.verify_ssh_credentials_action, self._on_verify_ssh_credentials)

    def _on_generate_ssh_key(self, event: ops.ActionEvent) -> None:
        generate_ssh_key(self, event)

    def _on_get_ssh_public_key(self, event: ops.ActionEvent) -> None:
        get_ssh_public_key(self, event)

    def _on_verify_ssh_credentials(self, event: ops.ActionEvent) -> None:
        verify_ssh_credentials(self, event)
