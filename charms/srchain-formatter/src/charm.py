#!/usr/bin/env python3
"""Charm srchain-formatter: day-1/2 settings of the formatter VNF (its YAML config + service restart + health).

Thin by design: the logic is `srchain.charms.vnf_service` (vendored into lib/ by `srchain package build`).
"""

from __future__ import annotations

import ops

from srchain.charms.vnf_charm import VnfCharm


class SrchainFormatterCharm(VnfCharm):
    SERVICE = "formatter"


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainFormatterCharm)
