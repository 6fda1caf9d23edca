"""Regenerate the BF Runtime gencode from bfruntime.proto (run after editing the proto).

    .venv/bin/python -m srchain_contracts.bfrt.generate

Writes bfruntime_pb2.py and bfruntime_pb2_grpc.py (protoc, grpc_tools) and their typing stubs
bfruntime_pb2.pyi and bfruntime_pb2_grpc.pyi (mypy-protobuf), all committed next to the proto.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import google.rpc
import grpc_tools
from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO = HERE / "bfruntime.proto"
GENERATED = ("bfruntime_pb2.py", "bfruntime_pb2_grpc.py", "bfruntime_pb2.pyi", "bfruntime_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    """protoc's --plugin flag for a mypy-protobuf generator installed next to this Python."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{path} not found: install mypy-protobuf (the `test` extra) into this environment")
    return f"--plugin={name}={path}"


def generate(out_dir: Path = HERE) -> list[Path]:
    """Compile the proto into `out_dir`; return the files written (GENERATED)."""
    google_root = Path(next(iter(google.rpc.__path__))).parent.parent  # dir holding google/rpc/status.proto
    args = [
        "protoc",
        f"-I{HERE}",
        f"-I{google_root}",
        f"-I{Path(next(iter(grpc_tools.__path__))) / '_proto'}",  # google/protobuf/*.proto
        _plugin("protoc-gen-mypy"),
        _plugin("protoc-gen-mypy_grpc"),
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        str(PROTO),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for name in ("bfruntime_pb2_grpc.py", "bfruntime_pb2_grpc.pyi"):
        grpc_file = out_dir / name
        # Package-relative import, as the SDE's build does with sed.
        text = re.sub(r"^import bfruntime_pb2( as \w+)?$", r"from . import bfruntime_pb2\1",
                      grpc_file.read_text(), flags=re.M)
        grpc_file.write_text(text)
    return [out_dir / name for name in GENERATED]


def main() -> None:
    for path in generate():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
