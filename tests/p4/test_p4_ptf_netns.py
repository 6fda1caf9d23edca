"""The SR node PTF suite (p4/tests/ptf) against the emulated Tofino: four veth pairs in a network
namespace, the switch in this process, BF Runtime over a unix socket, `ptf` run inside the namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.netns import Netns
from srchain_emu.ports import PortSpec, open_port_socket
from srchain_emu.switch import DataPlane

pytestmark = [
    pytest.mark.netns,
]
ROOT = Path(__file__).resolve().parents[2]
PTF = Path(sys.executable).parent / "ptf"
PTF_DIR = ROOT / "p4" / "tests" / "ptf"
DEVICE_PORTS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "srchain_node"
    compile_to_dir(ROOT / "p4" / "srchain_node.p4", out)
    return out


@pytest.fixture(scope="module")
def l4s_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle-l4s") / "srchain_node"
    compile_to_dir(ROOT / "p4" / "srchain_node.p4", out,
                   defines={"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_L4S": "1"})
    return out


@pytest.fixture(scope="module")
def srv6_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle-srv6") / "srchain_node"
    compile_to_dir(ROOT / "p4" / "srchain_node.p4", out, defines={"SRCHAIN_SRV6": "1"})  # --profile srv6
    return out


def run_ptf(tmp_path: Path, bundle: Path, tests: list[str], tag: str) -> subprocess.CompletedProcess:
    sock_path = tmp_path / "bfrt.sock"
    with Netns(len(DEVICE_PORTS), tag=tag) as ns:
        server, servicer, _ = serve(f"unix:{sock_path}")
        specs = [PortSpec(dev, ns.switch_ifs[i]) for i, dev in enumerate(DEVICE_PORTS)]
        sockets = ns.run_inside(lambda: {s.device_port: open_port_socket(s.ifname) for s in specs})
        dp = DataPlane(servicer, specs, sockets)
        dp.start()
        try:
            params = f"grpc_addr='unix:{sock_path}';bundle='{bundle}';target='emulator';ports='1,2,3,4'"
            cmd = [
                "ip", "netns", "exec", ns.name, str(PTF), "--test-dir", str(PTF_DIR),
                "--log-file", str(tmp_path / "ptf.log"), "--test-params", params,
            ]
            for i, h in enumerate(ns.host_ifs):
                cmd += ["--interface", f"{i}@{h}"]
            res = subprocess.run(cmd + tests, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        finally:
            dp.stop()
            server.stop(grace=None)
    return res


def assert_ran(res: subprocess.CompletedProcess, n: int) -> None:
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-8000:]
    m = re.search(r"Ran (\d+) tests?", res.stderr)
    assert m and int(m.group(1)) == n and "\nOK" in res.stderr, res.stderr[-4000:]


def test_sr_core_under_ptf(tmp_path: Path, bundle: Path) -> None:
    res = run_ptf(tmp_path, bundle, ["sr_node_forwarding"], "f")
    assert_ran(res, 9)


def test_p4_modules_under_ptf(tmp_path: Path, bundle: Path) -> None:
    assert_ran(run_ptf(tmp_path, bundle, ["sr_node_modules"], "m"), 5)


def test_l4s_module_under_ptf(tmp_path: Path, l4s_bundle: Path) -> None:
    assert_ran(run_ptf(tmp_path, l4s_bundle, ["sr_node_l4s"], "l"), 5)


def test_srv6_profile_under_ptf(tmp_path: Path, srv6_bundle: Path) -> None:
    assert_ran(run_ptf(tmp_path, srv6_bundle, ["sr_node_srv6"], "6"), 4)
