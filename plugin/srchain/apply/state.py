"""The intended state of each applied chain, next to the SID store: `<state-dir>/applied/<chain>.json`.

Written (atomically: temporary file, fsync, rename) only after an apply or delete succeeded, so it
always describes a chain that was fully installed. Same `targets` shape as a plan's JSON, so
`srchain chain plan --current <state-dir>/applied/<chain>.json` works on it.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srchain.errors import SrchainError
from srchain.plan.model import Entry, Plan, entries_from_state
from srchain.sidstore import default_state_dir

FORMAT = "srchain.applied/v1"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class StateError(SrchainError, ValueError):
    """A chain name that cannot be a file name, or an applied-state file that cannot be read."""


class AppliedStore:
    def __init__(self, state_dir: str | Path | None = None) -> None:
        self.root = Path(state_dir) if state_dir is not None else default_state_dir()
        self.dir = self.root / "applied"

    def path(self, chain: str) -> Path:
        if not _SAFE.match(chain):
            raise StateError(f"chain name {chain!r} cannot be a file name")
        return self.dir / f"{chain}.json"

    def load(self, chain: str) -> dict[str, Any] | None:
        p = self.path(chain)
        if not p.exists():
            return None
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise StateError(f"{p}: unreadable: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StateError(f"{p}: not a {FORMAT} document")
        return doc

    def entries(self, chain: str) -> list[Entry]:
        doc = self.load(chain)
        try:
            return entries_from_state(doc) if doc else []
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{self.path(chain)}: not a usable applied state: {exc}") from None

    def chains(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.exists() else []

    def save(self, plan: Plan) -> Path:
        return self.save_many([plan])[0]

    def save_many(self, plans: list[Plan]) -> list[Path]:
        """Each plan's state, written as `save` would: every file synced before it replaces the old one,
        the folder synced after. The syncs run side by side (the file system commits them together: a
        thousand chains' files sync in a few journal commits instead of a thousand)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        moves = []
        for plan in plans:
            doc = plan.to_json()
            doc.pop("diff", None)
            doc["format"] = FORMAT
            path = self.path(plan.chain)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
            moves.append((tmp, path))
        if not moves:
            return []
        if len(moves) == 1:
            _fsync(moves[0][0])
        else:
            with ThreadPoolExecutor(max_workers=min(16, len(moves))) as pool:
                list(pool.map(_fsync, [tmp for tmp, _ in moves]))
        for tmp, path in moves:
            os.replace(tmp, path)
        _fsync(self.dir)
        return [path for _, path in moves]

    def remove(self, chain: str) -> None:
        self.path(chain).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
