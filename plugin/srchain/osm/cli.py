"""`srchain package …` (build, validate) and `srchain osm …` (pdu) command groups."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from srchain.model.errors import SpecError
from srchain.model.load import load_inventory
from srchain.osm.findings import Finding, OsmToolError
from srchain.osm.im import REPO_ROOT, ImValidator
from srchain.osm.package import build_package, check_packages
from srchain.osm.pdu import PduError, pdu_descriptors, switches
from srchain.osm.render import RenderError, render_files
from srchain.osm.validate import load_params, validate_paths

_IM_YANG = click.option("--im-yang", type=click.Path(exists=True, file_okay=False, path_type=Path),
                        help="OSM IM YANG directory (sol006/ + augments/). Default: ../shared/osm-im/yang "
                             "when present, else an installed osm_im package.")


def _im(im_yang: Path | None) -> ImValidator:
    try:
        return ImValidator(im_yang)
    except OsmToolError as e:
        raise click.ClickException(str(e)) from None


def _report(findings: list[Finding], checked: int) -> None:
    for f in findings:
        click.echo(str(f))
    if findings:
        click.echo(f"{len(findings)} problem(s) in {checked} item(s)", err=True)
        sys.exit(1)
    click.echo(f"OK: {checked} item(s) valid")


@click.group("package")
def package_cli() -> None:
    """Build and validate OSM packages (VNF/NS descriptors with their charms)."""


@package_cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_IM_YANG
@click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ns-create parameters (the `osm ns-create --config_file` YAML): check every <placeholder>.")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Inventory: check the PNF's pdu-type and interface names against its switches.")
def validate_cmd(paths: tuple[Path, ...], im_yang: Path | None, params_path: Path | None,
                 inventory: Path | None) -> None:
    """Validate descriptors, package folders and built packages (*.tar.gz) together.

    Default PATHS: vnfd/ and nsd/ of the repository. Exit status 1 when anything is invalid."""
    im = _im(im_yang)
    targets = list(paths) or [REPO_ROOT / "vnfd", REPO_ROOT / "nsd"]
    tars = [p for p in targets if p.is_file() and p.name.endswith(".tar.gz")]
    tars += [t for p in targets if p.is_dir() for t in sorted(p.glob("*.tar.gz"))]
    others = [p for p in targets if p not in tars]
    try:
        sw = switches(load_inventory(inventory)[0]) if inventory else None
        report = validate_paths(others, im, params_path=params_path, switches=sw) if others else None
        findings = list(report.findings) if report else []
        if tars:
            params = load_params(params_path) if params_path else None
            findings += check_packages(tars, im, params=params, params_file=str(params_path or ""), switches=sw)
    except (SpecError, OsmToolError) as e:
        raise click.ClickException(str(e)) from None
    _report(findings, len(tars) + (len(report.descriptors) if report else 0))


@package_cli.command("build")
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: packages/ of the repository).")
@click.option("--charms", "charm_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Where the charms named by the descriptors live (default: charms/ of the repository).")
@click.option("--skip-validation", is_flag=True, help="Build even if the descriptor is invalid.")
@_IM_YANG
def build_cmd(folders: tuple[Path, ...], out_dir: Path | None, charm_dir: Path | None, skip_validation: bool,
              im_yang: Path | None) -> None:
    """Build OSM tar.gz packages from package folders (default: every folder in vnfd/ and nsd/)."""
    im = None if skip_validation else _im(im_yang)
    chosen = list(folders) or sorted(p for base in ("vnfd", "nsd") for p in (REPO_ROOT / base).iterdir()
                                     if p.is_dir() and not p.name.startswith("."))
    out = out_dir or REPO_ROOT / "packages"
    built = []
    try:
        for folder in chosen:
            built.append(build_package(folder, out, im, [charm_dir] if charm_dir else None,
                                       validate=not skip_validation))
            click.echo(f"built {built[-1]}")
        findings = [] if skip_validation else check_packages(built, im)
    except OsmToolError as e:
        raise click.ClickException(str(e)) from None
    _report(findings, len(built))


@package_cli.command("render-nsd")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inventory", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Root of the nsd/ and vnfd/ trees to write (default: the repository).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if the files under --out differ from the rendering.")
def render_nsd_cmd(spec: Path, inventory: Path, out_root: Path | None, check: bool) -> None:
    """Render the chain's NS: nsd/<chain>/<chain>_nsd.yaml, vnfd/tofino-<switch>/ (one PNF VNFD per switch)
    and nsd/<chain>.ns-config.yaml (the `osm ns-create --config_file` parameters)."""
    root = out_root or REPO_ROOT
    try:
        rendered = render_files(spec, inventory)
    except (SpecError, RenderError) as e:
        raise click.ClickException(str(e)) from None
    if check:
        stale = rendered.stale(root)
        for path in stale:
            click.echo(f"{path}: differs from the rendering of {spec} + {inventory}")
        if stale:
            sys.exit(1)
        click.echo(f"OK: the files under {root} are the rendering of {spec} + {inventory}")
        return
    for path in rendered.write(root):
        click.echo(f"wrote {path}")


@click.group("osm")
def osm_cli() -> None:
    """OSM integration: PDU registration descriptors (more to come: onboard, ns-create, ns-action)."""


@osm_cli.command("pdu")
@click.option("--inventory", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vim-account", "vim_accounts", multiple=True,
              help="VIM account(s) the PDU is usable from (repeatable; OSM needs at least one at ns-create).")
@click.option("--switch", "only", help="Only this switch (default: every switch in the inventory).")
@click.option("--pdu-type", default=None,
              help="PDU type; must equal the PNF VNFD's vdu pdu-type (default: srchain-tofino-<switch>, "
                   "as `package render-nsd` writes it).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one <switch>_pdu.yaml per switch here instead of printing them.")
def pdu_cmd(inventory: Path, vim_accounts: tuple[str, ...], only: str | None, pdu_type: str | None,
            out_dir: Path | None) -> None:
    """PDU descriptors for `osm pdu-create --descriptor_file` from the inventory's switches."""
    try:
        inv, _ = load_inventory(inventory)
        docs = pdu_descriptors(inv, list(vim_accounts), pdu_type, only)
    except (SpecError, PduError) as e:
        raise click.ClickException(str(e)) from None
    for name, body in docs.items():
        text = yaml.safe_dump(body, sort_keys=False)
        if out_dir is None:
            click.echo(f"---\n{text}", nl=False)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}_pdu.yaml"
        target.write_text(text)
        click.echo(f"wrote {target}  (osm pdu-create --descriptor_file {target})")
