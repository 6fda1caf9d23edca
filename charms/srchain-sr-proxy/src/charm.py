#!/usr/bin/env python3
"""Charm srchain-sr-proxy: day-1 checks and day-2 actions on the SR proxy's control API.

Thin by design: each action maps to one function of `srchain.charms.sr_proxy` (vendored into lib/ by
`srchain package build`); this file only reads config and secrets, sets the status and reports results.
With `ssh-hostname` set (OSM passes <rw_mgmt_ip>) the API is reached on the VM over SSH.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ops

from srchain.charms import ActionError
from srchain.charms import sr_proxy as lib
from srchain.charms.ops_glue import SshCharm, action_name, make_transport, run_action, secret_content


class SrchainSrProxyCharm(SshCharm):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        self._actions: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
            "add-sid": lambda api, p: lib.add_sid(api, p["entry"]),
            "remove-sid": lambda api, p: lib.remove_sid(api, int(p["sid"]),
                                                      None if p.get("version") is None else int(p["version"])),
            "attach-vnf": lambda api, p: lib.attach_vnf(api, p["attachments"]),
            "detach-vnf": lambda api, p: lib.detach_vnf(api, p["vnf"]),
            "show-sids": lambda api, p: lib.show_sids(api),
            "show-counters": lambda api, p: lib.show_counters(api),
        }
        for name in self._actions:
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._run)
        self.observe_ssh_actions()

    def _with_api(self, fn: Callable[[lib.ControlApi], Any]) -> Any:
        secret = secret_content(self, "control-token", False, ("token",))
        transport = make_transport(self)
        try:
            settings = lib.ProxySettings(str(self.config.get("control-address")), secret["token"] if secret else None,
                                         transport, str(self.config.get("token-file") or "/etc/srchain/proxy.token"))
            return fn(settings.api())
        finally:
            transport.close()

    def _on_config(self, event: ops.EventBase) -> None:
        try:
            h = self._with_api(lib.health)
        except ActionError as e:
            self.unit.status = ops.BlockedStatus(str(e))
            return
        # the SR loop (compiled or python) shown, so a proxy on the slow Python loop is seen in `juju status`
        self.unit.status = ops.ActiveStatus(f"proxy {h.get('status')}: {h.get('sids')} SIDs, "
                                            f"SR loop {h.get('sr_loop')}")

    def _run(self, event: ops.ActionEvent) -> None:
        fn = self._actions[action_name(event)]
        params = dict(event.params)
        run_action(event, lambda: self._with_api(lambda api: fn(api, params)))


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainSrProxyCharm)
