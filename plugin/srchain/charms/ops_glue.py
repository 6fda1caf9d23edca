"""What every srchain charm does the same way with ops: read a secret named by a config option, run an
action function and report its result or failure (the failure text is what OSM shows the user); and,
for the VM charms, choose where they act (locally or over SSH) and the OSM SSH-key actions.

Secrets and the Juju versions OSM runs (docs/osm.md, "Secrets"): OSM's own VCA is Juju 2.9, which has no
secrets at all. A config option that carries a secret (`control-token`, `target-tokens`, `ssh-private-key`,
...) is a plain `string` option (Juju 2.9 refuses `type: secret`): on a Juju with user secrets (3.3+, `juju
add-secret`) it must be a secret URI; on one without them the same keys are given inline as a YAML mapping
(plain application config). The key generate-ssh-key makes is a unit secret where Juju has secrets
(`JujuVersion.has_secrets`, 3.0.3+), else ops' stored state (the unit's 0600 state file on its machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ops
import yaml

from srchain.charms import ActionError, sshkeys
from srchain.remote import LocalTransport, SshTransport, Transport

USER_SECRETS = (3, 3)  # the first Juju whose operators can create a secret (`juju add-secret`) and grant it


def has_user_secrets(version: ops.JujuVersion) -> bool:
    return (version.major, version.minor) >= USER_SECRETS


def _is_secret_uri(value: str) -> bool:
    return value.startswith("secret:") or (len(value) == 20 and value.isalnum() and value.islower())


def secret_content(charm: ops.CharmBase, option: str, required: bool,
                   keys: tuple[str, ...] = ()) -> dict[str, str] | None:
    """The content of the secret config `option` carries; None when unset and not required. Juju 3.3+: the
    option is a secret URI, read through Juju. An older Juju (no user secrets): the option is the content
    itself, a YAML mapping of the same keys. Errors name the option, never the content."""
    value = str(charm.config.get(option) or "").strip()
    if not value:
        if required:
            raise ActionError(f"{option} not set (a Juju secret with key(s) {', '.join(keys)})")
        return None
    version = charm.model.juju_version
    if has_user_secrets(version):
        if not _is_secret_uri(value):
            raise ActionError(f"{option}: Juju {version} has secrets: put the value in one (juju add-secret, "
                              "juju grant-secret) and set its URI (secret:...); inline content is refused here")
        try:
            content = charm.model.get_secret(id=value).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError):
            raise ActionError(f"{option}: the secret is not readable (granted to this application?)") from None
    else:
        if _is_secret_uri(value):
            raise ActionError(f"{option}: Juju {version} has no user secrets: give the key(s) "
                              f"{', '.join(keys) or '...'} inline as YAML (docs/osm.md, Secrets)")
        content = _inline_content(option, value)
    missing = [k for k in keys if k not in content]
    if missing:
        raise ActionError(f"{option}: the secret has no '{missing[0]}' key")
    return dict(content)


def _inline_content(option: str, value: str) -> dict[str, str]:
    try:
        data = yaml.safe_load(value)
    except yaml.YAMLError:
        data = None  # the parser's message would quote the value
    if not isinstance(data, dict) or not data or not all(isinstance(k, str) for k in data):
        raise ActionError(f"{option}: not a YAML mapping of key: value (the secret's content inline, for a Juju "
                          "without user secrets)")
    return {k: str(v) for k, v in data.items()}


def action_name(event: ops.ActionEvent) -> str:
    return event.handle.kind.removesuffix("_action").replace("_", "-")


def fail_action(event: ops.ActionEvent, message: str) -> None:
    """Fail the action with `message`, also as the results' `output`: OSM's N2VC shows a failed action's results
    (`N2VCJujuConnector.exec_primitive`: `failed: <output>`), not action-fail's message, which it never reads;
    without `output` the operation would say only "No further information received from action"."""
    event.set_results({"output": message})
    event.fail(message)


def run_action(event: ops.ActionEvent, fn: Callable[[], Any]) -> None:
    """`fn()`'s JSON result as the action's `output`, or `fail_action(message)` on ActionError."""
    try:
        result = fn()
    except ActionError as e:
        fail_action(event, str(e))
        return
    event.set_results({"output": json.dumps(result, sort_keys=True)})


# --- where a VM charm acts: local, or the VM over SSH (srchain.remote) ---------------------

SSH_KEY_LABEL = "ssh-key"  # the unit secret generate-ssh-key fills (OSM injects its public half)


def ssh_private_key(charm: ops.CharmBase) -> str:
    """Secret `ssh-private-key` (key `private-key`) when configured, else the key generate-ssh-key made."""
    configured = secret_content(charm, "ssh-private-key", False, ("private-key",))
    if configured:
        return configured["private-key"]
    made = _unit_key(charm)
    if made is None:
        raise ActionError("no SSH key: run generate-ssh-key (OSM does when the VNFD sets ssh-access.required) "
                          "or set ssh-private-key (a Juju secret with key 'private-key')")
    return made["private-key"]


def _fallback_store(charm: ops.CharmBase) -> Any:
    """Where the unit's own key lives on a Juju without secrets: the charm's ops stored state (SshCharm), kept
    by ops in the unit's state file (mode 0600) on the machine the charm runs on."""
    store = getattr(charm, "_unit_key_store", None)
    if not isinstance(store, ops.framework.BoundStoredState):
        raise ActionError(f"Juju {charm.model.juju_version} has no secrets and this charm keeps no stored state "
                          "for its SSH key")
    return store


def _unit_key(charm: ops.CharmBase) -> dict[str, str] | None:
    """The key pair generate-ssh-key made, or None."""
    if not charm.model.juju_version.has_secrets:
        stored = _fallback_store(charm)
        pair = dict(stored.ssh_key) if getattr(stored, "ssh_key", None) else None
        return pair if pair and "private-key" in pair else None
    try:
        content = charm.model.get_secret(label=SSH_KEY_LABEL).get_content(refresh=True)
    except (ops.SecretNotFoundError, ops.ModelError):
        return None
    return dict(content) if "private-key" in content else None


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
    if not charm.model.juju_version.has_secrets:  # Juju 2.9: the unit's 0600 state file (docs/osm.md, Secrets)
        _fallback_store(charm).ssh_key = content
        event.set_results({"output": "generated (kept in the unit's state: this Juju has no secrets)"})
        return
    try:
        charm.model.get_secret(label=SSH_KEY_LABEL).set_content(content)
    except ops.SecretNotFoundError:
        charm.unit.add_secret(content, label=SSH_KEY_LABEL)
    event.set_results({"output": "generated"})  # the private key stays in the secret


def get_ssh_public_key(charm: ops.CharmBase, event: ops.ActionEvent) -> None:
    try:
        pair = _unit_key(charm)
    except ActionError as e:
        fail_action(event, str(e))
        return
    if pair is None or "public-key" not in pair:
        fail_action(event, "no SSH key yet: run generate-ssh-key first")
        return
    event.set_results({"pubkey": pair["public-key"]})


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
        fail_action(event, str(e))


class SshCharm(ops.CharmBase):
    """Base of the VM charms: the OSM SSH-key actions every one of them declares."""

    # the generated key pair, only on a Juju without secrets (ops' StoredState.__init__ is unannotated)
    _unit_key_store = ops.StoredState()  # type: ignore[no-untyped-call]

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
