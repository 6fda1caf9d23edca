"""The testbed's veths steer each flow to one CPU (netns.keep_flows_on_one_cpu): without it a loaded host can
reorder a flow between two Python forwarders (the frames queued on the backlog of whichever CPU the sender
ran on). Needs root (netns)."""

from __future__ import annotations

import os
import subprocess

import pytest

from nslib import add_veths, namespace
from srchain_demo.netns import TestbedError, cpu_mask, keep_flows_on_one_cpu


def test_cpu_mask_is_the_sysfs_bitmap_format() -> None:
    assert cpu_mask({0, 1}) == "3"
    assert cpu_mask({0}) == "1"
    assert cpu_mask({1, 33}) == "2,00000002"  # 32-bit groups, high group first
    assert cpu_mask({40}) == "100,00000000"


@pytest.mark.netns
def test_every_cpu_steers_the_veths_receive_queue() -> None:
    ns = f"sfs{os.getpid()}"
    with namespace(ns):
        add_veths(ns, [("sfa", "sfb")])
        keep_flows_on_one_cpu(ns, "sfa")
        read = subprocess.run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/sfa/queues/rx-0/rps_cpus"],
                              capture_output=True, text=True, check=True).stdout.strip()
        want = sum(1 << c for c in os.sched_getaffinity(0))
        assert int(read.replace(",", ""), 16) == want, f"rps_cpus {read!r}, expected every CPU ({want:#x})"
        with pytest.raises(TestbedError, match="nosuch"):
            keep_flows_on_one_cpu(ns, "nosuch")
