"""Paths shared by the OSM tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"
NS_CONFIG = REPO / "nsd/cloud-gaming.ns-config.yaml"  # rendered from examples/ by `package render-nsd`
SHARED = REPO.parent / "shared"  # the OSM IM YANG and tools live beside the checkout (in CI too)
