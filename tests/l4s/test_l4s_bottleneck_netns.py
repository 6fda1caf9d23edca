"""Kernel bottlenecks: the tbf + bfifo baseline is built as configured, and the kernel's dualpi2 is either
built or reported absent with the kernel's reason (never a harness failure)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from srchain_demo.l4s.bottleneck import BottleneckAbsent, Shape, build
from srchain_demo.l4s.topo import ns_line

pytestmark = pytest.mark.netns


def test_fifo_is_tbf_over_bfifo_and_reports_its_backlog() -> None:
    with ns_line("l4st-bf", 1) as line:
        neck = build("fifo", Shape(line.middle[0], 12e6, 375_000))
        shown = subprocess.run(["ip", "netns", "exec", line.middle[0], "tc", "-j", "qdisc", "show", "dev", "out0"],
                               capture_output=True, text=True, timeout=10, check=True)
        time.sleep(0.35)
        data = neck.finish()
    qdiscs = {q["kind"]: q for q in json.loads(shown.stdout)}
    assert qdiscs["tbf"]["options"]["rate"] == 12_000_000 // 8
    assert qdiscs["bfifo"]["options"]["limit"] == 375_000
    assert data["sojourns"] == {} and len(data["series"]) >= 2
    assert data["series"][-1]["backlog_packets"] == {"fifo": 0}


def test_kernel_dualpi2_is_built_or_reported_absent() -> None:
    with ns_line("l4st-bk", 1) as line:
        try:
            neck = build("kernel-dualpi2", Shape(line.middle[0], 12e6, 375_000))
        except BottleneckAbsent as exc:
            assert "dualpi2" in str(exc) and "unknown" in str(exc).lower()
            return
        assert "series" in neck.finish()
