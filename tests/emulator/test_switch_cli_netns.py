"""`srchain switch run` as a real process in a network namespace, driven through the BF Runtime client."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from emu_helpers import P4_DIR, data_frame
from test_dataplane_netns import recv_all

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_emu.cli import switch_cli
from srchain_emu.netns import Netns
from srchain_emu.ports import open_port_socket
from waiting import wait_until

SRCHAIN = Path(sys.executable).parent / "srchain"


def test_switch_run_rejects_bad_ports_file(tmp_path):
    bad = tmp_path / "ports.json"
    bad.write_text('{"Ports": []}')
    res = CliRunner().invoke(switch_cli, ["run", "--ports", str(bad)])
    assert res.exit_code == 1
    assert res.output.strip() == f"error: {bad}: expected a PortToIf or PortToVeth list"


def test_switch_run_refuses_non_loopback_grpc(tmp_path):
    ports = tmp_path / "ports.json"
    ports.write_text('{"PortToIf": []}')
    res = CliRunner().invoke(switch_cli, ["run", "--ports", str(ports), "--grpc", "0.0.0.0:50999"])
    assert res.exit_code == 1
    assert "only loopback or unix sockets" in res.output


@pytest.mark.netns
def test_switch_run_process_forwards(tmp_path):
    sock = tmp_path / "bfrt.sock"
    with Netns(3, tag="c") as ns:
        ports = tmp_path / "ports.json"
        ports.write_text(json.dumps({"PortToIf": [{"device_port": i, "if": n} for i, n in enumerate(ns.switch_ifs)]}))
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, str(SRCHAIN), "switch", "run", "--ports", str(ports),
             "--grpc", f"unix:{sock}", "--p4", str(P4_DIR / "exact_forward.p4")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        host = []
        client = None
        try:

            def serving() -> bool:
                assert proc.poll() is None, proc.communicate(timeout=5)
                return sock.exists()

            wait_until(serving, 30, what="`srchain switch run` opens its gRPC socket")
            client = BfrtClient(f"unix:{sock}")
            client.subscribe()
            client.bind("exact_forward")  # loaded at start-up with --p4: no push needed
            client.insert("forward", {"hdr.ethernet.dst_addr": 0x020000000002}, "SwitchIngress.hit", {"port": 1})
            with pytest.raises(BfrtError, match="ALREADY_EXISTS"):
                client.insert("forward", {"hdr.ethernet.dst_addr": 0x020000000002}, "SwitchIngress.hit", {"port": 2})
            host = ns.run_inside(lambda: [open_port_socket(h) for h in ns.host_ifs])
            frame = data_frame(9, tail=b"q" * 50)
            host[0].send(frame)
            assert recv_all(host[1], 1) == [frame]
            assert recv_all(host[2], 1, timeout=0.3) == []
            (entry,) = client.entries("forward")
            assert entry.data["$COUNTER_SPEC_PKTS"] == 1
        finally:
            if client is not None:
                client.close()
            for s in host:
                s.close()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "emulated Tofino: 3 ports" in out
