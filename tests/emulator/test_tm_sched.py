"""The traffic manager's scheduler (no sockets): the Tofino 1 default is not strict priority but DWRR with equal
weights (SDE tm_tofino_default.c), strict priority and weights exist only where configured, and a queue's max
rate holds it back without stopping the others."""

from __future__ import annotations

from srchain_emu.device_tables import QueueSched
from srchain_emu.interp.pipeline import ToTM
from srchain_emu.tm import TrafficManager

PORT = 1


def backlog(tm: TrafficManager, sizes: dict[int, int], n: int = 200) -> None:
    """`n` packets in each queue (qid -> frame size), queue 0's first: a FIFO would send all of them first."""
    for qid, size in sizes.items():
        for _ in range(n):
            assert tm.enqueue(ToTM(PORT, bytes(size), qid))


def served(tm: TrafficManager, first: int) -> dict[int, int]:
    """Bytes per queue among the first `first` packets the scheduler releases."""
    out, _ = tm.dequeue()
    got: dict[int, int] = {}
    for item, *_ in out[:first]:
        got[item.qid] = got.get(item.qid, 0) + len(item.frame)
    return got


def test_default_shares_two_busy_queues_by_bytes_not_by_priority():
    tm = TrafficManager()
    backlog(tm, {0: 1000, 7: 200})
    got = served(tm, 120)
    # strict priority (queue 7 first) would give queue 7 all 120 packets; DWRR with equal weights gives each
    # queue the same bytes: 20 of 1000 B and 100 of 200 B, within a round's quantum
    assert 0 in got and 7 in got, got
    assert abs(got[0] - got[7]) <= 1023 + 1000, got


def test_configured_strict_priority_serves_queue_7_first():
    tm = TrafficManager()
    tm.set_queue(PORT, 7, QueueSched(priority=7))
    backlog(tm, {0: 1000, 7: 200})
    out, _ = tm.dequeue()
    assert [d.item.qid for d in out] == [7] * 200 + [0] * 200


def test_weights_share_in_proportion():
    tm = TrafficManager()
    tm.set_queue(PORT, 3, QueueSched(weight=300))
    tm.set_queue(PORT, 0, QueueSched(weight=900))
    backlog(tm, {0: 100, 3: 100})
    got = served(tm, 200)
    assert 2.5 <= got[0] / got[3] <= 3.5, got


def test_disabled_queue_waits_and_a_rate_limited_one_yields():
    tm = TrafficManager()
    tm.set_queue(PORT, 5, QueueSched(enabled=False))
    tm.set_queue(PORT, 7, QueueSched(priority=7, max_rate_bps=8_000, max_burst_bytes=1000))
    backlog(tm, {0: 500, 5: 500, 7: 500}, n=10)
    out, wait = tm.dequeue()
    qids = [d.item.qid for d in out]
    # queue 7's bucket holds 1000 bytes: two packets, then queue 0 (work conserving); queue 5 never
    assert qids == [7, 7] + [0] * 10, qids
    assert 0 < wait <= 0.5 and tm.pending == 18


def test_egress_gets_enqueue_and_dequeue_depths_enqueue_time_and_wait():
    """TNA tofino1arch.p4: enq_qdepth at enqueue, deq_qdepth at dequeue (cells, the packet itself not counted),
    enq_tstamp the enqueue time, deq_timedelta the wait: four different values for a queue that moves."""
    tm = TrafficManager()
    for i, t in enumerate((1_000, 2_000, 3_000)):  # 160, 240 and 80 bytes: 2, 3 and 1 cells
        assert tm.enqueue(ToTM(PORT, bytes((160, 240, 80)[i]), 0), now_ns=t)
    out, _ = tm.dequeue(now_ns=10_000)
    assert [(d.enq_qdepth, d.deq_qdepth) for d in out] == [(0, 4), (2, 1), (5, 0)]
    assert [d.enq_tstamp for d in out] == [1_000, 2_000, 3_000]
    assert [d.deq_timedelta for d in out] == [9_000, 8_000, 7_000]
    assert {d.deq_tstamp for d in out} == {10_000}
    assert tm.depth[(PORT, 0)] == 0


def test_depths_are_per_queue():
    tm = TrafficManager()
    tm.enqueue(ToTM(PORT, bytes(800), 0), now_ns=0)  # 10 cells in queue 0
    tm.enqueue(ToTM(PORT, bytes(80), 1), now_ns=0)   # queue 1 empty before it
    out, _ = tm.dequeue(now_ns=5)
    by_q = {d.item.qid: (d.enq_qdepth, d.deq_qdepth) for d in out}
    assert by_q == {0: (0, 0), 1: (0, 0)}


def test_pipeline_hands_the_queue_fields_to_egress(tmp_path):
    """The four fields reach the program with the hardware's widths (18-bit times, 19-bit depths)."""
    from srchain_emu.interp.pipeline import Pipeline

    src = tmp_path / "q.p4"
    src.write_text(QFIELDS_P4)
    p = Pipeline.from_file(src)
    (item,) = p.ingress(0, bytes(14) + bytes(16))
    e = p.egress(item, enq_qdepth=7, deq_timedelta=300_000, tstamp_ns=1_000_000, deq_qdepth=3,
                 enq_tstamp=700_000)
    assert e is not None
    f = e.frame
    assert int.from_bytes(f[14:18], "big") == 7 and int.from_bytes(f[18:22], "big") == 3
    assert int.from_bytes(f[22:26], "big") == 700_000 & 0x3FFFF
    assert int.from_bytes(f[26:30], "big") == 300_000 & 0x3FFFF
    # defaults: deq_qdepth = enq_qdepth, enq_tstamp = dequeue time - wait
    (item,) = p.ingress(0, bytes(14) + bytes(16))
    f = p.egress(item, enq_qdepth=9, deq_timedelta=1_000, tstamp_ns=51_000).frame  # type: ignore[union-attr]
    assert int.from_bytes(f[18:22], "big") == 9 and int.from_bytes(f[22:26], "big") == 50_000


QFIELDS_P4 = r"""
#include <core.p4>
#include <tna.p4>
header eth_h { bit<112> b; }
header q_h { bit<32> enq_qdepth; bit<32> deq_qdepth; bit<32> enq_tstamp; bit<32> deq_timedelta; }
struct h_t { eth_h eth; q_h q; }
struct m_t { }
parser IP(packet_in pkt, out h_t h, out m_t m, out ingress_intrinsic_metadata_t ig) {
    state start { pkt.extract(ig); pkt.advance(PORT_METADATA_SIZE); pkt.extract(h.eth); transition accept; }
}
control I(inout h_t h, inout m_t m, in ingress_intrinsic_metadata_t ig, in ingress_intrinsic_metadata_from_parser_t p,
          inout ingress_intrinsic_metadata_for_deparser_t d, inout ingress_intrinsic_metadata_for_tm_t tm) {
    apply { tm.ucast_egress_port = 1; }
}
control ID(packet_out pkt, inout h_t h, in m_t m, in ingress_intrinsic_metadata_for_deparser_t d) {
    apply { pkt.emit(h.eth); }
}
parser EP(packet_in pkt, out h_t h, out m_t m, out egress_intrinsic_metadata_t eg) {
    state start { pkt.extract(eg); pkt.extract(h.eth); pkt.extract(h.q); transition accept; }
}
control E(inout h_t h, inout m_t m, in egress_intrinsic_metadata_t eg, in egress_intrinsic_metadata_from_parser_t p,
          inout egress_intrinsic_metadata_for_deparser_t d, inout egress_intrinsic_metadata_for_output_port_t o) {
    apply {
        h.q.enq_qdepth = (bit<32>)eg.enq_qdepth;
        h.q.deq_qdepth = (bit<32>)eg.deq_qdepth;
        h.q.enq_tstamp = (bit<32>)eg.enq_tstamp;
        h.q.deq_timedelta = (bit<32>)eg.deq_timedelta;
    }
}
control ED(packet_out pkt, inout h_t h, in m_t m, in egress_intrinsic_metadata_for_deparser_t d) {
    apply { pkt.emit(h.eth); pkt.emit(h.q); }
}
Pipeline(IP(), I(), ID(), EP(), E(), ED()) pipe;
Switch(pipe) main;
"""


def line_clock_tm(rate_bps: int, burst: int) -> tuple[TrafficManager, int]:
    """A TM whose PORT is shaped, and a base time (ns, monotonic) just after its token bucket was filled."""
    import time

    tm = TrafficManager()
    tm.set_rate(PORT, rate_bps, burst)
    return tm, time.monotonic_ns() + 1_000_000


def test_a_shaped_port_sends_on_its_line_clock_not_when_the_loop_comes_round():
    """8 Mbit/s = 1 byte/us, bucket 1000 B: three 1000-byte packets enqueued at once leave 1 ms apart on the line
    clock, and egress sees those times even though the loop served them 10 ms late; the lateness is measured."""
    tm, t0 = line_clock_tm(8_000_000, 1000)
    for _ in range(3):
        assert tm.enqueue(ToTM(PORT, bytes(1000), 0), now_ns=t0)
    now_ns = t0 + 10_000_000
    out, wait = tm.dequeue(now=now_ns / 1e9, now_ns=now_ns)
    assert wait == 0 and len(out) == 3
    assert [round((d.deq_tstamp - t0) / 1e3) for d in out] == [0, 1000, 2000]  # us
    assert [round(d.deq_timedelta / 1e3) for d in out] == [0, 1000, 2000]
    assert [round(n / 1e3) for n in tm.lateness_ns] == [10000, 9000, 8000]


def test_the_line_clock_waits_for_tokens_and_says_how_long():
    tm, t0 = line_clock_tm(8_000_000, 1000)
    for _ in range(2):
        tm.enqueue(ToTM(PORT, bytes(1000), 0), now_ns=t0)
    now_ns = t0 + 400_000  # the second packet's tokens are there at t0 + 1 ms
    out, wait = tm.dequeue(now=now_ns / 1e9, now_ns=now_ns)
    assert len(out) == 1 and abs(wait - 0.0006) < 1e-6 and tm.pending == 1


def test_a_packet_that_arrived_after_the_line_clock_time_does_not_jump_ahead():
    """Strict priority for queue 7, but at the line-clock time of the second classic packet (t0 + 1 ms) the
    queue-7 packet had not arrived yet (t0 + 1.5 ms): the classic one goes first, as on the hardware, even though
    the loop found both queued; the queue-7 packet goes next, when the line is free (t0 + 2 ms), before the third
    classic one."""
    tm, t0 = line_clock_tm(8_000_000, 1000)
    tm.set_queue(PORT, 7, QueueSched(priority=7))
    tm.enqueue(ToTM(PORT, bytes(1000), 0), now_ns=t0)
    tm.enqueue(ToTM(PORT, bytes(1000), 0), now_ns=t0)
    tm.enqueue(ToTM(PORT, bytes(1000), 0), now_ns=t0)
    tm.enqueue(ToTM(PORT, bytes(1000), 7), now_ns=t0 + 1_500_000)
    now_ns = t0 + 20_000_000
    out, _ = tm.dequeue(now=now_ns / 1e9, now_ns=now_ns)
    assert [(d.item.qid, round((d.deq_tstamp - t0) / 1e3)) for d in out] == [(0, 0), (0, 1000), (7, 2000),
                                                                               (0, 3000)]
    assert [round(d.deq_timedelta / 1e3) for d in out] == [0, 1000, 500, 3000]


def test_on_dequeue_sees_every_released_batch_once():
    tm = TrafficManager()
    seen: list[list[int]] = []
    tm.on_dequeue = lambda out: seen.append([d.item.qid for d in out])
    backlog(tm, {0: 100, 7: 100}, n=2)
    out, _ = tm.dequeue()
    assert tm.dequeue()[0] == [] and seen == [[d.item.qid for d in out]] and len(out) == 4
