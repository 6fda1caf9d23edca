"""The l4s module's plan (examples/l4s.yaml): the reviewed golden file, and what its entries mean: the SID's
pops, the queue of each ECN codepoint, the AQM's parameters, PI2 terms whose differences are RFC 9332's update,
and the TM rows of the bottleneck."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chainlib import EXAMPLES, plan_file, sid_of

from srchain.model import SpecError, load_chain
from srchain.model.modules import L4S_BUCKET_NS, L4sParams
from srchain.plan import l4s as L4S
from srchain.plan import tables as T
from srchain.plan import tm as TM

SPEC = EXAMPLES / "l4s.yaml"
GOLDEN = Path(__file__).parent / "golden" / "l4s.plan.json"


def test_l4s_plan_is_exactly_the_reviewed_one(tmp_path: Path) -> None:
    assert plan_file(SPEC, tmp_path).to_json() == json.loads(GOLDEN.read_text())


def test_l4s_entries_mean_what_the_module_reads(tmp_path: Path) -> None:
    plan = plan_file(SPEC, tmp_path)
    sid = sid_of(plan, "aqm")
    by_table: dict[str, list] = {}
    for e in plan.entries:
        by_table.setdefault(e.table, []).append(e)
    assert [(e.action, e.params) for e in by_table[T.LOCAL_SID_TABLES[0]]] == [(T.LOCAL_SID_ACTIONS[
        T.LOCAL_SID_TABLES[0]]["l4s"], {"sid": sid})]
    assert [(e.action, e.params) for e in by_table[T.LOCAL_SID_TABLES[1]]] == [(T.LOCAL_SID_ACTIONS[
        T.LOCAL_SID_TABLES[1]]["l4s"], {"sid": sid})]
    # ECT(1) (01) and CE (11) to the L4S queue 1, Not-ECT (00) and ECT(0) (10) to the classic queue 0
    assert {e.key["ecn"]: e.params["qid"] for e in by_table[T.L4S_QUEUE_MAP]} == {0: 0, 1: 1, 2: 0, 3: 1}
    (config,) = by_table[T.L4S_CONFIG]
    # 16 ms in the deadline's 1.024 us clock; k = 2 is a shift by 1
    assert config.params == {"step_threshold_ns": 1_000_000, "interval_1024ns": 15625, "coupling_log2": 1}
    assert len(by_table[T.L4S_PI]) == 256
    # TM: both queues' DWRR weights and the 12 Mbit/s shaper on each port s1 sends the chain's packets by
    shaping = {e.key["dev_port"]: e.params for e in by_table[TM.PORT_SHAPING]}
    assert shaping and all(p["max_rate"] == 12000 and p["unit"] == "BPS" for p in shaping.values())
    assert {e.key["dev_port"] for e in by_table[TM.PORT_SCHED]} == set(shaping)
    # the classic queue's weight; the L4S queue keeps the default 1023 (no row)
    weights = {(e.key["pg_queue"] % 8): e.params["dwrr_weight"] for e in by_table[TM.QUEUE_SCHED]}
    assert weights == {0: TM.CLASSIC_WEIGHT} and TM.QUEUE_SCHED_DEFAULTS["dwrr_weight"] == TM.L4S_WEIGHT


def _signed(v: int) -> int:
    return v - (1 << 32) if v >> 31 else v


@pytest.mark.parametrize("params", [{}, {"alpha_hz": 1.25, "beta_hz": 1.875, "update_interval_us": 4000,
                                         "classic_target_us": 5000}])
def test_pi_terms_give_rfc9332s_update(params: dict) -> None:
    """now(q) - prev(q') = alpha_U (q - target) + beta_U (q - q'), p' = 2^32, for any two buckets."""
    p = L4sParams(**params)
    rows = L4S.pi_rows(p)
    t = p.update_interval_us * 1e-6
    a_u, b_u, target = p.alpha_hz * t, p.beta_hz * t, p.classic_target_us * 1e-6
    for b, b_prev in ((0, 0), (57, 57), (60, 40), (10, 200), (255, 254)):
        q, q_prev = L4S.bucket_delay_s(b), L4S.bucket_delay_s(b_prev)
        want = (a_u * (q - target) + b_u * (q - q_prev)) * L4S.P_ONE
        got = _signed(rows[b].now_term) - rows[b_prev].prev_term
        assert abs(got - want) <= 1, (b, b_prev, got, want)
    assert L4S.bucket_delay_s(1) - L4S.bucket_delay_s(0) == pytest.approx(L4S_BUCKET_NS * 1e-9)


@pytest.mark.parametrize(("params", "reason"), [
    ({"coupling": 3}, "coupling 3 is not a power of two in 1..16"),
    ({"l4s_queue": 0, "classic_queue": 0}, "l4s_queue and classic_queue are both 0"),
    ({"alpha_hz": 100, "beta_hz": 1000, "update_interval_us": 1_000_000}, "is too large"),
    ({"classic_target_us": 70000}, "less than 66846"),
])
def test_bad_l4s_params_are_refused_with_the_reason(params: dict, reason: str, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = SPEC.read_text().replace("      coupling: 2\n", "").replace("      l4s_queue: 1\n", "")
    text = text.replace("      classic_queue: 0\n", "").replace("      classic_target_us: 15000\n", "")
    text = text.replace("      alpha_hz: 0.16\n", "").replace("      beta_hz: 3.2\n", "")
    text = text.replace("      update_interval_us: 16000\n", "")
    text = text.replace("    params:\n", "    params:\n" + "".join(f"      {k}: {v}\n" for k, v in params.items()))
    spec.write_text(text)
    with pytest.raises(SpecError) as info:
        load_chain(spec, EXAMPLES / "inventory.yaml")
    assert any(str(i).startswith(f"{spec}:") and "segments[0].params" in str(i) and reason in str(i)
               for i in info.value.issues), info.value.issues
