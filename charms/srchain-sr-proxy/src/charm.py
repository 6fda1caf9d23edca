"""Charm srchain-sr-proxy: day-1 checks and day-2 actions on the SR proxy's control API.

Thin by design: each action maps to one function of `srchain.charms.sr_proxy` (vendored into lib/ by
`srchain package build`); this file only reads config and secrets, sets the status and reports results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ops
from srchain.charms import ActionError, sshkeys
from srchain.charms import sr_proxy as lib

SSH_KEY_LABEL = "ssh-key"


class SrchainSrProxyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        self._actions: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
            "add-sid": lambda api, p: lib.add_sid(api, p["entry"]),
            "remove-sid": lambda api, p: lib.remove_sid(api, int(p["sid"]), p.get("version")),
            "attach-vnf": lambda api, p: lib.attach_vnf(api, p["attachments"]),
            "detach-vnf": lambda api, p: lib.detach_vnf(api, p["vnf"]),
            "show-sids": lambda api, p: lib.show_sids(api),
            "show-counters": lambda api, p: lib.show_counters(api),
        }
        for name in self._actions:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._run)
        framework.observe(self.on.generate_ssh_key_action, self._generate_ssh_key)
        framework.observe(self.on.get_ssh_public_key_action, self._get_ssh_public_key)
        framework.observe(self.on.verify_ssh_credentials_action, self._verify_ssh)

    def _settings(self) -> lib.ProxySettings:
        secret_id = self.config.get("control-token")
        if not secret_id:
            raise ActionError("control-token not set (a Juju secret with key 'token')")
        try:
            token = self.model.get_secret(id=str(secret_id)).get_content(refresh=True)["token"]
        except (ops.SecretNotFoundError, ops.ModelError, KeyError):
            raise ActionError("control-token: the secret is not readable or has no 'token' key") from None
        return lib.ProxySettings(str(self.config.get("control-address")), token)

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            h = lib.health(self._settings().api())
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))
            return
        self.unit.status = ops.ActiveStatus(f"proxy {h.get('status')}: {h.get('sids')} SIDs")

    def _run(self, event: ops.ActionEvent) -> None:
        fn = self._actions[event.handle.kind.removesuffix("_action").replace("_", "-")]
        try:
            result = fn(self._settings().api(), dict(event.params))
        except ActionError as e:
            event.fail(str(e))
            return
        event.set_results({"output": json.dumps(result, sort_keys=True)})

    def _generate_ssh_key(self, event: ops.ActionEvent) -> None:
        private, public = sshkeys.generate(f"osm-{self.unit.name.replace('/', '-')}")
        content = {"private-key": private, "public-key": public}
        try:
            self.model.get_secret(label=SSH_KEY_LABEL).set_content(content)
        except ops.SecretNotFoundError:
            self.unit.add_secret(content, label=SSH_KEY_LABEL)
        event.set_results({"output": "generated"})  # the private key stays in the secret

    def _get_ssh_public_key(self, event: ops.ActionEvent) -> None:
        try:
            public = self.model.get_secret(label=SSH_KEY_LABEL).get_content(refresh=True)["public-key"]
        except (ops.SecretNotFoundError, KeyError):
            event.fail("no SSH key yet: run generate-ssh-key first")
            return
        event.set_results({"pubkey": public})

    def _verify_ssh(self, event: ops.ActionEvent) -> None:
        event.fail("verify-ssh-credentials: not implemented yet; this charm reaches the proxy through its "
                   "control API (control-address), not SSH")


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainSrProxyCharm)
