#!/usr/bin/env python3
"""Charm srchain-controller: the NS-level charm; plans and applies the chain across switches and proxies.

Thin by design: the logic is `srchain.charms.controller` (vendored into lib/ by `srchain package build`);
this file reads config and secrets, sets the status and maps each action to one library function.
"""

from __future__ import annotations

from pathlib import Path

import ops

from srchain.charms import ActionError, proxy_login
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
        login = self.on[proxy_login.REQUIRER_ENDPOINT]
        for event in (login.relation_created, login.relation_joined, login.relation_changed):
            framework.observe(event, self._on_proxy_login)

    def _settings(self) -> lib.ControllerSettings:
        inventory = str(self.config.get("inventory") or "")
        if not inventory.strip():
            raise ActionError("inventory not set")
        tokens = secret_content(self, "target-tokens", False) or {}
        state_dir = Path(str(self.config.get("state-dir")))
        return lib.ControllerSettings(state_dir, inventory, tokens, float(self.config.get("drain-timeout", 30.0)),
                                      str(self.config.get("proxy-host-keys") or ""), self._logins(state_dir))

    def _logins(self, state_dir: Path) -> proxy_login.Logins:
        """The own login key and what each related sr-proxy unit answered on proxy-login."""
        key_file, public = proxy_login.login_key(state_dir)
        grants: list[proxy_login.Grant] = []
        pending: list[str] = []
        for relation in self.model.relations[proxy_login.REQUIRER_ENDPOINT]:
            for unit in sorted(relation.units, key=lambda u: u.name):
                answer = proxy_login.grant_from(unit.name, dict(relation.data[unit]))
                if isinstance(answer, proxy_login.Grant):
                    grants.append(answer)
                else:
                    pending.append(answer or f"{unit.name}: not answered yet")
        return proxy_login.Logins(key_file, public, tuple(grants), tuple(pending))

    def _on_proxy_login(self, event: ops.RelationEvent) -> None:
        """Publish the public key; an answer may make a refused day 1 possible: try the config again."""
        _, public = proxy_login.login_key(Path(str(self.config.get("state-dir"))))
        mine = event.relation.data[self.unit]
        if mine.get("public-key") != public:
            mine["public-key"] = public
        if str(self.config.get("chain-spec") or "").strip():
            self._on_config(event)

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
