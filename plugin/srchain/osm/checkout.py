"""The srchain checkout the OSM commands take their default inputs and outputs from.

An installed srchain ships no descriptors (vnfd/, nsd/) or charms (charms/): they are the project's
sources. Run from a checkout (the current directory or one above it that has vnfd/, nsd/ and charms/),
the commands default to its folders; anywhere else, pass them explicitly (the error says which).
"""

from __future__ import annotations

from pathlib import Path

from srchain.osm.findings import OsmToolError

MARKERS = ("vnfd", "nsd", "charms")


def find_checkout(start: Path | None = None) -> Path | None:
    """The nearest directory, from `start` (default: the current one) upwards, with vnfd/, nsd/ and charms/."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if all((candidate / m).is_dir() for m in MARKERS):
            return candidate
    return None


def require_checkout(instead: str) -> Path:
    """The checkout; outside one, an error that says what to pass `instead`."""
    root = find_checkout()
    if root is None:
        raise OsmToolError(f"not inside a srchain checkout (no {', '.join(m + '/' for m in MARKERS)} in "
                           f"{Path.cwd()} or above): {instead}")
    return root
