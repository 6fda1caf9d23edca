"""The committed BF Runtime gencode (protobuf, gRPC and their mypy stubs) is what the proto generates."""

from __future__ import annotations

from pathlib import Path

from srchain_contracts.bfrt import generate


def test_regenerating_gives_the_committed_files(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(generate.GENERATED)
    stale = [p.name for p in written if p.read_bytes() != (generate.HERE / p.name).read_bytes()]
    assert not stale, f"run `python -m srchain_contracts.bfrt.generate` and commit: {stale} differ from the proto"
