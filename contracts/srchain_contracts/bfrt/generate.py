"""Regenerate bfruntime_pb2.py / bfruntime_pb2_grpc.py from bfruntime.proto (run after editing the proto).

    .venv/bin/python -m srchain_contracts.bfrt.generate
"""

from __future__ import annotations

import re
from pathlib import Path

import google.rpc
import grpc_tools
from grpc_tools import protoc

HERE = Path(__file__).resolve().parent


def main() -> None:
    google_root = Path(next(iter(google.rpc.__path__))).parent.parent  # dir holding google/rpc/status.proto
    args = [
        "protoc",
        f"-I{HERE}",
        f"-I{google_root}",
        f"-I{Path(next(iter(grpc_tools.__path__))) / '_proto'}",  # google/protobuf/*.proto
        f"--python_out={HERE}",
        f"--grpc_python_out={HERE}",
        str(HERE / "bfruntime.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    grpc_file = HERE / "bfruntime_pb2_grpc.py"
    text = grpc_file.read_text()
    # Package-relative import, as the SDE's build does with sed.
    text = re.sub(r"^import bfruntime_pb2 as bfruntime__pb2", "from . import bfruntime_pb2 as bfruntime__pb2",
                  text, flags=re.M)
    grpc_file.write_text(text)


if __name__ == "__main__":
    main()
