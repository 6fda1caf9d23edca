#!/usr/bin/env python3
"""Charm srchain-aggregator: day-1/2 settings of the aggregator VNF (its YAML config + service restart + health).

Thin by design: the logic is `srchain.charms.vnf_service` (vendored into lib/ by `srchain package build`).
"""

from __future__ import annotations

import ops

from srchain.charms.vnf_charm import VnfCharm


class SrchainAggregatorCharm(VnfCharm):
    SERVICE = "aggregator"


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainAggregatorCharm)
