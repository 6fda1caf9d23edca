"""Paths shared by the OSM tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"
DATA = Path(__file__).parent / "data"
SHARED = REPO.parent / "shared"  # the OSM IM YANG and tools live beside the checkout (in CI too)
