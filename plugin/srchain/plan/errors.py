"""The planner's error, shared by the SR-MPLS (builder.py) and the SRv6 (srv6.py) planners."""

from __future__ import annotations

from srchain.errors import SrchainError


class PlanError(SrchainError):
    """The chain is valid YAML but cannot be realised on this inventory (depth, reachability, ...)."""
