"""The data path's side of the compiled loops (_fastsr.c): the tables C reads, and the drains around it.

C handles the common case of each direction; every other frame goes through the ring's own walk
(srchain_net.rings.RxRing.drain) to the Python reference, Engine.from_sr / Engine.from_vnf, which is
also the whole of the pure-Python loop (`fast_path: python`). Each behaviour is written once in Python;
C repeats only the common case, and tests/proxy/test_proxy_fastpath.py and test_proxy_return.py check
that C and the reference give the same bytes, counters and cache contents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from srchain_net.rings import RingTx, RxRing

from .engine import AttState, Engine

log = logging.getLogger(__name__)

_WHY_BUDGET, _WHY_NOT_READY, _WHY_SLOW, _WHY_ERROR = 0, 1, 2, 3  # as in _fastsr.c
WHY_IDLE = 4  # _fastsr.c cycle(): every ring stayed empty


def fast_table(eng: Engine) -> dict[int | bytes, tuple]:
    """Per-SID entries for the compiled loop (layout in _fastsr.c). SIDs left out take the Python path:
    no attachment, version pins (several static SIDs on one VNF), or a send side without a TX ring.
    SRv6 SIDs (16-byte keys) when srv6.Srv6Compiled runs them: its entry and the attachment's TX ring."""
    table: dict[int | bytes, tuple] = {}
    for sid, st in eng.sids.items():
        att = st.att
        tx = att.tx if att is not None else None
        if att is None or att.pins is not None or not isinstance(tx, RingTx):
            continue
        od = st.cache.od if st.cache is not None else None
        table[sid] = (att, od, st.rx, tx.map, tx.st, tx.nr, tx.sock.fileno())
    for key, ent in getattr(eng.srv6, "table", {}).items():  # srv6.Srv6Compiled: (kind, st, att, rx, cache)
        att = ent[2]
        tx = att.tx if att is not None else None
        if isinstance(tx, RingTx):
            table[key] = (*ent, tx.map, tx.st, tx.nr, tx.sock.fileno())
    return table


def sr_drain_compiled(mod: Any, eng: Engine, ring: RxRing, slow: Callable[[Any, int, int], None], budget: int,
                      now: float) -> bool:
    """Drain the SR ring: the common case in C (mod = the _fastsr module), every other frame through `slow`
    (the handler around Engine.from_sr). True if more may be waiting (as RxRing.drain)."""
    drain_c = mod.drain
    table = eng.fast
    room = 4 * eng.msd
    tag = eng.sr_tag
    return _drain_compiled(lambda m, i, nr, n: drain_c(m, i, nr, n, now, table, room, tag), ring, slow, budget,
                           "compiled fast path")


_MATCH = {"same": 1, "reverse": 2, "either": 3}


def return_entry(eng: Engine, att: AttState, sr_tx: Any) -> tuple | None:
    """The compiled return loop's view of one attachment (layout in _fastsr.c), or None when every frame
    of it goes through Engine.from_vnf: several dynamic SIDs (the most recent hit wins), several static
    SIDs (pins) or stacks (hash buckets), or a send side without a TX ring. An attachment of SRv6 SIDs:
    its srv6.Srv6Compiled entry (one SID: End.AS with one list, End.AD per attachment, End.AM), else None."""
    if not isinstance(sr_tx, RingTx):
        return None
    tx = (sr_tx.map, sr_tx.st, sr_tx.nr, sr_tx.sock.fileno(), att.takes_broadcast)
    if att.srv6:  # one SRv6 SID that srv6.Srv6Compiled has a srv6_out entry for (kind 2 in _fastsr.c)
        ent = getattr(eng.srv6, "ret", {}).get(id(att))
        if ent is None or ent[1].att is not att:
            return None
        return (2, ent, 0, 0.0, b"", b"", ent[2], ent[3], *tx)
    if len(att.dyn) == 1:
        d = att.dyn[0]
        assert d.cache is not None
        return (1, d.cache.od, _MATCH[d.return_match], float(d.cache.idle), eng.sr_mpls, eng.sr_ip4,
                d.txc, d.lookups, *tx)
    if not att.dyn and len(att.static) == 1 and att.static[0].nstacks == 1:
        st = att.static[0]
        return (0, None, 0, 0.0, eng.sr_mpls + st.stacks[0], b"", st.txc, st.lookups, *tx)
    return None


def vnf_drain_compiled(mod: Any, ring: RxRing, entry: tuple, slow: Callable[[Any, int, int], None],
                       budget: int, now: float) -> bool:
    """Drain one attachment's ring: the common case in C, every other frame through `slow` (from_vnf)."""
    ret_drain = mod.ret_drain
    return _drain_compiled(lambda m, i, nr, n: ret_drain(m, i, nr, n, now, entry), ring, slow, budget,
                           "compiled return path")


def _drain_compiled(drain_c: Callable[[Any, int, int, int], tuple], ring: RxRing,
                    slow: Callable[[Any, int, int], None], budget: int, what: str) -> bool:
    """Up to budget frames: runs of them in C (drain_c(map, index, slots, budget) -> (index, done, why,
    error)), each frame C leaves in place through the ring's walk with `slow`."""
    m = ring.map
    nr = ring.nr
    done = 0
    while done < budget:
        i, n, why, error = drain_c(m, ring.i, nr, budget - done)
        ring.i = i
        done += n
        if why == _WHY_BUDGET:
            return True
        if why == _WHY_NOT_READY:  # empty, or a hole: the ring's own walk knows what to do
            return ring.drain(slow, budget - done)
        if why == _WHY_ERROR:
            ring.errors += 1
            if ring.errors == 1 or ring.errors % 10_000 == 0:  # a bug must not flood the log either
                log.error("%s failed on a frame (%d so far): %r; frame handled in Python", what, ring.errors, error)
        ring.drain(slow, 1)  # the frame C left in place
        done += 1
    return True
