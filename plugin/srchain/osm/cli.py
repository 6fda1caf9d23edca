"""`srchain package …` (build, validate, render-nsd) and `srchain osm …` (pdu, onboard, ns-create, ns-action,
ns-status, nbi-standin) command groups."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml

from srchain.model.errors import SpecError
from srchain.model.load import load_inventory
from srchain.osm import nbi, ns_hostkeys
from srchain.osm.charmcloud import CHARM_CLOUDS, DEFAULT_CHARM_CLOUD
from srchain.osm.checkout import require_checkout
from srchain.osm.findings import Finding, OsmToolError
from srchain.osm.im import ImValidator
from srchain.osm.package import build_package, check_packages
from srchain.osm.pdu import PduError, pdu_descriptors, switches
from srchain.osm.render import DEFAULT_OSM_RELEASE, OSM_RELEASES, RenderError, render_files
from srchain.osm.validate import load_params, validate_paths

_IM_YANG = click.option("--im-yang", type=click.Path(exists=True, file_okay=False, path_type=Path),
                        help="OSM IM YANG directory (sol006/ + augments/, or an OSM IM checkout). Default: "
                             "$SRCHAIN_OSM_IM_YANG, else OSM's installed osm_im package.")


def _im(im_yang: Path | None) -> ImValidator:
    try:
        return ImValidator(im_yang)
    except OsmToolError as e:
        raise click.ClickException(str(e)) from None


def _checkout_dirs(*names: str, instead: str) -> list[Path]:
    try:
        root = require_checkout(instead)
    except OsmToolError as e:
        raise click.ClickException(str(e)) from None
    return [root / n for n in names]


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

    Default PATHS: vnfd/ and nsd/ of the checkout it runs in. Exit status 1 when anything is invalid."""
    im = _im(im_yang)
    targets = list(paths) or _checkout_dirs("vnfd", "nsd", instead="pass the descriptors, folders or packages "
                                                                   "to validate")
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
              help="Output directory (default: packages/ of the checkout it runs in).")
@click.option("--charms", "charm_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Where the charms named by the descriptors live (default: charms/ of the checkout).")
@click.option("--skip-validation", is_flag=True, help="Build even if the descriptor is invalid.")
@click.option("--no-venv", is_flag=True,
              help="Leave the charms' venv/ (their dependencies) out: quicker, for validation only; does NOT deploy.")
@_IM_YANG
@click.option("--p4-bundle", "p4_bundles", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A compiled P4 bundle to ship in the P4 switch charm (DIR named after the program: bf-rt.json, "
                   "pipe/context.json, pipe/tofino.bin; e.g. p4/build/srchain_node). Repeatable.")
@click.option("--charm-cloud", type=click.Choice(CHARM_CLOUDS), default=DEFAULT_CHARM_CLOUD, show_default=True,
              help="Where OSM runs the proxy charms (juju.cloud in the descriptors): k8s = the VCA's Kubernetes "
                   "cloud (runs on a stock OSM 14-16 with the VCA's default-series jammy); lxd = an LXD machine, "
                   "bionic with OSM's N2VC, where these charms cannot run (docs/osm.md).")
def build_cmd(folders: tuple[Path, ...], out_dir: Path | None, charm_dir: Path | None, skip_validation: bool,
              no_venv: bool, im_yang: Path | None, p4_bundles: tuple[Path, ...], charm_cloud: str) -> None:
    """Build OSM tar.gz packages from package folders (default: every folder in vnfd/ and nsd/ of the
    checkout it runs in). Outside a checkout, pass the folders, --charms and --out."""
    im = None if skip_validation else _im(im_yang)
    built = []
    try:
        chosen = list(folders) or sorted(
            p for base in _checkout_dirs("vnfd", "nsd", instead="pass the package folders to build "
                                                                "(e.g. vnfd/formatter), --charms and --out")
            for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        out = out_dir or _checkout_dirs("packages", instead="pass --out DIR (where the packages go)")[0]
        for folder in chosen:
            built.append(build_package(folder, out, im, [charm_dir] if charm_dir else None,
                                       validate=not skip_validation, venv=not no_venv, p4_bundles=p4_bundles,
                                       charm_cloud=charm_cloud))
            click.echo(f"built {built[-1]}")
        findings = [] if skip_validation else check_packages(built, im)
    except OsmToolError as e:
        raise click.ClickException(str(e)) from None
    _report(findings, len(built))


@package_cli.command("render-nsd")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inventory", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Root of the nsd/ and vnfd/ trees to write (default: the checkout it runs in).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if the files under --out differ from the rendering.")
@click.option("--osm-release", type=click.IntRange(OSM_RELEASES.start, OSM_RELEASES.stop - 1),
              default=DEFAULT_OSM_RELEASE, show_default=True,
              help="Target OSM release: 14 (the NSD documents the chain in a vnffgd) or 15+ (no vnffgd: their RO "
                   "would deploy it as SFC at the VIM, and fails on it).")
@click.option("--p4-bundle", "p4_bundles", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The compiled P4 bundle the switches' charms ship (as given to package build --p4-bundle): its "
                   "digest goes into the NS config, and load-p4-program refuses a bundle with another one.")
def render_nsd_cmd(spec: Path, inventory: Path, out_root: Path | None, check: bool, osm_release: int,
                   p4_bundles: tuple[Path, ...]) -> None:
    """Render the chain's NS: nsd/<chain>/<chain>_nsd.yaml, vnfd/tofino-<switch>/ (one PNF VNFD per switch)
    and nsd/<chain>.ns-config.yaml (the `osm ns-create --config_file` parameters)."""
    root = out_root or _checkout_dirs(".", instead="pass -o/--out DIR (the root of the nsd/ and vnfd/ trees "
                                                   "to write)")[0]
    try:
        rendered = render_files(spec, inventory, osm_release, list(p4_bundles))
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
    """OSM integration: PDU descriptors, onboarding, NS creation, day-2 actions (osmclient or the NBI)."""


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


_VIA = click.option("--via", type=click.Choice(["auto", "osmclient", "nbi"]), default="auto", show_default=True,
                    help="auto: the `osm` CLI (osmclient) when installed, else OSM's NBI REST API.")
_CREDS = click.option("--credentials", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                      help="YAML with hostname, user, password (or password_file), project, ca_file, insecure. "
                           "Default: OSM_HOSTNAME, OSM_USER, OSM_PASSWORD, OSM_PROJECT.")
_DRY = click.option("--dry-run", is_flag=True, help="Print the equivalent `osm` commands; contact nothing.")
_WAIT = click.option("--wait/--no-wait", default=True, show_default=True, help="Poll the operation until it ends.")
_TIMEOUT = click.option("--timeout", type=click.FloatRange(1, 86400), default=600, show_default=True,
                        help="Seconds to wait for the operation.")


def _use_osmclient(via: str) -> bool:
    found = shutil.which("osm") is not None and importlib.util.find_spec("osmclient") is not None
    if via == "osmclient" and not found:
        raise click.ClickException("--via osmclient: the `osm` command (osmclient) is not installed")
    return via == "osmclient" or (via == "auto" and found)


def _creds(path: Path | None) -> nbi.Credentials:
    try:
        return nbi.Credentials.load(path)
    except (nbi.NbiError, OSError) as e:
        raise click.ClickException(str(e)) from None


def _finish(client: nbi.NbiClient, op_id: str, wait: bool, timeout: float) -> None:
    if not wait:
        click.echo(f"operation {op_id}")
        return
    op = client.wait(op_id, timeout)
    click.echo(f"operation {op_id}: {op.get('operationState')}: {op.get('detailed-status')}")
    if op.get("operationState") != "COMPLETED":
        sys.exit(1)


@osm_cli.command("onboard")
@click.argument("packages", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pdu", "pdus", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PDU descriptor to register first (`srchain osm pdu --out`); repeatable.")
@_VIA
@_CREDS
@_DRY
def onboard_cmd(packages: tuple[Path, ...], pdus: tuple[Path, ...], via: str, credentials: Path | None,
                dry_run: bool) -> None:
    """Register PDUs, then onboard packages (*.tar.gz from `srchain package build`; VNFs before NSs)."""
    try:
        ordered = nbi.onboarding_order(list(packages))
        commands = [nbi.cmd_pdu_create(p) for p in pdus] + [nbi.cmd_onboard(p) for p in ordered]
        if dry_run:
            for cmd in commands:
                click.echo(nbi.shell(cmd))
            return
        creds = _creds(credentials)
        client = nbi.NbiClient(creds)
        if _use_osmclient(via):
            # osmclient sends the descriptor's vim_accounts as they are, and OSM matches PDUs by VIM account id:
            # the names are resolved here (GET vim_accounts on the same NBI) into a copy it is given instead
            with tempfile.TemporaryDirectory(prefix="srchain-pdu-") as tmp:
                for p in pdus:
                    with_ids = Path(tmp) / p.name
                    with_ids.write_text(yaml.safe_dump(client.vim_ids(yaml.safe_load(p.read_text())),
                                                       sort_keys=False))
                    click.echo(nbi.run_osm(nbi.cmd_pdu_create(with_ids), creds).strip())
            for pkg in ordered:
                click.echo(nbi.run_osm(nbi.cmd_onboard(pkg), creds).strip())
            return
        for p in pdus:
            click.echo(f"pdu {p.name}: {client.pdu_create(yaml.safe_load(p.read_text()))}")
        for pkg in ordered:
            click.echo(f"{pkg.name}: {client.onboard(pkg)}")
    except (nbi.NbiError, OSError, yaml.YAMLError) as e:
        raise click.ClickException(str(e)) from None


@osm_cli.command("ns-create")
@click.option("--ns-name", required=True)
@click.option("--nsd-name", required=True, help="NSD id, e.g. srchain-cloud-gaming.")
@click.option("--vim-account", required=True)
@click.option("--config-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Instantiation parameters (`package render-nsd` writes nsd/<chain>.ns-config.yaml).")
@_WAIT
@_TIMEOUT
@_VIA
@_CREDS
@_DRY
def ns_create_cmd(ns_name: str, nsd_name: str, vim_account: str, config_file: Path | None, wait: bool,
                  timeout: float, via: str, credentials: Path | None, dry_run: bool) -> None:
    """Create and instantiate a network service."""
    cmd = nbi.cmd_ns_create(ns_name, nsd_name, vim_account, config_file) + (["--wait"] if wait else [])
    if dry_run:
        click.echo(nbi.shell(cmd))
        if config_file and ns_hostkeys.wants_keys(load_params(config_file)):
            click.echo("# with a host key pair generated per VM member at ns-create, in a private copy of the "
                       "config file (docs/osm.md, Day 1 unattended)")
        return
    try:
        config, public = ns_hostkeys.with_host_keys(load_params(config_file) if config_file else {})
        creds = _creds(credentials)
        for member, key in sorted(public.items()):
            click.echo(f"host key of {member}: {ns_hostkeys.fingerprint(key)} (generated for this instantiation)")
        if _use_osmclient(via):
            with ns_hostkeys.private_file(config) as private:
                private_cmd = nbi.cmd_ns_create(ns_name, nsd_name, vim_account, private if config_file else None)
                click.echo(nbi.run_osm(private_cmd + (["--wait"] if wait else []), creds, timeout).strip())
            return
        client = nbi.NbiClient(creds)
        ns_id, op_id = client.ns_create(ns_name, nsd_name, vim_account, config)
        click.echo(f"ns {ns_name}: {ns_id}")
        _finish(client, op_id, wait, timeout)
    except (nbi.NbiError, OsmToolError, ns_hostkeys.HostKeyError) as e:
        raise click.ClickException(str(e)) from None


@osm_cli.command("ns-action")
@click.argument("ns_name")
@click.option("--action-name", required=True, help="The primitive, e.g. show-chain or add-sid.")
@click.option("--vnf-name", default=None, help="member-vnf-index (vnf-profile id); none: an NS-level primitive.")
@click.option("--params", "params_text", default="{}", show_default=True, help="Parameters as YAML/JSON mapping.")
@_WAIT
@_TIMEOUT
@_VIA
@_CREDS
@_DRY
def ns_action_cmd(ns_name: str, action_name: str, vnf_name: str | None, params_text: str, wait: bool,
                  timeout: float, via: str, credentials: Path | None, dry_run: bool) -> None:
    """Run a day-2 primitive on a network service (NS-level, or on one VNF with --vnf-name)."""
    try:
        params = yaml.safe_load(params_text) or {}
    except yaml.YAMLError as e:
        raise click.ClickException(f"--params: not YAML: {e}") from None
    if not isinstance(params, dict):
        raise click.ClickException("--params: must be a mapping, e.g. '{spec: ...}'")
    cmd = nbi.cmd_ns_action(ns_name, action_name, params, vnf_name, wait)
    if dry_run:
        click.echo(nbi.shell(cmd))
        return
    try:
        creds = _creds(credentials)
        if _use_osmclient(via):
            click.echo(nbi.run_osm(cmd, creds, timeout).strip())
            return
        client = nbi.NbiClient(creds)
        _finish(client, client.ns_action(ns_name, action_name, params, vnf_name), wait, timeout)
    except nbi.NbiError as e:
        raise click.ClickException(str(e)) from None


@osm_cli.command("ns-status")
@click.argument("ns_name")
@_VIA
@_CREDS
@_DRY
def ns_status_cmd(ns_name: str, via: str, credentials: Path | None, dry_run: bool) -> None:
    """The NS's state and its operations (state, detailed status)."""
    commands = nbi.cmd_ns_status(ns_name)
    if dry_run:
        for cmd in commands:
            click.echo(nbi.shell(cmd))
        return
    try:
        creds = _creds(credentials)
        if _use_osmclient(via):
            for cmd in commands:
                click.echo(nbi.run_osm(cmd, creds).strip())
            return
        status = nbi.NbiClient(creds).ns_status(ns_name)
    except nbi.NbiError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"ns {status['name']} ({status['_id']}): {status['nsState']}")
    for op in status["operations"]:
        click.echo(f"  {op['lcmOperationType']:<12} {op['operationState']:<10} {op['_id']}  "
                   f"{op.get('detailed-status', '')}")


@osm_cli.command("nbi-standin")
@click.option("--port", type=click.IntRange(0, 65535), default=9999, show_default=True)
@click.option("--user", default="admin", show_default=True)
@click.option("--password-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vim-account", "vim_accounts", multiple=True, default=["local-vim"], show_default=True)
@_IM_YANG
@click.option("--duration", type=click.FloatRange(1, 86400), default=3600, show_default=True,
              help="Stop after this many seconds.")
@click.option("--osm-release", type=click.IntRange(OSM_RELEASES.start, OSM_RELEASES.stop - 1),
              default=DEFAULT_OSM_RELEASE, show_default=True,
              help="Behave as this release's NBI (16+: a vnffgd needs nfp-position-element ids; 15+: an NS whose NSD "
                   "has a vnffgd fails instantiation, as RO would deploy it).")
@click.option("--vca-default-series", default="jammy", show_default=True,
              help="The VCA model-config default-series the K8s proxy charms are checked against ('' = unset).")
def nbi_standin_cmd(port: int, user: str, password_file: Path, vim_accounts: tuple[str, ...],
                    im_yang: Path | None, duration: float, osm_release: int, vca_default_series: str) -> None:
    """Run the local NBI stand-in on 127.0.0.1 (NOT OSM: it checks requests, deploys nothing)."""
    from srchain.osm.nbi_standin import StandinNbi

    password = password_file.read_text().strip()
    standin = StandinNbi({user: password}, list(vim_accounts), im=_im(im_yang), osm_release=osm_release,
                         vca_default_series=vca_default_series or None)
    with standin.serve(port) as server:
        click.echo(json.dumps({"url": server.url, "user": user, "vim_accounts": list(vim_accounts)}))
        deadline = time.monotonic() + duration
        try:
            while time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
