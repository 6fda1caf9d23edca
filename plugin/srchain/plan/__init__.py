"""Planning: SIDs, label stacks, the exact entries per target, and the diff against what is installed."""

from srchain.plan.builder import build_plan
from srchain.plan.diff import diff
from srchain.plan.errors import PlanError
from srchain.plan.model import Entry, Plan, entries_from_state

__all__ = ["Entry", "Plan", "PlanError", "build_plan", "diff", "entries_from_state"]
