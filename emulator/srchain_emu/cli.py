"""`srchain p4 …` (check/compile P4 programs) and `srchain switch …` (run the emulated Tofino)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .frontend.errors import P4Error
from .interp.target import DEFAULT_TARGET, TARGET_MODELS, TargetRefusal
from .interp.target_resources import TARGETS
from .interp.trace import TraceFilter, Tracer

# bf-p4c's refusals that the emulator could run anyway: `none` checks the emulator's subset only.
target_model_option = click.option(
    "--target-model", type=click.Choice(TARGET_MODELS), default=DEFAULT_TARGET, show_default=True,
    help="refuse what this target's compiler refuses (tofino1: bf-p4c for a Tofino 1)")


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
@target_model_option
@click.option("--resources", is_flag=True,
              help="also print the stage/PHV estimate (stage -> tables, memories); exit 1 when it does not fit")
@click.option("--target", "target", type=click.Choice(sorted(TARGETS)), default="tofino1", show_default=True,
              help="the device of the --resources estimate (stages and per-stage limits)")
def check_cmd(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...], target_model: str,
              resources: bool, target: str) -> None:
    """Parse and check PROGRAM; errors print as file:line: message (exit 1)."""
    from .interp.pipeline import Pipeline

    if resources:
        _resources(program, include_dirs, defines, target_model, target)
        return
    t0 = time.perf_counter()
    try:
        p = Pipeline.from_file(program, list(include_dirs), _defines(defines), target_model)
    except TargetRefusal as exc:
        for d in exc.diagnostics:  # every refusal at once: a redesign sees the whole list
            click.echo(f"{d.loc}: {d.message}", err=True)
        sys.exit(1)
    except P4Error as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    dt = (time.perf_counter() - t0) * 1000
    click.echo(f"{program}: ok ({len(p.tables)} tables, {len(p.registers)} registers, "
               f"{len(p.digest_infos)} digests; {dt:.0f} ms)")


def _resources(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...], target_model: str,
               target: str) -> None:
    """`check --resources`: the target model's refusals, then the estimate (interp/target_resources.py). Only
    here does the stage limit refuse a program (exit 1)."""
    from .frontend.parser import parse_text
    from .interp.checker import check_program
    from .interp.pipeline import load_source
    from .interp.target import check_target
    from .interp.target_resources import estimate

    try:
        checked = check_program(parse_text(load_source(program, list(include_dirs), _defines(defines)), program))
    except P4Error as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    refusals = check_target(checked, target_model)
    for d in refusals:
        click.echo(f"{d.loc}: {d.message}", err=True)
    est = estimate(checked, target)
    click.echo(est.report())
    why = est.refusal()
    if why:
        click.echo(f"{program}: {why}", err=True)
    if why or refusals:
        sys.exit(1)


@p4_cli.command("compile")
@click.argument("program", type=click.Path(dir_okay=False))
@click.option("-I", "include_dirs", multiple=True, type=click.Path(file_okay=False), help="include directory")
@click.option("-D", "defines", multiple=True, help="preprocessor define NAME[=VALUE]")
@click.option("-o", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
@target_model_option
def compile_cmd(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...], out_dir: str,
                target_model: str) -> None:
    """Compile PROGRAM into OUT/: bf-rt.json, pipe/context.json, pipe/tofino.bin, NAME.conf."""
    from .bundle import compile_to_dir

    try:
        path = compile_to_dir(program, out_dir, list(include_dirs), _defines(defines), target_model)
    except P4Error as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"wrote {path} and {Path(out_dir) / 'pipe'}/")


@click.group("switch")
def switch_cli() -> None:
    """Run the emulated Tofino switch."""


@switch_cli.command("run")
@click.option("--ports", "ports_file", required=True, type=click.Path(dir_okay=False),
              help="SDE-style ports JSON (PortToIf / PortToVeth)")
@click.option("--grpc", "grpc_addr", default="127.0.0.1:50052", show_default=True,
              help="BF Runtime gRPC address (loopback or unix:PATH)")
@click.option("--p4", "program", type=click.Path(dir_okay=False), help="P4 program to load at start-up")
@click.option("-I", "include_dirs", multiple=True, type=click.Path(file_okay=False), help="include directory")
@click.option("-D", "defines", multiple=True, help="preprocessor define NAME[=VALUE]")
@target_model_option
@click.option("--token-file", type=click.Path(dir_okay=False), help="require this token (x-srchain-token)")
@click.option("--device-id", default=0, show_default=True)
@click.option("--num-pipes", "num_pipes_choice", type=click.Choice(["1", "2", "4"]), default="4", show_default=True,
              help="pipes of the device (a Tofino 1 has 1, 2 or 4; run_p4_tests.sh --num-pipes): a port's pipe is "
                   "dev_port >> 7, each pipe has its own registers, counters and meters")
@click.option("--io", type=click.Choice(["ring", "socket"]), default="ring", show_default=True,
              envvar="SRCHAIN_EMU_IO", help="port I/O: PACKET_MMAP rings, or one system call per frame")
@click.option("--trace", "trace_filter", is_flag=False, flag_value="", default=None, metavar="[FILTER]",
              help="trace packets on stderr (docs/emulator.md 'Packet traces'); FILTER: port=N, gress=ingress|"
                   "egress, max=N, match=OFFSET:HEX, comma-separated; slows the data plane")
@click.option("--trace-file", type=click.Path(dir_okay=False), help="write traces here instead of stderr")
def run_cmd(ports_file: str, grpc_addr: str, program: str | None, include_dirs: tuple[str, ...],
            defines: tuple[str, ...], target_model: str, token_file: str | None, device_id: int,
            num_pipes_choice: str, io: str, trace_filter: str | None, trace_file: str | None) -> None:
    """Run the emulated Tofino: ports on Linux interfaces, BF Runtime gRPC, optional program."""
    import signal
    import threading

    from .bfrt_server import serve
    from .interp.pipeline import Pipeline
    from .ports import PortsError, check_pipes, load_ports
    from .switch import DataPlane

    num_pipes = int(num_pipes_choice)
    try:
        specs = check_pipes(load_ports(ports_file), num_pipes, ports_file)
        tracer = _tracer(trace_filter, trace_file) if trace_filter is not None or trace_file else None
        pipeline = (Pipeline.from_file(program, list(include_dirs), _defines(defines), target_model, tracer,
                                       num_pipes) if program else None)
        token = Path(token_file).read_text().strip() if token_file else None
        server, servicer, port = serve(grpc_addr, device_id, token, num_pipes=num_pipes)
        servicer.dev.tracer = tracer
    except (PortsError, P4Error, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if program and pipeline is not None:
        servicer.install(Path(program).stem, pipeline)
    try:
        dataplane = DataPlane(servicer, specs, io=io)
    except OSError as exc:
        server.stop(grace=None)
        click.echo(f"error: cannot open ports: {exc}", err=True)
        sys.exit(1)
    dataplane.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(f"emulated Tofino: {len(specs)} ports, {num_pipes} pipe(s), BF Runtime on {grpc_addr}"
               + (f" (port {port})" if not grpc_addr.startswith("unix:") else "")
               + (f", program {Path(program).stem}" if program else ""))
    stop.wait()
    dataplane.stop()
    click.echo(f"data plane counters: {json.dumps(dataplane.final_counters, sort_keys=True)}")
    server.stop(grace=1)


def _tracer(trace_filter: str | None, trace_file: str | None) -> Tracer:
    """A Tracer writing one block per packet to `trace_file` (appended, line-buffered) or stderr."""
    filt = TraceFilter.parse(trace_filter or "")
    if trace_file is None:
        return Tracer(None, filt)
    out = open(trace_file, "a", buffering=1)  # noqa: SIM115  # open for the life of the process

    def write(text: str) -> None:
        out.write(text + "\n")
    return Tracer(write, filt)


@switch_cli.command("trace")
@click.option("--p4", "program", required=True, type=click.Path(exists=True, dir_okay=False),
              help="P4 program (source)")
@click.option("-I", "include_dirs", multiple=True, type=click.Path(file_okay=False), help="include directory")
@click.option("-D", "defines", multiple=True, help="preprocessor define NAME[=VALUE]")
@target_model_option
@click.option("--packet", required=True, help="the frame: hex bytes, or a pcap file (every packet in it)")
@click.option("--port", "ingress_port", default=0, show_default=True, help="ingress port")
@click.option("--entries", "entries_file", type=click.Path(exists=True, dir_okay=False),
              help='table entries first: JSON list of {"table", "key": [values; ternary/lpm/range as '
                   '[value, mask|len|high]], "action", "data": {param: value}, "priority"}')
def trace_cmd(program: str, include_dirs: tuple[str, ...], defines: tuple[str, ...], target_model: str,
              packet: str, ingress_port: int, entries_file: str | None) -> None:
    """Trace packets through a program's ingress and egress (no traffic manager: each packet ingress sends
    to a port goes straight to egress), as `switch run --trace` prints them."""
    from .interp import runtime as R
    from .interp.pipeline import Pipeline

    blocks: list[str] = []
    try:
        frames = _frames(packet)
        pipeline = Pipeline.from_file(program, list(include_dirs), _defines(defines), target_model,
                                      Tracer(blocks.append))
        for i, e in enumerate(json.loads(Path(entries_file).read_text()) if entries_file else []):
            try:
                key = [tuple(k) if isinstance(k, list) else k for k in e.get("key", [])]
                pipeline.table(e["table"]).insert(key, e["action"], e.get("data", {}), e.get("priority", 0))
            except (KeyError, TypeError, R.ConfigError) as exc:
                raise ValueError(f"{entries_file}: entry {i}: {exc}") from None
    except (P4Error, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for frame in frames:
        for item in pipeline.ingress(ingress_port, frame):
            pipeline.egress(item)
    click.echo("\n".join(blocks))


def _frames(packet: str) -> list[bytes]:
    """Hex text, or a pcap file's packets."""
    path = Path(packet)
    if path.is_file():
        from scapy.utils import rdpcap

        try:
            return [bytes(p) for p in rdpcap(str(path))]
        except Exception as exc:  # scapy raises Scapy_Exception or struct errors on a bad file
            raise ValueError(f"{packet}: not a pcap file ({exc})") from None
    try:
        return [bytes.fromhex(packet.replace(":", "").replace(" ", ""))]
    except ValueError:
        raise ValueError(f"--packet: neither a file nor hex bytes: {packet[:40]!r}") from None
