"""The conformance programs pass PTF tests over veth in a network namespace, programmed through the
project's BF Runtime client (unix-socket gRPC), with the emulated switch running in this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from emu_helpers import P4_DIR

from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.netns import Netns
from srchain_emu.ports import PortSpec, open_port_socket
from srchain_emu.switch import DataPlane

pytestmark = [
    pytest.mark.netns,
]
PTF = Path(sys.executable).parent / "ptf"


def test_conformance_programs_under_ptf(tmp_path):
    bundles = tmp_path / "bundles"
    for name in ("exact_forward", "flow_counter"):
        compile_to_dir(P4_DIR / f"{name}.p4", bundles / name)
    sock_path = tmp_path / "bfrt.sock"
    with Netns(3, tag="p") as ns:
        server, servicer, _ = serve(f"unix:{sock_path}")
        specs = [PortSpec(i, ns.switch_ifs[i]) for i in range(3)]
        dp = DataPlane(servicer, specs, ns.run_inside(lambda: {s.device_port: open_port_socket(s.ifname)
                                                              for s in specs}))
        dp.start()
        try:
            cmd = ["ip", "netns", "exec", ns.name, str(PTF), "--test-dir", str(Path(__file__).parent / "ptf"),
                   "--log-file", str(tmp_path / "ptf.log"),
                   "--test-params", f"grpc_addr='unix:{sock_path}';bundles='{bundles}'"]
            for i, h in enumerate(ns.host_ifs):
                cmd += ["--interface", f"{i}@{h}"]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        finally:
            dp.stop()
            server.stop(grace=None)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Ran 2 tests" in res.stderr and "OK" in res.stderr, res.stderr
