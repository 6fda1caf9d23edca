"""Bad input is refused with the field and the reason, before anything is opened."""

from __future__ import annotations

import subprocess
import sys

import pytest

from srchain_demo.l4s.aqmlink import make_qdisc
from srchain_demo.l4s.bottleneck import Shape, build
from srchain_demo.l4s.dualpi2 import DualPI2, DualPI2Params


def test_linkem_cli_names_the_bad_field() -> None:
    proc = subprocess.run([sys.executable, "-m", "srchain_net.linkem", "x0", "x1", "--loss", "2", "--delay-ms", "1",
                           "--jitter-ms", "3", "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "forward.jitter_s: 0.003 must be within 0..delay_s (0.001)" in proc.stderr
    assert "forward.loss: 2.0 is not a probability" in proc.stderr


def test_linkem_cli_checks_the_reverse_direction_too() -> None:
    proc = subprocess.run([sys.executable, "-m", "srchain_net.linkem", "x0", "x1", "--reverse-loss", "-0.1",
                           "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "reverse.loss: -0.1 is not a probability" in proc.stderr


def test_linkem_cli_names_a_missing_interface() -> None:
    proc = subprocess.run([sys.executable, "-m", "srchain_net.linkem", "no-such-if0", "no-such-if1",
                           "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no-such-if0" in proc.stderr


def test_dualpi2_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match=r"dualpi2.target_s: 0 must be > 0; dualpi2.alpha_hz: -1 must be >= 0"):
        DualPI2(DualPI2Params(target_s=0, alpha_hz=-1))


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown discipline 'red'"):
        make_qdisc("red", 1000, 1)
    with pytest.raises(ValueError, match=r"unknown 'p5' \(known: .*dualpi2-ref.*fifo"):
        build("p5", Shape("nowhere", 12e6, 375_000))
