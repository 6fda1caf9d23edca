"""The parser Checksum's residual (TNA `get()` after `subtract`), as the SDE's tna_checksum uses it to rewrite
a TCP source address: the deparser's update over {new address, port, residual} is the checksum of the new
segment."""

from __future__ import annotations

import random

from srchain_emu.interp.runtime import ChecksumUnit


def test_residual_update_equals_a_fresh_checksum():
    rng = random.Random(7)
    for _ in range(200):
        src, sport = rng.getrandbits(32), rng.getrandbits(16)
        rest = [rng.getrandbits(16) for _ in range(rng.randint(1, 30))]  # everything else the sum covers
        words = [src >> 16, src & 0xFFFF, sport, *rest]
        old = ChecksumUnit.update(int("".join(f"{w:04x}" for w in words), 16), 16 * len(words))
        parser = ChecksumUnit()
        parser.subtract(src, 32)
        parser.subtract(old, 16)
        parser.subtract(sport, 16)
        residual = parser.get()
        new_src = rng.getrandbits(32)
        new_words = [new_src >> 16, new_src & 0xFFFF, sport, *rest]
        fresh = ChecksumUnit.update(int("".join(f"{w:04x}" for w in new_words), 16), 16 * len(new_words))
        assert ChecksumUnit.update((new_src << 32) | (sport << 16) | residual, 64) == fresh


def test_verify_of_a_correct_header_and_get_of_a_plain_sum():
    c = ChecksumUnit()
    c.add(0x4500_0054_0000_4000_4001_0000_0a00_0001_0a00_0002, 160)
    value = ChecksumUnit.update(0x4500_0054_0000_4000_4001_0000_0a00_0001_0a00_0002, 160)
    assert c.get() == ~value & 0xFFFF, "get() is the sum, whose complement is the checksum"
    c.add(value, 16)
    assert not c.verify(), "a header with its right checksum sums to all ones: no error"
