"""OSM packages: build them from a descriptor folder, and check built ones the way the NBI does.

Format (osmclient `package-build`, NBI upload rules): a tar.gz whose members all sit under one top
directory `<name>/`; exactly one descriptor (.yaml/.yml/.json) directly in it; `checksums.txt` with one
`md5<TAB><name>/<path>` line per other file; the charms the descriptor names under `charms/<charm>/`;
cloud-init files under `cloud_init/`. No absolute paths, no `..`, no links or devices.
Builds are reproducible: sorted members, fixed mtime (1980-01-02: libjuju zips charm directories)/owner,
gzip without a timestamp.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from srchain.charms.p4_switch import DIGEST_FILE, SHIPPED_DIR
from srchain.osm.charmbuild import make_deployable
from srchain.osm.charmcloud import DEFAULT_CHARM_CLOUD, juju_blocks, set_charm_cloud
from srchain.osm.charmmeta import find_charm
from srchain.osm.descriptors import DESCRIPTOR_SUFFIXES, Descriptor, collect, top_level_yaml
from srchain.osm.findings import Finding, OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.pdu import Switch
from srchain.osm.validate import default_charm_roots, validate_descriptors
from srchain.targets.loader import Bundle

# The charm that loads P4 programs; its bundles go to its p4/ (srchain.charms.p4_switch): OSM's N2VC deploys the
# charm directory and passes Juju no resources, so the bundle travels in it.
P4_CHARM = "srchain-p4-switch"

CHECKSUMS = "checksums.txt"
DISTRIBUTION = "srchain"  # this project's distribution: its import packages are the ones vendored
LIBRARY = Path(__file__).resolve().parents[1]  # the srchain package, vendored into each charm's lib/
# The project's requirements.lock, shipped inside this package (a link to the repository's in a checkout).
LOCK = resources.files("srchain.osm") / "requirements.lock"
# What the vendored library needs at charm runtime besides ops; charmcraft installs these pinned
# versions into the charm's venv/ when packing (nothing is pip-installed when the charm runs).
CHARM_DEPENDENCIES = ("pydantic", "pydantic-core", "PyYAML", "grpcio", "protobuf", "cryptography", "bcrypt", "PyNaCl")
# Member mtime: fixed (reproducible builds) and not before 1980: the NBI extracts packages keeping mtimes and
# libjuju zips a charm directory (zipfile: "ZIP does not support timestamps before 1980") to deploy it.
MEMBER_MTIME = 315_619_200  # 1980-01-02T00:00:00Z
_SKIP = {"__pycache__", ".git", ".gitignore", ".pytest_cache", ".ruff_cache", "venv", ".venv"}


def package_name(desc: Descriptor) -> str:
    return f"{desc.ident}_{'vnf' if desc.kind == 'vnfd' else 'ns'}"


def charm_names(desc: Descriptor) -> list[str]:
    return sorted({str(b["charm"]) for b in juju_blocks(desc) if b.get("charm")})


def source_descriptor(folder: Path) -> Descriptor:
    files = top_level_yaml(folder) if folder.is_dir() else []
    descriptors, problems = collect(files)
    if problems:
        raise OsmToolError("; ".join(str(p) for p in problems))
    if len(files) != 1 or len(descriptors) != 1:
        names = ", ".join(p.name for p in files) or "none"
        raise OsmToolError(f"{folder}: a package folder needs exactly one YAML file at its top, the descriptor "
                           f"(OSM refuses more); found: {names}")
    return Descriptor(descriptors[0].file, folder, descriptors[0].data)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True,
                    ignore=lambda _d, names: [n for n in names if n in _SKIP or n.endswith(".pyc")])


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def ship_p4_bundles(bundles: Iterable[Path], p4_dir: Path) -> dict[str, str]:
    """Copy each compiled bundle (`DIR` named after its program: bf-rt.json, pipe/context.json, pipe/tofino.bin,
    bf-p4c's or `srchain p4 compile`'s output) to `p4_dir/<program>/` with its digest in `DIGEST`
    (`sha256:<hex>`, targets.loader's fingerprint); returns {program: digest}. An incomplete bundle stops it."""
    shipped: dict[str, str] = {}
    for src in bundles:
        b = Bundle(src.name, src)
        missing = [str(f) for f in b.files() if not f.is_file()]
        if missing:
            raise OsmToolError(f"--p4-bundle {src}: not a compiled bundle (missing {', '.join(missing)})")
        if b.name in shipped:
            raise OsmToolError(f"--p4-bundle {src}: a bundle for program {b.name} is already given")
        dest = p4_dir / b.name
        for f in b.files():
            target = dest / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
        shipped[b.name] = f"sha256:{Bundle(b.name, dest).digest()}"
        (dest / DIGEST_FILE).write_text(shipped[b.name] + "\n")
    return shipped


def build_package(folder: Path, out_dir: Path, im: ImValidator | None,
                  charm_roots: list[Path] | None = None, validate: bool = True, charm_python: str | None = None,
                  venv_cache: Path | None = None, venv: bool = True, p4_bundles: Iterable[Path] = (),
                  charm_cloud: str = DEFAULT_CHARM_CLOUD) -> Path:
    """Stage `folder` + its charms as `<name>/`, write checksums.txt, tar it into `out_dir/<name>.tar.gz`.

    A charm given as a source directory becomes the deployable directory charmcraft would pack
    (`srchain.osm.charmbuild`): metadata/actions/config/manifest YAML, dispatch, lib/ and a venv/ built for
    the charm base's Python (or `charm_python`; `venv=False`: without venv/, not deployable, for checks that
    need no dependencies). `p4_bundles` go into the P4 switch charm's p4/ (a package without that charm
    ignores them). Every proxy charm of the staged descriptor gets `juju.cloud: charm_cloud`
    (`srchain.osm.charmcloud`; the source folder is not changed). With `validate`, the staged package is validated first
    (every descriptor this folder references must be valid on its own; NSD checks against VNFDs happen in
    `check_packages`)."""
    desc = source_descriptor(folder)
    roots = default_charm_roots() if charm_roots is None else charm_roots
    name = package_name(desc)
    with tempfile.TemporaryDirectory(prefix="srchain-pkg-") as tmp:
        stage = Path(tmp) / name
        _copy_tree(folder, stage)
        staged = set_charm_cloud(Descriptor(stage / desc.file.name, stage, desc.data), charm_cloud)
        for charm in charm_names(desc):
            if (stage / "charms" / charm).exists() or (stage / "charms" / f"{charm}.charm").exists():
                continue
            location = find_charm(charm, roots)
            if location is None:
                raise OsmToolError(f"{desc.file}: charm '{charm}' not found under "
                                   f"{', '.join(str(r) for r in roots) or '(no charm directories)'}; "
                                   "pass --charms DIR (the project's charms/)")
            if location.is_dir():
                stage_charm(location, stage / "charms" / charm, charm_python, venv_cache, venv)
            else:
                (stage / "charms").mkdir(exist_ok=True)
                shutil.copy2(location, stage / "charms" / location.name)
        if (stage / "charms" / P4_CHARM).is_dir():
            ship_p4_bundles(p4_bundles, stage / "charms" / P4_CHARM / SHIPPED_DIR)
        (stage / CHECKSUMS).unlink(missing_ok=True)
        if validate:
            findings = validate_descriptors([staged], im, charm_roots=[])
            # An NSD alone cannot see its VNFDs; that cross-check runs over the built set.
            findings = [f for f in findings if f.rule not in ("nsd.vnfd-id",)]
            if findings:
                raise OsmToolError(f"{folder} is not valid; not building {name}:\n"
                                   + "\n".join(str(f) for f in findings))
        lines = [f"{_md5(p)}\t{name}/{p.relative_to(stage).as_posix()}" for p in _files(stage)]
        (stage / CHECKSUMS).write_text("\n".join(lines) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}.tar.gz"
        partial = out_dir / f".{name}.tar.gz.partial"
        _write_tar(stage, name, partial)
        os.replace(partial, target)  # readers never see a half-written package
    return target


def stage_charm(source: Path, dest: Path, charm_python: str | None = None, venv_cache: Path | None = None,
                venv: bool = True) -> Path:
    """The deployable charm directory of charm source `source` at `dest` (what a package carries under
    `charms/<name>/`): the source, the vendored project packages in lib/, the files charmcraft packs, venv/."""
    _copy_tree(source, dest)
    pins = vendor_library(dest)
    make_deployable(dest, pins, LOCK.read_text(), charm_python, venv_cache, venv)
    return dest


def _pins(more: Iterable[str] = ()) -> list[str]:
    if not LOCK.is_file():
        raise OsmToolError(f"{LOCK} is missing: this srchain install is incomplete (reinstall it); the charms' "
                           "dependencies are pinned from it")
    wanted = {d.lower().replace("_", "-") for d in (*CHARM_DEPENDENCIES, *more)}
    lines = [ln.strip() for ln in LOCK.read_text().splitlines() if "==" in ln and not ln.startswith("#")]
    return [ln for ln in lines if ln.split("==")[0].strip().lower().replace("_", "-") in wanted]


@functools.cache
def _project_packages() -> frozenset[str]:
    """The top-level import packages of this project's distribution (installed or editable)."""
    return frozenset(m for m, dists in importlib.metadata.packages_distributions().items() if DISTRIBUTION in dists)


def _first_party(name: str) -> Path | None:
    """The folder of top-level package `name` when it is one of this project's."""
    if name not in _project_packages():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _module_file(module: str) -> Path | None:
    top, _, rest = module.partition(".")
    root = _first_party(top)
    if root is None:
        return None
    base = root.joinpath(*rest.split(".")) if rest else root
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def import_closure(sources: list[Path]) -> tuple[dict[str, Path], set[str]]:
    """Every import (module level or inside functions) reachable from `sources` through this project's
    packages: (first-party top-level package -> its folder, third-party top-level module names)."""
    first: dict[str, Path] = {}
    third: set[str] = set()
    todo = [(p, "") for p in sources]
    seen: set[Path] = set()
    while todo:
        path, package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if not top or top in sys.stdlib_module_names or top == "__future__":
                    continue
                root = _first_party(top)
                if root is None:
                    third.add(top)
                    continue
                first[top] = root
                target = _module_file(name)
                if target is not None:
                    pkg = name if target.name == "__init__.py" else name.rpartition(".")[0]
                    todo.append((target, pkg))
    return first, third


def _distributions(modules: set[str]) -> set[str]:
    by_module = importlib.metadata.packages_distributions()
    return {d.lower().replace("_", "-") for m in modules for d in by_module.get(m, [])}


def vendor_library(charm_dir: Path) -> list[str]:
    """Copy the project's packages the charm's code imports (the import closure of `src/`: `srchain`, and
    `srchain_vnfs` for the VNF charms) into `lib/` (Juju's dispatch puts lib/ on PYTHONPATH) and pin their
    third-party dependencies in requirements.txt (from requirements.lock); returns those pins."""
    first, third = import_closure(sorted((charm_dir / "src").rglob("*.py")))
    first.setdefault("srchain", LIBRARY)
    for name, folder in sorted(first.items()):
        _copy_tree(folder, charm_dir / "lib" / name)
    req = charm_dir / "requirements.txt"
    existing = [ln for ln in (req.read_text().splitlines() if req.is_file() else []) if ln.strip()]
    names = {ln.split("==")[0].strip().lower() for ln in existing}
    extra = [p for p in _pins(_distributions(third)) if p.split("==")[0].strip().lower() not in names]
    req.write_text("\n".join(existing + extra) + "\n")
    return existing + extra


def _write_tar(stage: Path, name: str, target: Path) -> None:
    members = [stage, *sorted(stage.rglob("*"))]
    # compresslevel 6 (gzip's default): a third of level 9's time on the charms' venv/ for the same size
    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                  compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in members:
            arcname = name if path == stage else f"{name}/{path.relative_to(stage).as_posix()}"
            info = tar.gettarinfo(str(path), arcname)
            if path.is_file():  # a venv/ file hard-linked from the build cache is still a regular member
                info.type, info.size, info.linkname = tarfile.REGTYPE, path.stat().st_size, ""
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = MEMBER_MTIME
            info.mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
            if path.is_file():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise tarfile.TarError(f"{member.name}: no content")
    return f.read()


def check_layout(tar_path: Path) -> tuple[list[Finding], str | None]:
    """The NBI's tar rules and checksums.txt; returns the findings and the top directory name."""
    f = str(tar_path)
    out: list[Finding] = []
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            members = tar.getmembers()
            contents = {m.name.rstrip("/"): _member_bytes(tar, m) for m in members if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        return [Finding(f, "", "package.format", f"not a readable tar.gz: {e}")], None
    tops = set()
    for m in members:
        p = PurePosixPath(m.name)
        if p.is_absolute() or ".." in p.parts:
            out.append(Finding(f, m.name, "package.layout", "absolute or '..' path"))
        if not (m.isfile() or m.isdir()):
            out.append(Finding(f, m.name, "package.layout", "only regular files and directories are allowed"))
        if p.parts:
            tops.add(p.parts[0])
    if len(tops) != 1 or any(PurePosixPath(n).parts == (n,) for n in contents):
        out.append(Finding(f, "", "package.layout",
                           f"all files must be inside one top directory (found: {', '.join(sorted(tops)) or 'none'})"))
        return out, None
    top = next(iter(tops))
    at_top = [n for n in contents
              if len(PurePosixPath(n).parts) == 2 and PurePosixPath(n).suffix in DESCRIPTOR_SUFFIXES]
    if len(at_top) != 1:
        out.append(Finding(f, f"{top}/", "package.layout",
                           f"exactly one descriptor (.yaml/.yml/.json) must sit directly in {top}/, "
                           f"found {len(at_top)}: {', '.join(sorted(at_top)) or 'none'}"))
    sums_name = f"{top}/{CHECKSUMS}"
    if sums_name not in contents:
        out.append(Finding(f, sums_name, "package.checksums", "checksums.txt is missing"))
        return out, top
    listed: dict[str, str] = {}
    for n, line in enumerate(contents[sums_name].decode(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, path = line.partition("\t")
        if not sep:
            out.append(Finding(f, f"{sums_name}:{n}", "package.checksums", "line is not 'md5<TAB>path'"))
            continue
        listed[path.strip()] = digest.strip().lower()
    for path, data in sorted(contents.items()):
        if path == sums_name:
            continue
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if path not in listed:
            out.append(Finding(f, path, "package.checksums", "file is not listed in checksums.txt"))
        elif listed[path] != actual:
            out.append(Finding(f, path, "package.checksums",
                               f"md5 mismatch: checksums.txt says {listed[path]}, the file's is {actual}"))
    for path in sorted(set(listed) - set(contents)):
        out.append(Finding(f, path, "package.checksums", "listed in checksums.txt but not in the package"))
    return out, top


def check_packages(tar_paths: list[Path], im: ImValidator | None, extra: list[Descriptor] | None = None,
                   params: dict[str, Any] | None = None, params_file: str = "the ns-create parameters",
                   switches: list[Switch] | None = None) -> list[Finding]:
    """Layout of each package, then every descriptor inside, validated together (NSD vs VNFDs) against
    the charms shipped in the packages only."""
    out: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="srchain-pkgcheck-") as tmp:
        descriptors: list[Descriptor] = list(extra or [])
        for tar_path in tar_paths:
            findings, top = check_layout(tar_path)
            out += findings
            if top is None or findings:
                continue
            dest = Path(tmp) / tar_path.name
            with tarfile.open(tar_path, "r:gz") as tar:
                tar.extractall(dest, filter="data")
            found, problems = collect([dest / top])
            out += problems
            # Name findings after the package member, not the temporary extraction path.
            descriptors += [Descriptor(d.file, d.root, d.data) for d in found]
        findings = validate_descriptors(descriptors, im, charm_roots=[], params=params, params_file=params_file,
                                        switches=switches)
        out += [Finding(f.file.replace(tmp + "/", ""), f.path, f.rule, f.message) for f in findings]
    return out
