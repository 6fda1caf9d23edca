"""Label-stack codec: round trips, S bit placement, bounds, and errors that name the problem."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srchain_proxy.labels import LabelEntry, decode_stack, encode_entries, encode_stack, pack_entry, unpack_entry

entries = st.builds(LabelEntry, label=st.integers(0, 2**20 - 1), tc=st.integers(0, 7),
                    bos=st.just(False), ttl=st.integers(0, 255))


@given(st.integers(0, 2**20 - 1), st.integers(0, 7), st.booleans(), st.integers(0, 255))
def test_entry_round_trip(label, tc, bos, ttl):
    word = pack_entry(label, tc, bos, ttl)
    assert 0 <= word < 2**32
    assert unpack_entry(word) == LabelEntry(label, tc, bos, ttl)


@given(st.lists(entries, min_size=1, max_size=8), st.binary(max_size=40))
def test_stack_round_trip_stops_at_bottom(stack, trailer):
    stack = [*stack[:-1], LabelEntry(stack[-1].label, stack[-1].tc, True, stack[-1].ttl)]
    data = b"\x00" * 3 + encode_entries(stack) + trailer
    decoded, end = decode_stack(data, 3, msd=8)
    assert decoded == stack
    assert end == 3 + 4 * len(stack)


@given(st.lists(st.integers(16, 2**20 - 1), min_size=1, max_size=8), st.integers(1, 255))
def test_encode_stack_sets_s_bit_on_last_only(labels, ttl):
    decoded, _ = decode_stack(encode_stack(labels, ttl=ttl))
    assert [e.label for e in decoded] == labels
    assert [e.bos for e in decoded] == [False] * (len(labels) - 1) + [True]
    assert {e.ttl for e in decoded} == {ttl}
    assert {e.tc for e in decoded} == {0}


def test_wire_layout_matches_rfc3032():
    # label 16001 = 0x03E81, TC 5, S 1, TTL 64 -> 0x03E81 << 12 | 5 << 9 | 1 << 8 | 0x40
    assert encode_entries([LabelEntry(16001, 5, True, 64)]) == bytes.fromhex("03e81b40")


def test_decode_errors_name_the_problem():
    with pytest.raises(ValueError, match="truncated before bottom of stack"):
        decode_stack(encode_stack([16001, 16002])[:6])
    with pytest.raises(ValueError, match="deeper than msd 2"):
        decode_stack(encode_stack([16001, 16002, 16003]), msd=2)


@pytest.mark.parametrize(("args", "msg"), [((2**20, 0, True, 1), "label"), ((16, 8, True, 1), "tc"),
                                           ((16, 0, True, 256), "ttl")])
def test_pack_entry_rejects_out_of_range(args, msg):
    with pytest.raises(ValueError, match=msg):
        pack_entry(*args)
