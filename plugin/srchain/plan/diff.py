"""Plan vs installed state -> the ordered operations of a make-before-break change.

Phases, in order:
  install  add/modify everything the new version needs that does not redirect traffic yet
           (proxy entries first: a VNF's proxy is ready before any switch sends it packets);
  flip     add/modify/delete the entries that choose a version for new packets (classifier,
           report stacks and sessions): after this, new packets carry only the new stacks;
  cleanup  after the old version drained, delete what only the old version used.
Entries are compared by identity (target, table, key) and content (action, params); the version
tag is bookkeeping and never causes a write on its own.
"""

from __future__ import annotations

from srchain.plan.model import DiffOp, Entry, Phase
from srchain.plan.tables import write_rank

_PHASE_ORDER: dict[Phase, int] = {"install": 0, "flip": 1, "cleanup": 2}
# install: proxies, switches, then SRv6 nodes (their flip entries, the head end's encap, come last anyway)
_KIND_ORDER = {"proxy": 0, "switch": 1, "node": 2}
_OP_ORDER = {"delete": 0, "modify": 1, "add": 2}


def diff(wanted: list[Entry], installed: list[Entry]) -> list[DiffOp]:
    have = {e.identity: e for e in installed}
    want = {e.identity: e for e in wanted}
    ops: list[DiffOp] = []
    for ident, e in want.items():
        old = have.get(ident)
        phase: Phase = "flip" if e.flips else "install"
        if old is None:
            ops.append(DiffOp("add", phase, e))
        elif old.content != e.content:
            ops.append(DiffOp("modify", phase, e, old))
    for ident, old in have.items():
        if ident not in want:
            ops.append(DiffOp("delete", "flip" if old.flips else "cleanup", old))

    def order(op: DiffOp) -> tuple[int, int, int, int, tuple[str, str, str, str]]:
        kind = _KIND_ORDER[op.entry.target_kind]
        if op.phase == "cleanup":  # switches (and nodes) stop sending before proxies forget
            kind = len(_KIND_ORDER) - 1 - kind
        return (_PHASE_ORDER[op.phase], kind, _OP_ORDER[op.op], write_rank(op.entry.table, op.op),
                op.entry.identity)

    return sorted(ops, key=order)
