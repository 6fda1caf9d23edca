"""Paths shared by the OSM tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"
NS_CONFIG = REPO / "nsd/cloud-gaming.ns-config.yaml"  # rendered from examples/ by `package render-nsd`
SHARED = REPO.parent / "shared"  # the OSM IM YANG and tools live beside the checkout (in CI too)


def charm_class(charm_dir: Path) -> type:
    """The ops.CharmBase subclass in charms/<name>/src/charm.py, loaded as ops.testing needs it."""
    import importlib.util
    import sys

    import ops

    spec = importlib.util.spec_from_file_location(f"charm_{charm_dir.name.replace('-', '_')}",
                                                  charm_dir / "src/charm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # ops.testing finds the charm's source through its module
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, ops.CharmBase) and v.__module__ == module.__name__)
