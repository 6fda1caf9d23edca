#!/usr/bin/env python3
"""Charm srchain-p4-switch: proxy charm for the Tofino PDU (BF Runtime gRPC).

Thin by design: the logic is `srchain.charms.p4_switch` (vendored into lib/ by `srchain package build`);
this file reads config and secrets, sets the status and maps each action to one library function.
"""

from __future__ import annotations

from pathlib import Path

import ops

from srchain.charms import ActionError
from srchain.charms import p4_switch as lib
from srchain.charms.ops_glue import action_name, run_action, secret_content


class SrchainP4SwitchCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        for name in lib.ACTIONS:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._on_action)

    def _settings(self) -> lib.SwitchSettings:
        host = str(self.config.get("bfrt-address") or "")
        if not host:
            raise ActionError("bfrt-address not set")
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        token = secret_content(self, "bfrt-token", False, ("token",))
        tls = secret_content(self, "bfrt-tls", False, ("ca",))
        artifacts = str(self.config.get("p4-artifacts") or "")  # empty: the bundles shipped in this charm
        artifacts_dir = Path(artifacts) if artifacts else self.charm_dir / lib.SHIPPED_DIR
        return lib.SwitchSettings(
            name=str(self.config.get("switch-name") or ""), address=f"{host}:{self.config.get('bfrt-port')}",
            device_id=int(self.config.get("device-id", 0)), artifacts_dir=artifacts_dir,
            state_dir=Path(str(self.config.get("state-dir"))), token=token["token"] if token else None, tls=tls)

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            settings = self._settings()
            plan = str(self.config.get("chain-plan") or "")
            if plan:
                r = lib.apply_chain(settings, plan)
                self.unit.status = ops.ActiveStatus(f"switch {settings.name}: chain {r['chain']} v{r['version']} "
                                                    f"applied ({r['entries']} entries)")
            else:
                self.unit.status = ops.ActiveStatus(lib.health(settings))
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))

    def _on_action(self, event: ops.ActionEvent) -> None:
        fn = lib.ACTIONS[action_name(event)]
        run_action(event, lambda: fn(self._settings(), dict(event.params)))


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainP4SwitchCharm)
