"""The l4s module of p4/srchain_node.p4 (profile l4s), driven in-process through the emulator with chosen
queueing delays (the egress timestamp minus the ingress one) and the tables the planner computes
(srchain.plan.l4s): classification by all four ECN codepoints, the L4S step, marking and dropping
probabilities against p_C = p'^2 and p_L = k p' (many packets, fixed seed, binomial bounds), RFC 9332's PI2
update to the unit, its convergence on a synthetic queue, and the decision counters."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain.model.modules import L4sParams
from srchain.plan import l4s as L4S
from srchain_emu.interp.pipeline import Emitted, Pipeline

ROOT = Path(__file__).resolve().parents[2]
PROFILE = {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_L4S": "1"}
SID, OUT_PORT = 16000, 2
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
MARKED_L4S, MARKED_CLASSIC, DROPPED_CLASSIC, FORWARDED = range(4)
T0 = 10**9  # ns: the first packets' ingress time
MS = 1_000_000


def sigma_bound(n: int, p: float) -> float:
    """4.5 standard deviations of a binomial count: a correct switch fails this about once in 10^5 runs."""
    return 4.5 * (n * p * (1 - p)) ** 0.5


@pytest.fixture(scope="module")
def compiled() -> Pipeline:
    return Pipeline.from_file(ROOT / "p4" / "srchain_node.p4", defines=PROFILE)


def configure(p: Pipeline, params: L4sParams) -> Pipeline:
    p.reset_state()
    p.seed_random(18)
    p.table("classifier.rules").insert([(0, 0)] * 7, "SwitchIngress.classifier.push_1", {"ttl": 64, "label_0": SID},
                                       10)
    for t, action in (("sr.local_sid_0", "pop_l4s"), ("sr.local_sid_1", "second_l4s")):
        p.table(t).insert([SID], f"SwitchIngress.sr.{action}", {"sid": SID})
    p.table("ipv4.routes").insert([(0, 0)], "SwitchIngress.ipv4.route", {"port": OUT_PORT, "dst_mac": 0x0200000000AA})
    for ecn in range(4):
        p.table("l4s.queue_map").insert([SID, ecn], "SwitchIngress.l4s.set_queue", {"qid": L4S.queue_of(params, ecn)})
    p.table("l4s.config").insert([SID], "SwitchEgress.l4s.set_config", L4S.config_data(params))
    for row in L4S.pi_rows(params):
        p.table("l4s.pi_terms").insert([SID, row.bucket], "SwitchEgress.l4s.set_terms",
                                       {"now": row.now_term, "prev": row.prev_term})
    return p


@pytest.fixture
def node(compiled: Pipeline) -> Pipeline:
    return configure(compiled, L4sParams())


def frame(ecn: int, sport: int = 4000) -> bytes:
    return bytes(Ether(dst="02:00:00:00:01:01") / IP(src="10.0.1.10", dst="10.0.2.10", tos=ecn) /
                 UDP(sport=sport, dport=5001) / bytes(100))


def through(p: Pipeline, ecn: int, t_out: int, delay_ns: int, sport: int = 4000,
            behind_cells: int = 20) -> Emitted | None:
    """One packet out of the queue at `t_out` (the egress clock, which the update's deadline follows) after
    waiting `delay_ns`, leaving `behind_cells` in its queue (deq_qdepth): what egress emits (None: dropped)."""
    (item,) = p.ingress(1, frame(ecn, sport), tstamp_ns=t_out - delay_ns)
    return p.egress(item, tstamp_ns=t_out, deq_qdepth=behind_cells)


def ecn_of(e: Emitted) -> int:
    pkt = Ether(e.frame)
    ip = pkt[IP]
    sent = ip.chksum
    del ip.chksum
    assert IP(bytes(ip))[IP].chksum == sent, "the IPv4 checksum must follow the ECN change"
    return int(ip.tos) & 3


def decisions(p: Pipeline) -> list[int]:
    return list(p.counter("l4s.decisions").pkts)


def hold_p(p: Pipeline, prob: float, now_ns: int) -> None:
    """p' = `prob`, and the next update not due before `now_ns` + the interval (the test's clock stays put)."""
    p.register("l4s.prob").write(OUT_PORT, (round(prob * L4S.P_ONE),))
    interval = L4S.config_data(L4sParams())["interval_1024ns"]
    p.register("l4s.next_update").write(OUT_PORT, (((now_ns >> 10) + interval) & 0xFFFFFFFF,))


def test_each_ecn_codepoint_takes_its_queue_and_an_idle_queue_marks_nothing(node: Pipeline) -> None:
    hold_p(node, 0.0, T0)
    got = {}
    for ecn in (NOT_ECT, ECT1, ECT0, CE):
        e = through(node, ecn, T0, 100_000)  # 0.1 ms: below the step, p' = 0
        assert e is not None and e.port == OUT_PORT
        got[ecn] = (e.qid, ecn_of(e))
    # RFC 9331/9332: ECT(1) and CE -> the L4S queue (1), Not-ECT and ECT(0) -> classic (0); ECN untouched
    assert got == {NOT_ECT: (0, NOT_ECT), ECT1: (1, ECT1), ECT0: (0, ECT0), CE: (1, CE)}
    assert decisions(node) == [0, 0, 0, 4]


def test_queue_ids_come_from_the_configuration(compiled: Pipeline) -> None:
    p = configure(compiled, L4sParams(l4s_queue=5, classic_queue=3))
    hold_p(p, 0.0, T0)
    qids = {ecn: through(p, ecn, T0, 1000).qid for ecn in range(4)}  # type: ignore[union-attr]
    assert qids == {NOT_ECT: 3, ECT1: 5, ECT0: 3, CE: 5}


def test_l4s_step_marks_above_the_threshold_only(node: Pipeline) -> None:
    hold_p(node, 0.0, T0)
    below = [through(node, ECT1, T0, 900_000, sport=4000 + i) for i in range(50)]
    above = [through(node, ECT1, T0, 1_100_000, sport=4000 + i) for i in range(50)]
    assert all(e is not None and ecn_of(e) == ECT1 for e in below)
    assert all(e is not None and ecn_of(e) == CE for e in above)
    # a classic packet is not step-marked, whatever its delay (its AQM is PI2)
    assert all(ecn_of(e) == ECT0 for e in [through(node, ECT0, T0, 10 * MS)] if e is not None)
    # RFC 9332 A.2 Th_len: the L queue holding this packet alone is not step-marked, however long it waited
    # (at 12 Mbit/s one MTU ahead of it in the port is 1 ms): the first packet of a burst passes
    alone = [through(node, ECT1, T0, 1_500_000, sport=4100 + i, behind_cells=0) for i in range(20)]
    assert all(e is not None and ecn_of(e) == ECT1 for e in alone)
    assert decisions(node)[MARKED_L4S] == 50 and decisions(node)[FORWARDED] == 71


@pytest.mark.parametrize("prob", [0.1, 0.3])
def test_marks_and_drops_follow_the_coupled_probabilities(node: Pipeline, prob: float) -> None:
    """p_C = p'^2 (drop Not-ECT, CE-mark ECT(0)), p_L = k p' (k = 2), below the step threshold."""
    hold_p(node, prob, T0)
    n = 3000
    dropped = sum(through(node, NOT_ECT, T0, 100_000, sport=i) is None for i in range(n))
    marked_c = sum(ecn_of(e) == CE for i in range(n) if (e := through(node, ECT0, T0, 100_000, sport=i)))
    marked_l = sum(ecn_of(e) == CE for i in range(n) if (e := through(node, ECT1, T0, 100_000, sport=i)))
    p16 = round(prob * L4S.P_ONE) >> 16  # the switch compares 16-bit draws with p''s high half
    p_c, p_l = (p16 / 65536) ** 2, 2 * p16 / 65536
    assert abs(dropped - n * p_c) <= sigma_bound(n, p_c), (dropped, n * p_c)
    assert abs(marked_c - n * p_c) <= sigma_bound(n, p_c), (marked_c, n * p_c)
    assert abs(marked_l - n * p_l) <= sigma_bound(n, p_l), (marked_l, n * p_l)
    assert decisions(node) == [marked_l, marked_c, dropped, 3 * n - marked_l - marked_c - dropped]


def test_coupled_probability_at_or_above_one_marks_every_l4s_packet(node: Pipeline) -> None:
    hold_p(node, 0.5, T0)  # k p' = 1
    assert all(ecn_of(e) == CE for i in range(200) if (e := through(node, ECT1, T0, 1000, sport=i)))
    assert decisions(node)[MARKED_L4S] == 200


def model_update(p: int, now_term: int, prev_term: int) -> int:
    """The register's arithmetic: p' +|+ delta or p' |-| -delta, saturating at 0 and 2^32 - 1."""
    delta = (now_term - prev_term + (1 << 31)) % (1 << 32) - (1 << 31)
    return min(max(p + delta, 0), (1 << 32) - 1)


def test_pi_update_is_rfc9332s_once_per_interval(node: Pipeline) -> None:
    """Classic packets with a known delay: p' moves only when the interval has passed, by exactly
    now_term(q) - prev_term(q of the previous update), saturating at 0."""
    params = L4sParams()
    rows = L4S.pi_rows(params)
    interval_ns = params.update_interval_us * 1000
    reg = node.register("l4s.prob")
    want, prev_term, t = 0, 0, T0
    delays = [30 * MS, 30 * MS, 40 * MS, 20 * MS, 5 * MS, 5 * MS, 1 * MS] + [2 * MS] * 40
    for i, delay in enumerate(delays):
        bucket = min(delay >> 18, 255)
        through(node, NOT_ECT, t, delay, sport=i)  # the first classic packet past the deadline updates
        want = model_update(want, rows[bucket].now_term, prev_term)
        prev_term = rows[bucket].prev_term
        assert reg.read(OUT_PORT)[0] == want, f"update {i} (delay {delay} ns)"
        through(node, NOT_ECT, t + 1000, delay, sport=i)  # same interval: no second update
        assert reg.read(OUT_PORT)[0] == want
        t += interval_ns + 5_000  # the deadline counts from the update (1.024 us clock): past it
    assert want == 0, "a queue below target brings p' back to 0"


def test_pi_converges_on_a_synthetic_queue(compiled: Pipeline) -> None:
    """A queue whose delay falls as p' rises (q = q0 - c p': senders backing off): p' settles where the delay is
    the target. Gains larger than RFC 9332's (which take minutes at this plant) keep the test short."""
    params = L4sParams(alpha_hz=1.25, beta_hz=1.875, update_interval_us=4000, classic_target_us=15000)
    p = configure(compiled, params)
    q0, c = 0.040, 10.0  # s, s per unit of p': p' = 0.0025 puts the delay on the 15 ms target
    reg = p.register("l4s.prob")
    t, history = T0, []
    for i in range(160):
        prob = reg.read(OUT_PORT)[0] / L4S.P_ONE
        delay_s = max(0.0, q0 - c * prob)
        history.append(delay_s)
        through(p, NOT_ECT, t, int(delay_s * 1e9), sport=i)
        t += params.update_interval_us * 1000 + 5_000
    final = reg.read(OUT_PORT)[0] / L4S.P_ONE
    bucket_s = L4S.bucket_delay_s(1) - L4S.bucket_delay_s(0)
    assert history[0] == q0 and abs(history[-1] - 0.015) <= 2 * bucket_s, history[-10:]
    assert all(abs(d - 0.015) <= 2 * bucket_s for d in history[-40:]), history[-40:]
    assert abs(final - (q0 - 0.015) / c) <= 2 * bucket_s / c, final


def test_unconfigured_sid_passes_untouched(compiled: Pipeline) -> None:
    p = configure(compiled, L4sParams())
    p.table("l4s.config").clear()
    hold_p(p, 0.9, T0)
    e = through(p, ECT1, T0, 5 * MS)
    assert e is not None and ecn_of(e) == ECT1 and e.qid == 1
    assert decisions(p) == [0, 0, 0, 0]


def test_coupling_factor_comes_from_the_configuration(compiled: Pipeline) -> None:
    p = configure(compiled, L4sParams(coupling=4))
    hold_p(p, 0.1, T0)
    n = 2000
    marked = sum(ecn_of(e) == CE for i in range(n) if (e := through(p, ECT1, T0, 100_000, sport=i)))
    p_l = 4 * (round(0.1 * L4S.P_ONE) >> 16) / 65536  # k = 4: a shift by 2
    assert abs(marked - n * p_l) <= sigma_bound(n, p_l), (marked, n * p_l)


@pytest.mark.parametrize("ahead", [10, 1 << 20])
def test_a_deadline_further_ahead_than_one_interval_is_taken_as_due(node: Pipeline, ahead: int) -> None:
    """A stored deadline beyond now + Tupdate (a register never written, or a clock that wrapped) does not stall
    the PI: the next classic packet updates and sets a proper deadline."""
    interval = L4S.config_data(L4sParams())["interval_1024ns"]
    assert isinstance(interval, int)
    stored = ((T0 >> 10) + ahead * interval) & 0xFFFFFFFF
    node.register("l4s.next_update").write(OUT_PORT, (stored,))
    through(node, NOT_ECT, T0, 30 * MS)
    assert node.register("l4s.prob").read(OUT_PORT)[0] > 0
    assert node.register("l4s.next_update").read(OUT_PORT)[0] == ((T0 >> 10) + interval) & 0xFFFFFFFF
    # within the new interval, no second update
    before = node.register("l4s.prob").read(OUT_PORT)[0]
    through(node, NOT_ECT, T0 + interval * 1024 // 2, 30 * MS)
    assert node.register("l4s.prob").read(OUT_PORT)[0] == before
