"""An emulated Tofino for the charm tests: the emulator's BF Runtime servicer on real gRPC
(127.0.0.1, ephemeral port), and the SR node program compiled into an artifacts directory laid out as
the P4 switch charm expects (`<dir>/<program>/bf-rt.json`, `<dir>/<program>/pipe/...`)."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
from osmlib import REPO

from srchain.bfrt.client import BfrtClient
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc
from srchain_emu.bfrt_server import BfRuntimeServer
from srchain_emu.bundle import compile_to_dir

PROGRAM = "srchain_node"


class EmulatedSwitch:
    def __init__(self, token: str | None = None) -> None:
        self.servicer = BfRuntimeServer(0, token=token)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_BfRuntimeServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait(5)

    def table(self, name: str, token: str | None = None) -> list:
        """Every entry of a table, through a fresh read-only session (not the charm's)."""
        c = BfrtClient.connect(self.address, client_id=9, timeout=5, token=token)
        try:
            c.bind(PROGRAM)
            return c.entries(name)
        finally:
            c.close()


def compile_artifacts(root: Path) -> Path:
    """`root/srchain_node/...` from p4/srchain_node.p4 (the emulator's compiler); returns `root`."""
    compile_to_dir(REPO / "p4" / f"{PROGRAM}.p4", root / PROGRAM)
    return root
