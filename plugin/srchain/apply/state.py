"""The intended state of each applied chain, next to the SID store: `<state-dir>/applied/<chain>.json`.

Written (atomically: temporary file, fsync, rename) only after an apply or delete succeeded, so it
always describes a chain that was fully installed. Same `targets` shape as a plan's JSON, so
`srchain chain plan --current <state-dir>/applied/<chain>.json` works on it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from srchain.plan.model import Entry, Plan, entries_from_state
from srchain.sidstore import default_state_dir

FORMAT = "srchain.applied/v1"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AppliedStore:
    def __init__(self, state_dir: str | Path | None = None) -> None:
        self.root = Path(state_dir) if state_dir is not None else default_state_dir()
        self.dir = self.root / "applied"

    def path(self, chain: str) -> Path:
        if not _SAFE.match(chain):
            raise ValueError(f"chain name {chain!r} cannot be a file name")
        return self.dir / f"{chain}.json"

    def load(self, chain: str) -> dict[str, Any] | None:
        p = self.path(chain)
        if not p.exists():
            return None
        doc = json.loads(p.read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{p}: not a {FORMAT} document")
        return doc

    def entries(self, chain: str) -> list[Entry]:
        doc = self.load(chain)
        return entries_from_state(doc) if doc else []

    def chains(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.exists() else []

    def save(self, plan: Plan) -> Path:
        doc = plan.to_json()
        doc.pop("diff", None)
        doc["format"] = FORMAT
        return self._write(self.path(plan.chain), doc)

    def remove(self, chain: str) -> None:
        self.path(chain).unlink(missing_ok=True)

    def _write(self, path: Path, doc: dict[str, Any]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return path
