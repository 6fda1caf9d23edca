"""Charm srchain-formatter: proxy charm for the formatter VM.

Skeleton of the action contract: the actions (charmcraft.yaml) match the descriptor's primitives exactly
and `srchain package validate` checks that. The logic arrives with the srchain library vendored into the
charm (next increment of issue 8); until then every action fails with a clear message, so OSM reports
the operation as FAILED instead of pretending success.
"""

from __future__ import annotations

import ops

REQUIRED_CONFIG = ('ssh-hostname',)


class SrchainFormatterCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.install, self._on_config)
        framework.observe(self.on.config_changed, self._on_config)
        for name in self.meta.actions:  # exactly the actions declared in charmcraft.yaml
            framework.observe(getattr(self.on, name.replace("-", "_") + "_action"), self._on_action)

    def _on_config(self, event: ops.EventBase) -> None:
        missing = [k for k in REQUIRED_CONFIG if not self.config.get(k)]
        if missing:
            self.unit.status = ops.BlockedStatus(f"{', '.join(missing)} not set")
        else:
            self.unit.status = ops.ActiveStatus("configured")

    def _on_action(self, event: ops.ActionEvent) -> None:
        event.fail(f"{event.handle.kind.removesuffix('_action').replace('_', '-')}: not implemented yet "
                   "(srchain issue 8, next increment)")


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainFormatterCharm)
