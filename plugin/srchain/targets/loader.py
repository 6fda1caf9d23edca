"""Loading a compiled P4 program onto a switch: content hash, push, wait for WARM_INIT_FINISHED, bind.

An artifact bundle is bf-p4c's output layout (the emulator's `srchain p4 compile` writes the same):
`OUT/bf-rt.json`, `OUT/<profile>/context.json`, `OUT/<profile>/tofino.bin`. The hash covers the
schema (canonical JSON) and each profile's context and binary. Loading what already runs is a no-op,
because a push warm-inits the device and wipes every table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb


@dataclass(frozen=True)
class Bundle:
    name: str
    root: Path
    profile: str = "pipe"

    def files(self) -> tuple[Path, Path, Path]:
        pipe = self.root / self.profile
        return self.root / "bf-rt.json", pipe / "context.json", pipe / "tofino.bin"

    def check(self) -> None:
        missing = [str(p) for p in self.files() if not p.is_file()]
        if missing:
            raise BfrtError(f"program {self.name}: artifact bundle incomplete, missing {', '.join(missing)}",
                            "INVALID_ARGUMENT")

    def digest(self) -> str:
        self.check()
        bfrt, context, binary = (p.read_bytes() for p in self.files())
        return fingerprint(bfrt, [(self.profile, context, binary)])


def fingerprint(bfrt_json: bytes, profiles: list[tuple[str, bytes, bytes]]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(json.loads(bfrt_json or b"{}"), sort_keys=True, separators=(",", ":")).encode())
    for name, context, binary in sorted(profiles):
        for part in (name.encode(), context, binary):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()


def loaded_fingerprint(config: pb.ForwardingPipelineConfig) -> str | None:
    """The served program's hash, or None when the switch serves no profile contents to compare
    (a program preloaded from a conf file): then only the schema can be compared."""
    profiles = [(p.profile_name, p.context, p.binary) for p in config.profiles]
    if not profiles or not all(b for _, _, b in profiles):
        return None
    return fingerprint(config.bfruntime_info, profiles)


def schema_digest(bfrt_json: bytes) -> str:
    return fingerprint(bfrt_json, [])


def ensure_program(client: BfrtClient, name: str, bundle: Bundle | None) -> str:
    """Make `name` run on the switch and bind the session to it. Returns what was done:
    'pushed', 'already loaded' or 'bound' (no bundle: the program must already be there)."""
    configs = {c.p4_name: c for c in client.pipeline().config}
    current = configs.get(name)
    if bundle is None:
        if current is None:
            loaded = ", ".join(configs) or "none"
            raise BfrtError(f"program {name} is not loaded (loaded: {loaded}) and no artifacts are configured",
                            "NOT_FOUND")
        client.bind(name)
        return "bound"
    wanted = bundle.digest()
    if current is not None and len(configs) == 1:
        have = loaded_fingerprint(current)
        same = have == wanted if have is not None else (
            schema_digest(current.bfruntime_info) == schema_digest(bundle.files()[0].read_bytes()))
        if same:
            client.bind(name)
            return "already loaded"
    client.push_program(name, bundle.root, bundle.profile)
    client.bind(name)
    return "pushed"
