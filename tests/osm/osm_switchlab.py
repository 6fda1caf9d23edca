"""An emulated Tofino for the charm tests: the emulator's BF Runtime servicer on real gRPC
(127.0.0.1, ephemeral port), and the SR node program compiled into an artifacts directory laid out as
the P4 switch charm expects (`<dir>/<program>/bf-rt.json`, `<dir>/<program>/pipe/...`)."""

from __future__ import annotations

from pathlib import Path

from osmlib import REPO

from labs import GrpcSwitch
from srchain.bfrt.client import BfrtClient
from srchain_emu.bundle import compile_to_dir

PROGRAM = "srchain_node"


class EmulatedSwitch(GrpcSwitch):
    """tests/labs.py's switch (optionally requiring `token`), with a read-back of the SR node's tables."""

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
