#!/usr/bin/env python3
"""Charm srchain-controller: the NS-level charm; plans and applies the chain across switches and proxies.

Thin by design: the logic is `srchain.charms.controller` (vendored into lib/ by `srchain package build`);
this file reads config and secrets, sets the status and maps each action to one library function.
"""

from __future__ import annotations

from pathlib import Path

import ops

from srchain.charms import ActionError
from srchain.charms import controller as lib
from srchain.charms.ops_glue import action_name, run_action, secret_content


class SrchainControllerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        self._actions = {
            "reconfigure-chain": lambda s, p: lib.reconfigure_chain(s, str(p["spec"])),
            "add-segment": lambda s, p: lib.add_segment(s, str(p["segment"]), p.get("after") or None),
            "remove-segment": lambda s, p: lib.remove_segment(s, str(p["name"])),
            "show-chain": lambda s, p: {**lib.show_chain(s), **self._osm_applications()},
        }
        for name in self._actions:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._on_action)

    def _settings(self) -> lib.ControllerSettings:
        inventory = str(self.config.get("inventory") or "")
        if not inventory.strip():
            raise ActionError("inventory not set")
        tokens = secret_content(self, "target-tokens", False) or {}
        return lib.ControllerSettings(Path(str(self.config.get("state-dir"))), inventory, tokens,
                                      float(self.config.get("drain-timeout", 30.0)),
                                      str(self.config.get("proxy-host-keys") or ""))

    def _osm_applications(self) -> dict[str, dict[str, str]]:
        apps = lib.osm_applications(str(self.config.get("ns_config_info") or ""))
        return {"osm-applications": apps} if apps else {}

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            self._osm_applications()  # a malformed ns_config_info blocks before anything is applied
            line = lib.on_config(self._settings(), str(self.config.get("chain-spec") or ""))
            self.unit.status = ops.ActiveStatus(line)
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))

    def _on_action(self, event: ops.ActionEvent) -> None:
        fn = self._actions[action_name(event)]
        run_action(event, lambda: fn(self._settings(), dict(event.params)))


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainControllerCharm)
