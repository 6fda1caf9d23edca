"""OSM Information Model validation, done the way OSM does it.

OSM (`osm_im.validation`, `osm package-validate`, the NBI) loads a descriptor into pyangbind classes
generated from its YANG (ETSI SOL006 v2.6.1 + OSM's augments) with `skip_unknown=False`. That rejects
unknown keys, wrong types, bad enums/patterns and list keys, and nothing more (no leafref, mandatory,
must). We generate the same classes once per YANG content into a cache directory keyed by its hash.

Where the IM comes from, first found wins: an explicit YANG directory (`--im-yang DIR`), the directory
in $SRCHAIN_OSM_IM_YANG, OSM's own installed `osm_im` package (its generated bindings). Nothing is looked
up relative to this file or the current directory (the test suite sets the variable to its shared copy).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from srchain.osm.findings import OsmToolError

YANG_ENV = "SRCHAIN_OSM_IM_YANG"
BINDINGS = ("etsi_nfv_vnfd", "etsi_nfv_nsd")


@dataclass(frozen=True)
class YangTree:
    """Where the SOL006 modules and OSM's augment modules are."""

    sol006: Path
    augments: Path

    @classmethod
    def at(cls, root: Path) -> YangTree:
        # Two layouts: ours/shared (yang/sol006 + yang/augments) and an OSM IM checkout after `make`
        # (sol006_model/src/yang + models/augments).
        for sol, aug in (("sol006", "augments"), ("sol006_model/src/yang", "models/augments")):
            tree = cls(root / sol, root / aug)
            if (tree.sol006 / "etsi-nfv-vnfd.yang").is_file() and tree.augments.is_dir():
                return tree
        raise OsmToolError(
            f"{root} is not an OSM IM YANG directory: expected sol006/etsi-nfv-vnfd.yang and augments/ "
            "(or an OSM IM checkout with sol006_model/src/yang and models/augments)"
        )

    def files(self) -> list[Path]:
        return sorted(self.sol006.glob("*.yang")) + sorted(self.augments.glob("*.yang"))

    def digest(self) -> str:
        h = hashlib.sha256()
        for f in self.files():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        return h.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srchain" / "osm-im-bindings"


def _generate(tree: YangTree, target: Path) -> None:
    """Run pyang's pybind plugin for the VNFD and NSD modules into `target` (atomically)."""
    try:
        import pyangbind
    except ImportError as e:  # pragma: no cover - pinned dependency
        raise OsmToolError(f"pyangbind is not installed ({e}); install the pinned requirements") from e
    plugin = Path(pyangbind.__file__).parent / "plugin"
    search = os.pathsep.join(str(d) for d in (tree.sol006, *_pyang_modules()))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        augments = [str(p) for p in sorted(tree.augments.glob("*.yang"))]
        for name in BINDINGS:
            top = tree.sol006 / (name.replace("_", "-") + ".yang")
            cmd = [sys.executable, "-m", "pyang", "-Werror", "--path", search,
                   "--plugindir", str(plugin), "-f", "pybind", "-o", str(staging / f"{name}.py"),
                   *augments, str(top)]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                raise OsmToolError(f"generating {name} bindings from {tree.sol006} failed:\n{run.stderr.strip()}")
        try:
            staging.rename(target)
        except OSError:
            # Another process won the race and its bindings are identical (same YANG hash).
            if not (target / "etsi_nfv_nsd.py").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pyang_modules() -> list[Path]:
    """pyang's own IETF/IANA modules (ietf-inet-types, ...), which SOL006 imports. pyang looks for them under
    its interpreter's sys.prefix only; where pyang comes from another environment than the interpreter (a
    venv that reaches its packages through a .pth, as the install test builds), they are beside the pyang
    package instead: <prefix>/lib/pythonX.Y/site-packages/pyang -> <prefix>/share/yang/modules."""
    spec = importlib.util.find_spec("pyang")
    if spec is None or spec.origin is None:
        return []
    here = Path(spec.origin).resolve().parent
    return [d for d in (here.parents[i] / "share" / "yang" / "modules" for i in range(1, 5)) if d.is_dir()]


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise OsmToolError(f"cannot import generated bindings {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ImValidator:
    """Validates descriptor dicts against the OSM IM. Bindings are loaded once per instance."""

    def __init__(self, yang_dir: Path | None = None) -> None:
        """`yang_dir`: the YANG to use; None: $SRCHAIN_OSM_IM_YANG, else the installed osm_im package."""
        self.source: str
        self._modules: dict[str, ModuleType] = {}
        origin = "--im-yang"
        if yang_dir is None and os.environ.get(YANG_ENV):
            yang_dir, origin = Path(os.environ[YANG_ENV]), f"${YANG_ENV}"
        if yang_dir is not None:
            try:
                tree = YangTree.at(Path(yang_dir))
            except OsmToolError as e:
                raise OsmToolError(f"{origin}: {e}") from None
            target = cache_root() / tree.digest()
            if not all((target / f"{n}.py").is_file() for n in BINDINGS):
                _generate(tree, target)
            for n in BINDINGS:
                self._modules[n] = _load_module(target / f"{n}.py", f"_srchain_osm_im_{tree.digest()}_{n}")
            self.source = str(tree.sol006.parent)
            return
        if importlib.util.find_spec("osm_im") is not None:
            for n in BINDINGS:
                self._modules[n] = importlib.import_module(f"osm_im.{n}")
            self.source = "installed osm_im package"
            return
        raise OsmToolError(
            "no OSM IM to validate against: install OSM's IM package (osm_im, from OSM's IM repository "
            f"https://osm.etsi.org/gitlab/osm/im), or pass --im-yang DIR or set {YANG_ENV}=DIR (DIR: a directory "
            "with sol006/ and augments/, or an OSM IM checkout)"
        )

    def errors(self, data: dict[str, Any]) -> list[str]:
        """The IM violations of one descriptor ({"vnfd": ...} or {"nsd": ...}); empty when OSM accepts it."""
        from pyangbind.lib.serialise import pybindJSONDecoder

        if "vnfd" in data:
            module, cls = self._modules["etsi_nfv_vnfd"], "etsi_nfv_vnfd"
        elif "nsd" in data:
            module, cls = self._modules["etsi_nfv_nsd"], "etsi_nfv_nsd"
        else:
            return ["not a descriptor: the top-level key must be 'vnfd' or 'nsd'"]
        obj = getattr(module, cls)()
        try:
            # Same round trip as OSM: YAML scalars become JSON types first.
            pybindJSONDecoder.load_ietf_json(json.loads(json.dumps(data)), None, None, obj=obj,
                                             path_helper=True, skip_unknown=False)
        except Exception as e:  # pyangbind raises bare ValueError/KeyError/AttributeError
            return [_tidy(e)]
        return []


def _tidy(error: Exception) -> str:
    text = str(error).replace("\\", "")
    # pyangbind embeds a dict with the useful part ('error-string') inside a long repr.
    found = re.search(r"error-string': '([^']*)'", text)
    if found:
        text = found.group(1)
    text = text.strip().strip("'\"")
    if len(text) > 600:
        text = text[:600] + " ..."
    return f"OSM IM (pyangbind) rejects it: {text}"
