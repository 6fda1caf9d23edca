"""`srchain p4 …` (check/compile P4 programs) and `srchain switch …` (run the emulated Tofino)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .frontend.errors import P4Error


def _defines(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        name, _, value = v.partition("=")
        out[name] = value or "1"
    return out


@click.group("p4")
def p4_cli() -> None:
    """Check and compile P4_16/TNA programs for the emulated Tofino."""


@p4_cli.command("check")
@click.argument("program", type=click.Path(dir_okay=False))
@click.option("-I", "include_dirs", multiple=True, type=click.Path(file_okay=False), help="include directory")
@click.option("-D", "defines", multiple=True, help="preprocessor define NAME[=VALUE]")
def check_cmd(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...]) -> None:
    """Parse and check PROGRAM; errors print as file:line: message (exit 1)."""
    from .interp.pipeline import Pipeline

    t0 = time.perf_counter()
    try:
        p = Pipeline.from_file(program, list(include_dirs), _defines(defines))
    except P4Error as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    dt = (time.perf_counter() - t0) * 1000
    click.echo(f"{program}: ok ({len(p.tables)} tables, {len(p.registers)} registers, "
               f"{len(p.digest_infos)} digests; {dt:.0f} ms)")  # fmt: skip


@p4_cli.command("compile")
@click.argument("program", type=click.Path(dir_okay=False))
@click.option("-I", "include_dirs", multiple=True, type=click.Path(file_okay=False), help="include directory")
@click.option("-D", "defines", multiple=True, help="preprocessor define NAME[=VALUE]")
@click.option("-o", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
def compile_cmd(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...], out_dir: str) -> None:
    """Compile PROGRAM into OUT/: bf-rt.json, pipe/context.json, pipe/tofino.bin, NAME.conf."""
    from .bundle import compile_to_dir

    try:
        path = compile_to_dir(program, out_dir, list(include_dirs), _defines(defines))
    except P4Error as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"wrote {path} and {Path(out_dir) / 'pipe'}/")


@click.group("switch")
def switch_cli() -> None:
    """Run the emulated Tofino switch."""
