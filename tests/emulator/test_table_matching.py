"""Table matching: the tuple-space search used for ternary/lpm tables agrees with a plain priority scan."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from srchain_emu.interp import runtime as R


def make_table(kinds: list[str], width: int = 8) -> R.Table:
    keys = [R.KeyInfo(f"k{i}", kind, width) for i, kind in enumerate(kinds)]
    act = R.ActionInfo("set", lambda v: None, [("v", 16)])
    default = R.Entry(R.ActionInfo("NoAction", lambda: None, []), (), hit=False)
    return R.Table("t", keys, [act], default, size=10_000)


def reference(table: R.Table, key: tuple) -> R.Entry:
    """Spec: exact+lpm tables pick the longest prefix; with ternary/range keys the lowest
    (priority, -prefix_len) wins."""
    prefix_only = all(k.match_kind in ("exact", "lpm") for k in table.keys)
    best = None
    for e in table.entries.values():
        ok = True
        plen = 0
        for k, spec, info in zip(key, e.key, table.keys, strict=True):
            if info.match_kind == "exact":
                ok &= k == spec
            elif info.match_kind == "ternary":
                ok &= (k & spec[1]) == spec[0]
            elif info.match_kind == "lpm":
                mask = ((1 << spec[1]) - 1) << (info.width - spec[1])
                ok &= (k & mask) == spec[0]
                plen = spec[1]
            else:
                ok &= spec[0] <= k <= spec[1]
        rank = (0 if prefix_only else e.priority, -plen)
        if ok and (best is None or rank < best[0]):
            best = (rank, e)
    return best[1] if best else table.default


spec_strategy = {
    "exact": st.integers(0, 255),
    "ternary": st.tuples(st.integers(0, 255), st.sampled_from([0, 0xFF, 0xF0, 0x0F, 0x80, 0xAA])),
    "lpm": st.tuples(st.integers(0, 255), st.integers(0, 8)),
    "range": st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: (min(t), max(t))),
}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(["exact", "ternary", "lpm", "range"]), min_size=1, max_size=3).filter(
        lambda ks: ks.count("lpm") <= 1
    ),
    st.data(),
)
def test_lookup_matches_reference(kinds, data):
    table = make_table(kinds)
    n = data.draw(st.integers(0, 15))
    prios = data.draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True))
    for i, prio in enumerate(prios):
        spec = [data.draw(spec_strategy[k]) for k in kinds]
        with contextlib.suppress(R.EntryExists):  # a repeated key is simply skipped
            table.insert(spec, "set", {"v": i}, priority=prio)
    for _ in range(30):
        key = tuple(data.draw(st.integers(0, 255)) for _ in kinds)
        got, want = table.lookup(key), reference(table, key)
        assert got is want, (kinds, key, got.key, want.key)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["exact", "ternary", "lpm", "range"]), min_size=1, max_size=3).filter(
        lambda ks: ks.count("lpm") <= 1 and ks != ["exact"] * len(ks)
    ),
    st.data(),
)
def test_lookup_memo_follows_every_change(kinds, data):
    """LPM/ternary/range results are memoised per key: every insert, delete, clear and default change must
    show in the very next lookup of a key looked up before."""
    table = make_table(kinds)
    probes = [tuple(data.draw(st.integers(0, 255)) for _ in kinds) for _ in range(6)]
    specs: list[list] = []
    for step in range(12):
        op = data.draw(st.sampled_from(["insert", "insert", "delete", "default", "clear"]))
        if op == "insert":
            spec = [data.draw(spec_strategy[k]) for k in kinds]
            with contextlib.suppress(R.EntryExists):
                table.insert(spec, "set", {"v": step}, priority=data.draw(st.integers(0, 1000)))
                specs.append(spec)
        elif op == "delete" and specs:
            table.delete(specs.pop(data.draw(st.integers(0, len(specs) - 1))))
        elif op == "default":
            table.set_default("set", {"v": 1000 + step})
        elif op == "clear":
            table.clear()
            specs.clear()
        for key in probes:
            assert table.lookup(key) is reference(table, key), (op, kinds, key)
