"""The ops charm class shared by the four VNF charms; each `charms/srchain-<service>/src/charm.py` only
names its service. Actions registered = the ones the charm declares (= the VNFD's primitives)."""

from __future__ import annotations

from pathlib import Path

import ops

from srchain.charms import ActionError, sshkeys
from srchain.charms import vnf_service as lib
from srchain.charms.ops_glue import action_name, run_action, secret_content

SSH_KEY_LABEL = "ssh-key"


class VnfCharm(ops.CharmBase):
    SERVICE = ""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        self._actions = {n: f for n, f in lib.actions_for(self.SERVICE).items() if n in self.meta.actions}
        for name in self._actions:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._on_action)
        framework.observe(self.on.generate_ssh_key_action, self._generate_ssh_key)
        framework.observe(self.on.get_ssh_public_key_action, self._get_ssh_public_key)
        framework.observe(self.on.verify_ssh_credentials_action, self._verify_ssh)

    def _settings(self) -> lib.VnfSettings:
        token = secret_content(self, "health-token", False, ("token",))
        return lib.VnfSettings(
            self.SERVICE, Path(str(self.config.get("service-config"))), str(self.config.get("restart-command")),
            str(self.config.get("ssh-hostname") or ""), token["token"] if token else None)

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            s = self._settings()
            s.check_local()
            h = lib.health(s)
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))
            return
        self.unit.status = ops.ActiveStatus(f"{self.SERVICE} {h.get('status')}")

    def _on_action(self, event: ops.ActionEvent) -> None:
        fn = self._actions[action_name(event)]
        run_action(event, lambda: fn(self._settings(), dict(event.params)))

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
        event.fail("verify-ssh-credentials: not implemented yet; this charm drives the service where it runs "
                   "(native charm), not over SSH")
