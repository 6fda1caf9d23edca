"""The ops charm class shared by the four VNF charms; each `charms/srchain-<service>/src/charm.py` only
names its service. Actions registered = the ones the charm declares (= the VNFD's primitives).
With `ssh-hostname` set, every step runs on the VM over SSH (docs/osm.md, "Transports")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ops

from srchain.charms import ActionError
from srchain.charms import vnf_service as lib
from srchain.charms.ops_glue import SshCharm, action_name, make_transport, run_action, secret_content


class VnfCharm(SshCharm):
    SERVICE = ""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        self._actions = {n: f for n, f in lib.actions_for(self.SERVICE).items() if n in self.meta.actions}
        for name in self._actions:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._on_action)
        self.observe_ssh_actions()

    def _with_settings(self, fn: Callable[[lib.VnfSettings], Any]) -> Any:
        token = secret_content(self, "health-token", False, ("token",))
        transport = make_transport(self)
        try:
            return fn(lib.VnfSettings(self.SERVICE, Path(str(self.config.get("service-config"))),
                                      str(self.config.get("restart-command")), transport,
                                      token["token"] if token else None))
        finally:
            transport.close()

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            h = self._with_settings(lib.health)
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))
            return
        self.unit.status = ops.ActiveStatus(f"{self.SERVICE} {h.get('status')}")

    def _on_action(self, event: ops.ActionEvent) -> None:
        fn = self._actions[action_name(event)]
        params = dict(event.params)
        run_action(event, lambda: self._with_settings(lambda s: fn(s, params)))
