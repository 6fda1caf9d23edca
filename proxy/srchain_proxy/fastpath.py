"""The SR side's common case inline, in one loop over the receive ring (pure Python).

The layered path (ring walk -> handler -> Engine.from_sr -> TX put) spends about as much time in calls
and attribute lookups as in the work itself. This loop does the ring walk, the pop, the flow learning
(dynamic) and the hand-over to the TX ring with everything bound to locals. Only the common case is
inline: MPLS, top label one of our SIDs with TTL > 1, bottom of stack within the MSD, IPv4 without
options, a ready attachment without version pins and, for dynamic SIDs, a TCP/UDP/SCTP packet that is
not a later fragment. Every other frame goes through `slow` (Engine.from_sr, the reference), so each
behaviour is defined in one place; tests/proxy/test_proxy_fastpath.py checks both give the same bytes,
counters and cache contents.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

from srchain_net.rings import FRAME_SIZE, TP_STATUS_USER, RingTx, RxRing, log_frame_error

from .engine import AttState, Engine

log = logging.getLogger(__name__)

_RXHDR = struct.Struct("III H")  # tpacket2_hdr: tp_status, tp_len, tp_snaplen, tp_mac
_ETH_TOP = struct.Struct("!12xHI")  # ethertype, first label stack entry
_ZERO = bytes(4)
_WHY_BUDGET, _WHY_NOT_READY, _WHY_SLOW, _WHY_ERROR = 0, 1, 2, 3  # as in _fastsr.c
WHY_IDLE = 4  # _fastsr.c cycle(): every ring stayed empty


def sr_drain(eng: Engine, ring: RxRing, slow: Callable[[Any, int, int], None], budget: int,
             now: float) -> bool:
    """Handle up to budget ready frames of the SR ring. True if more may be waiting (as RxRing.drain)."""
    m = ring.map
    mv = ring.view
    nr = ring.nr
    i = ring.i
    unpack = _RXHDR.unpack_from
    eth_top = _ETH_TOP.unpack_from
    sids_get = eng.sids.get
    stack_room = 4 * eng.msd
    done = 0
    try:
        while done < budget:
            off = i * FRAME_SIZE
            if not m[off] & TP_STATUS_USER:
                skip = ring._skip_hole(i)
                if skip:
                    i = (i + skip) % nr
                    continue
                return ring._hole is not None
            _status, length, snap, mac = unpack(m, off)
            s = off + mac
            e = s + snap
            if snap != length:
                ring.oversize += 1
            else:
                try:
                    fast = False
                    if snap >= 42:
                        et, top = eth_top(m, s)
                        st = sids_get(top >> 12) if et == 0x8847 and top & 0xFF > 1 else None
                        att = st.att if st is not None else None
                        if att is not None and att.dmac is not None and att.pins is None:
                            p = s + 18
                            if not m[s + 16] & 1:  # walk to the bottom of stack within the MSD
                                limit = s + 14 + stack_room
                                while p < limit and p + 4 <= e:
                                    p += 4
                                    if m[p - 2] & 1:
                                        break
                                else:
                                    p = 0
                            if p and e - p >= 20 and m[p] == 0x45:
                                end = p + (m[p + 2] << 8 | m[p + 3])
                                if p + 20 <= end <= e:
                                    cache = st.cache
                                    if cache is None:
                                        fast = True
                                    elif (end >= p + 24 and m[p + 9] in (6, 17, 132)
                                          and not (m[p + 6] & 0x1F or m[p + 7])):
                                        fast = True
                                        key = (m[p + 9], m[p + 12:p + 24])
                                        value = m[s + 18:p]
                                        ent = cache.od.get(key)
                                        if ent is None or ent[1] != now or ent[0] != value:
                                            cache.learn(key, value, now)
                                    if fast:
                                        m[p - 14:p] = att.hdr4
                                        rx = st.rx
                                        rx[0] += 1
                                        rx[1] += snap
                                        att.tx.put(mv[p - 14:end])
                    if not fast:
                        slow(m, s, e)
                except Exception:  # a bug must cost one frame, not the loop (the frame is released below)
                    ring.errors += 1
                    log_frame_error(ring.errors)
            m[off:off + 4] = _ZERO  # back to the kernel
            i = i + 1 if i + 1 < nr else 0
            done += 1
        return True
    finally:
        ring.i = i


def fast_table(eng: Engine) -> dict[int, tuple]:
    """Per-SID entries for the compiled loop (layout in _fastsr.c). SIDs left out take the Python path:
    no attachment, version pins (several static SIDs on one VNF), or a send side without a TX ring."""
    table: dict[int, tuple] = {}
    for sid, st in eng.sids.items():
        att = st.att
        tx = att.tx if att is not None else None
        if att is None or att.pins is not None or not isinstance(tx, RingTx):
            continue
        od = st.cache.od if st.cache is not None else None
        table[sid] = (att, od, st.rx, tx.map, tx.st, tx.nr, tx.sock.fileno())
    return table


def sr_drain_compiled(mod: Any, eng: Engine, ring: RxRing, slow: Callable[[Any, int, int], None], budget: int,
                      now: float) -> bool:
    """As sr_drain, with the common case in C (mod = the _fastsr module); other frames go through sr_drain."""
    drain_c = mod.drain
    m = ring.map
    nr = ring.nr
    table = eng.fast
    room = 4 * eng.msd
    done = 0
    while done < budget:
        i, n, why, error = drain_c(m, ring.i, nr, budget - done, now, table, room)
        ring.i = i
        done += n
        if why == _WHY_BUDGET:
            return True
        if why == _WHY_NOT_READY:  # empty, or a hole: the Python loop knows what to do
            return sr_drain(eng, ring, slow, budget - done, now)
        if why == _WHY_ERROR:
            ring.errors += 1
            if ring.errors == 1 or ring.errors % 10_000 == 0:  # a bug must not flood the log either
                log.error("compiled fast path failed on a frame (%d so far): %r; frame handled in Python",
                          ring.errors, error)
        sr_drain(eng, ring, slow, 1, now)  # the frame C left in place
        done += 1
    return True


_MATCH = {"same": 1, "reverse": 2, "either": 3}


def return_entry(eng: Engine, att: AttState, sr_tx: Any) -> tuple | None:
    """The compiled return loop's view of one attachment (layout in _fastsr.c), or None when every frame
    of it goes through Engine.from_vnf: several dynamic SIDs (the most recent hit wins), several static
    SIDs (pins) or stacks (hash buckets), or a send side without a TX ring."""
    if not isinstance(sr_tx, RingTx):
        return None
    tx = (sr_tx.map, sr_tx.st, sr_tx.nr, sr_tx.sock.fileno())
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
    m = ring.map
    nr = ring.nr
    done = 0
    while done < budget:
        i, n, why, error = ret_drain(m, ring.i, nr, budget - done, now, entry)
        ring.i = i
        done += n
        if why == _WHY_BUDGET:
            return True
        if why == _WHY_NOT_READY:  # empty, or a hole: the ring's own walk knows what to do
            return ring.drain(slow, budget - done)
        if why == _WHY_ERROR:
            ring.errors += 1
            if ring.errors == 1 or ring.errors % 10_000 == 0:
                log.error("compiled return path failed on a frame (%d so far): %r; frame handled in Python",
                          ring.errors, error)
        ring.drain(slow, 1)  # the frame C left in place
        done += 1
    return True
