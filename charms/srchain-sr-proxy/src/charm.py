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

from srchain.charms import ActionError, proxy_login
from srchain.charms import sr_proxy as lib
from srchain.charms.ops_glue import SshCharm, action_name, make_transport, run_action, secret_content
from srchain.remote import LocalTransport


class SrchainSrProxyCharm(SshCharm):
    # the controller key authorized per relation id, to revoke it when the relation goes (its data is gone then)
    _login_store = ops.StoredState()  # type: ignore[no-untyped-call]

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self._login_store.set_default(authorized={})
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        login = self.on[proxy_login.PROVIDER_ENDPOINT]
        for event in (login.relation_created, login.relation_joined, login.relation_changed):
            framework.observe(event, self._on_controller_login)
        framework.observe(login.relation_broken, self._on_controller_login_broken)
        framework.observe(self.on.update_status, self._on_controller_login)  # Juju's periodic hook: retries a miss
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

    def _on_controller_login(self, event: ops.EventBase) -> None:
        # update-status (Juju's timer, 5 min by default) checks the VM again even where this unit already
        # authorized the key: a VM rebuilt at the same address has lost it, and the stored record cannot tell
        self._sync_logins(recheck=isinstance(event, ops.UpdateStatusEvent))

    def _sync_logins(self, recheck: bool = False) -> None:
        """Authorize each related controller's key on the VM (once, or again on `recheck`: idempotent there) and
        answer in this unit's databag; a failure is the answer's `error` (the controller shows it), never this hook's
        failure: a later config-changed or update-status retries."""
        relations = self.model.relations[proxy_login.PROVIDER_ENDPOINT]
        if not relations:
            return
        transport = None
        try:
            for relation in relations:
                key = next((str(relation.data[u].get("public-key") or "") for u in relation.units
                            if relation.data[u].get("public-key")), "")
                if not key:
                    continue
                done = f"{self._where()} {key}"  # authorized for this login on this VM, not any earlier one
                if self._login_store.authorized.get(str(relation.id)) == done and not recheck:
                    answer = self._answer(proxy_login.key_fingerprint(key))
                else:
                    try:
                        transport = transport or make_transport(self)
                        if isinstance(transport, LocalTransport):
                            raise ActionError("waiting for the VM's address (ssh-hostname not set yet)")
                        answer = self._answer(proxy_login.authorize(transport, key))
                        self._login_store.authorized[str(relation.id)] = done
                    except ActionError as exc:
                        answer = {"error": str(exc)}
                mine = relation.data[self.unit]
                for k in ("host", "port", "user", "host-key", "authorized", "error"):
                    if mine.get(k, "") != answer.get(k, ""):
                        mine[k] = answer.get(k, "")  # ops: an empty string deletes the key
        finally:
            if transport is not None:
                transport.close()

    def _where(self) -> str:
        return (f"{self.config.get('ssh-username') or 'srchain'}@{self.config.get('ssh-hostname') or ''}:"
                f"{self.config.get('ssh-port') or 22}")

    def _answer(self, authorized: str) -> dict[str, str]:
        return {"host": str(self.config.get("ssh-hostname") or ""), "port": str(self.config.get("ssh-port") or 22),
                "user": str(self.config.get("ssh-username") or "srchain"),
                "host-key": str(self.config.get("ssh-host-key") or ""), "authorized": authorized}

    def _on_controller_login_broken(self, event: ops.RelationBrokenEvent) -> None:
        """The relation is gone: take the controller's key off the VM."""
        done = str(self._login_store.authorized.get(str(event.relation.id)) or "")
        if not done:
            return
        transport = None
        try:
            transport = make_transport(self)
            proxy_login.revoke(transport, done.split(" ", 1)[1])
            del self._login_store.authorized[str(event.relation.id)]
        except ActionError as exc:
            self.unit.status = ops.BlockedStatus(f"could not revoke the controller's key: {exc}")
        finally:
            if transport is not None:
                transport.close()

    def _on_config(self, event: ops.EventBase) -> None:
        self._sync_logins()
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
