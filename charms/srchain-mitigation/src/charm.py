#!/usr/bin/env python3
"""Charm srchain-mitigation: day-1/2 settings of the mitigation VNF (its YAML config + service restart + health).

Thin by design: the logic is `srchain.charms.vnf_service` (vendored into lib/ by `srchain package build`).
"""

from __future__ import annotations

import ops

from srchain.charms.vnf_charm import VnfCharm


class SrchainMitigationCharm(VnfCharm):
    SERVICE = "mitigation"


if __name__ == "__main__":  # pragma: no cover
    ops.main(SrchainMitigationCharm)
