"""Idle time: the per-entry aging of tables declared with `idle_timeout = true` (the SDE's tna_idletimeout).

A lookup that hits sets the entry's hit bit (generated code, `Entry.idle_hit`). What the control plane sees
depends on the table's IdleTimeout attribute (bfruntime.proto `IdleTable`):

* notify mode: every `ttl_query_interval` ms a sweep reads and clears each entry's hit bit. A hit restores the
  entry's TTL (`$ENTRY_TTL`, ms; 0: the entry does not age); otherwise the interval is taken off what is left.
  When nothing is left the entry is reported idle once (`IdleTimeoutNotification` ENTRY_IDLE on the stream of
  clients that enabled idle-timeout notifications); a hit after that reports it active again (ENTRY_ACTIVE, to
  clients that also enabled entry-active notifications). Entries are never deleted by the switch: the
  application deletes them, as on the SDE. A read of `$ENTRY_TTL` returns what is left.
* poll mode: the `UpdateHitState` table operation copies every hit bit into the software hit state and clears
  it; reads return that state as `$ENTRY_HIT_STATE` (`ENTRY_ACTIVE` / `ENTRY_IDLE`). A read with `from_hw`
  reads the hit bit itself, keeps it as the software state and clears it; writing `$ENTRY_HIT_STATE` sets both.
  These read/clear rules are the ones open-p4studio's tna_idletimeout IdlePollTest exercises (the driver's
  pipe_mgr code is not public in full): that test's sequence of syncs, writes and reads passes only this way.

The TTL granularity is the sweep interval, as on the hardware; `max_ttl`/`min_ttl` are kept and reported but
not enforced (unverified against a Tofino's limits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .interp import runtime as R

ENTRY_TTL_ID = 65543  # bf-p4c control-plane/bfruntime.h TD_DATA_ENTRY_TTL
ENTRY_HIT_STATE_ID = 65544  # TD_DATA_ENTRY_HIT_STATE
HIT_STATES = ("ENTRY_IDLE", "ENTRY_ACTIVE")  # bf-rt.json choices, in bf-p4c's order
SWEEP_TICK_S = 0.02  # how often the server looks for a due sweep


def state_of(entry: R.Entry) -> R.EntryIdle:
    if entry.idle is None:
        entry.idle = R.EntryIdle()
    return entry.idle


def sweep(table: R.Table, elapsed_ms: int) -> list[tuple[int, tuple, R.Entry, bool]]:
    """One notify-mode sweep of `table` (every copy of an asymmetric one): (copy, key, entry, now idle?) for every
    entry whose reported state changes."""
    changes: list[tuple[int, tuple, R.Entry, bool]] = []
    for copy, key, e in ((c, k, e) for c, entries in enumerate(table.copies()) for k, e in entries.items()):
        hit, e.idle_hit = e.idle_hit, False
        st = e.idle
        if st is None or st.ttl_ms == 0:
            continue
        if hit:
            st.left_ms = st.ttl_ms
            if st.reported_idle:
                st.reported_idle = False
                changes.append((copy, key, e, False))
            continue
        st.left_ms = max(0, st.left_ms - elapsed_ms)
        if st.left_ms == 0 and not st.reported_idle:
            st.reported_idle = True
            changes.append((copy, key, e, True))
    return changes


def set_ttl(entry: R.Entry, ttl_ms: int) -> Callable[[], None]:
    """`$ENTRY_TTL` written with an entry: the full TTL is left again."""
    old = entry.idle
    entry.idle = R.EntryIdle(ttl_ms=ttl_ms, left_ms=ttl_ms,
                             hit_state=old.hit_state if old is not None else False)

    def undo() -> None:
        entry.idle = old
    return undo


def set_hit_state(entry: R.Entry, active: bool) -> Callable[[], None]:
    """`$ENTRY_HIT_STATE` written with an entry (poll mode): the software state and the hit bit."""
    old, old_hit = (None if entry.idle is None else dataclasses.replace(entry.idle)), entry.idle_hit
    state_of(entry).hit_state = active
    entry.idle_hit = active

    def undo() -> None:
        entry.idle, entry.idle_hit = old, old_hit
    return undo


def update_hit_state(table: R.Table) -> Callable[[], None]:
    """The UpdateHitState operation (poll mode): every hit bit into the software state, then cleared."""
    every = [e for entries in table.copies() for e in entries.values()]
    before = [(e, e.idle_hit, None if e.idle is None else e.idle.hit_state) for e in every]
    for e in every:
        state_of(e).hit_state, e.idle_hit = e.idle_hit, False

    def undo() -> None:
        for e, hit, state in before:
            e.idle_hit = hit
            if state is None:
                e.idle = None
            else:
                state_of(e).hit_state = state
    return undo


def read_hit_state(entry: R.Entry, from_hw: bool) -> str:
    """`$ENTRY_HIT_STATE` as a read returns it; a hardware read syncs the bit into the software state."""
    if from_hw:
        state_of(entry).hit_state, entry.idle_hit = entry.idle_hit, False
    return HIT_STATES[entry.idle is not None and entry.idle.hit_state]


def read_ttl(entry: R.Entry) -> int:
    """`$ENTRY_TTL` as a read returns it: what is left of the TTL (ms)."""
    return 0 if entry.idle is None else entry.idle.left_ms
