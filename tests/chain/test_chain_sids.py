"""SID allocation: inside the block, never reserved, never duplicated, persistent, safe across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from chainlib import INVENTORY, REFERENCE, plan_file, sid_of, write_variant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srchain.model.spec import SrBlock
from srchain.sidstore import BlockExhausted, SidStore

keys = st.tuples(
    st.sampled_from(["c1", "c2"]),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["x", "y"]),
    st.sampled_from(["ctx1", "ctx2", "ctx3"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 40), size=st.integers(1, 30), requests=st.lists(keys, max_size=60))
def test_allocation_properties(
    tmp_path_factory: pytest.TempPathFactory, start: int, size: int, requests: list[tuple[str, str, str, str]]
) -> None:
    start = max(start, 16)  # a block below 16 is refused by the spec model (tested elsewhere)
    block = SrBlock(start=start, end=start + size - 1)
    given_labels: dict[tuple[str, str, str, str], int] = {}
    with SidStore(tmp_path_factory.mktemp("sids")) as store:
        for key in requests:
            try:
                with store.transaction() as tx:
                    label = tx.sid(*key, version=1, block=block).label
            except BlockExhausted as exc:
                assert len(set(given_labels.values())) == size, "exhausted only when the block is full"
                assert f"SR block {block.start}-{block.end} is exhausted" in str(exc)
                continue
            assert block.start <= label <= block.end and label >= 16
            assert given_labels.setdefault(key, label) == label, "the same key must get the same label"
        assert len(set(given_labels.values())) == len(given_labels), "no label handed out twice"
        assert sorted(s.label for s in store.sids()) == sorted(given_labels.values())


def test_reserved_labels_never_allocated_even_with_a_raw_block(tmp_path: Path) -> None:
    raw = SrBlock.model_construct(start=0, end=20)  # bypass validation, as a corrupted caller would
    with SidStore(tmp_path) as store, store.transaction() as tx:
        labels = [tx.sid("c", f"s{i}", "i", "ctx", 1, raw).label for i in range(5)]
    assert labels == [16, 17, 18, 19, 20]


def test_exhausted_block_rolls_back_the_whole_plan(tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        with pytest.raises(BlockExhausted, match="needs one more for segment 's2'"), store.transaction() as tx:
            for i in range(3):
                tx.sid("c", f"s{i}", "i", "ctx", 1, SrBlock(start=100, end=101))
        assert store.sids() == []


def _plan_json(state: Path, spec: Path) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "srchain.cli",
            "chain",
            "plan",
            str(spec),
            "-i",
            str(INVENTORY),
            "--state-dir",
            str(state),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_allocations_persist_across_processes(tmp_path: Path) -> None:
    first = _plan_json(tmp_path, REFERENCE)
    again = _plan_json(tmp_path, REFERENCE)
    assert again["sids"] == first["sids"] and again["version"] == first["version"] == 1
    assert again == first, "re-planning the same chain in a new process gives the same plan"


def test_changed_chain_keeps_unchanged_sids(tmp_path: Path) -> None:
    before = plan_file(REFERENCE, tmp_path)
    more = write_variant(tmp_path, "more-often", {"report_every: 32": "report_every: 16"})
    after = plan_file(more, tmp_path)
    assert after.version == before.version + 1
    assert {(s.segment, s.instance, s.sid) for s in after.sids} == {(s.segment, s.instance, s.sid) for s in before.sids}
    back = plan_file(REFERENCE, tmp_path)
    assert back.version == after.version + 1, "versions only grow, even when content returns to an old one"
    assert sid_of(back, "formatter") == sid_of(before, "formatter")


def _allocate_many(state_dir: str, chain: str, n: int) -> list[int]:
    out = []
    with SidStore(state_dir) as store:
        for i in range(n):
            with store.transaction() as tx:
                out.append(tx.sid(chain, f"seg{i}", "i", "ctx", 1, SrBlock()).label)
    return out


def test_concurrent_processes_never_share_a_label(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_allocate_many, [str(tmp_path)] * 4, [f"chain{i}" for i in range(4)], [60] * 4))
    labels = [label for r in results for label in r]
    assert len(labels) == 240 and len(set(labels)) == 240
    assert min(labels) == 16000 and max(labels) == 16239, "the lowest free labels, no gaps"


def test_lowest_free_label_after_a_release_and_when_dense(tmp_path: Path) -> None:
    """Dense block: the next label is one past the highest; a released label in the middle is the lowest free;
    a full block is exhausted (the fast path and the scan of SidStore._lowest_free agree with the rule)."""
    block = SrBlock(start=100, end=105)
    with SidStore(tmp_path) as store:
        with store.transaction() as tx:
            assert [tx.sid("a", f"s{i}", "i", "ctx", 1, block).label for i in range(3)] == [100, 101, 102]
            assert tx.sid("b", "s", "i", "ctx", 1, block).label == 103
            assert tx.sid("a", "s3", "i", "ctx", 1, block).label == 104
        assert store.release("a", keep={100, 102, 104}) == [101]
        with store.transaction() as tx:
            assert tx.sid("c", "s", "i", "ctx", 1, block).label == 101  # the gap first
            assert tx.sid("c", "t", "i", "ctx", 1, block).label == 105  # dense again: past the highest
            with pytest.raises(BlockExhausted):
                tx.sid("c", "u", "i", "ctx", 1, block)


def test_lowest_free_label_when_another_store_or_a_rollback_frees_one(tmp_path: Path) -> None:
    """SidStore keeps, per block, the floor below which every label is taken: a label freed by another
    connection (another srchain process), by this store's undo or by a rolled-back plan is still the next."""
    block = SrBlock(start=100, end=120)
    with SidStore(tmp_path) as a, SidStore(tmp_path) as b:
        with a.transaction() as tx:
            assert [tx.sid("a", f"s{i}", "i", "ctx", 1, block).label for i in range(5)] == [100, 101, 102, 103, 104]
        assert b.release("a", keep={100, 101, 103, 104}) == [102]  # another connection frees 102
        with a.transaction() as tx:
            assert tx.sid("c", "s", "i", "ctx", 1, block).label == 102
            assert tx.sid("c", "t", "i", "ctx", 1, block).label == 105
        with pytest.raises(BlockExhausted), a.transaction() as tx:  # a refused plan: nothing it took stays taken
            assert tx.sid("d", "s", "i", "ctx", 1, block).label == 106
            tx.sid("d", "t", "i", "ctx", 1, SrBlock(start=200, end=200))
            tx.sid("d", "u", "i", "ctx", 1, SrBlock(start=200, end=200))  # the one-label block is full
        with a.transaction() as tx:
            assert tx.sid("e", "s", "i", "ctx", 1, block).label == 106
            added = tx.added
        a.undo(added)  # this store gives 106 back
        with a.transaction() as tx:
            assert tx.sid("f", "s", "i", "ctx", 1, block).label == 106
        with b.transaction() as tx:  # b's view: everything a committed
            assert tx.sid("g", "s", "i", "ctx", 1, block).label == 107
        with a.transaction() as tx:
            assert tx.sid("h", "s", "i", "ctx", 1, block).label == 108
