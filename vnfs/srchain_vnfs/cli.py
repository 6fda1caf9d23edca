"""`vnf_cli`: run the VNF services, generate traffic, replay feature reports, capture records.

The lead wires this group into `srchain vnf …`; it also runs standalone: `python -m srchain_vnfs.cli`.
Every traffic command is bounded in count and time.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import click

from srchain_contracts.records import (
    FEATURE_REPORT_PORT,
    PROBE_PORT,
    DecisionRecord,
    RecordError,
    RecordType,
    WindowLabel,
    int_to_ip,
    ip_to_int,
    peek_type,
)

from .features import FlowFeatureTable, Placement, session_reports
from .profiles import PROFILES, generate
from .service import ConfigError, Daemon, load_config
from .trafficgen import ProbeReceiver, send_session

MAX_DURATION_S = 600.0


class _Sent(TypedDict):
    profile: str
    reports: int


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        ip_to_int(host)
        port_n = int(port)
    except ValueError as exc:
        raise click.BadParameter(f"expected IPV4:PORT, got {text!r}") from exc
    if not 0 < port_n < 65536:
        raise click.BadParameter(f"port out of range in {text!r}")
    return host, port_n


def build_service(kind: str, config: Path) -> Daemon:
    from .aggregator import Aggregator, AggregatorConfig
    from .classifier import Classifier, ClassifierConfig
    from .formatter import Formatter, FormatterConfig
    from .mitigation import Mitigation, MitigationConfig

    builders: dict[str, Callable[[], Daemon]] = {
        "formatter": lambda: Formatter(load_config(FormatterConfig, config)),
        "classifier": lambda: Classifier(load_config(ClassifierConfig, config)),
        "aggregator": lambda: Aggregator(load_config(AggregatorConfig, config)),
        "mitigation": lambda: Mitigation(load_config(MitigationConfig, config)),
    }
    return builders[kind]()


@click.group()
def vnf_cli() -> None:
    """VNF micro-services of the reference chain and the traffic generator."""


@vnf_cli.command("run")
@click.argument("service", type=click.Choice(["formatter", "classifier", "aggregator", "mitigation"]))
@click.option("--config", "config", type=click.Path(path_type=Path), required=True, help="YAML config file")
def run_cmd(service: str, config: Path) -> None:
    """Run one service until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        daemon = build_service(service, config)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    stop, ready = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def announce() -> None:
        if ready.wait(30) and daemon._http is not None:
            health = list(daemon._http.server_address[:2])
            click.echo(json.dumps({"service": service, "name": daemon.cfg.name, "health": health}), err=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        daemon.run(stop, ready)  # main thread: signals interrupt the select loop directly
    except OSError as exc:
        raise click.ClickException(f"{service}: cannot open its sockets: {exc}") from exc


@vnf_cli.group("trafficgen")
def trafficgen() -> None:
    """Generate profile traffic (probes), receive it, or replay the feature reports it would produce."""


@trafficgen.command("profiles")
def profiles_cmd() -> None:
    """List the traffic profiles."""
    for name in PROFILES:
        click.echo(name)


@trafficgen.command("send")
@click.option("--profile", type=click.Choice(list(PROFILES)), required=True)
@click.option("--to", "dest", required=True, help="server IPV4:PORT (loopback or inside a test netns)")
@click.option("--seed", type=int, default=0)
@click.option("--duration", type=click.FloatRange(0.001, MAX_DURATION_S), default=5.0, help="seconds")
@click.option("--max-packets", type=click.IntRange(1, 1_000_000), default=10_000)
@click.option("--stream-id", type=click.IntRange(0, 0xFFFFFFFF), default=1)
@click.option("--downstream/--upstream", default=True, help="which direction of the profile to send")
def send_cmd(profile: str, dest: str, seed: int, duration: float, max_packets: int, stream_id: int,
             downstream: bool) -> None:
    """Send one direction of a generated session as UDP probes, paced in real time."""
    session = generate(profile, seed, duration, max_packets)
    stats = send_session(session, _endpoint(dest), stream_id, upstream=not downstream, deadline_s=duration + 1)
    click.echo(json.dumps(stats))


@trafficgen.command("receive")
@click.option("--listen", default=f"127.0.0.1:{PROBE_PORT}", show_default=True)
@click.option("--duration", type=click.FloatRange(0.01, MAX_DURATION_S), default=5.0)
@click.option("--count", type=click.IntRange(1, 10_000_000), default=1_000_000)
def receive_cmd(listen: str, duration: float, count: int) -> None:
    """Receive probes; print loss, reordering and one-way delay per stream as JSON."""
    rx = ProbeReceiver(_endpoint(listen))
    try:
        rx.run(duration, count)
    finally:
        rx.close()
    click.echo(json.dumps(rx.summary()))


@trafficgen.command("reports")
@click.option("--profile", "profiles", multiple=True, type=click.Choice(list(PROFILES)), required=True,
              help="one session per occurrence, interleaved in time")
@click.option("--to", "dest", default=f"127.0.0.1:{FEATURE_REPORT_PORT}", show_default=True)
@click.option("--seed", type=int, default=0)
@click.option("--duration", type=click.FloatRange(0.1, 600.0), default=10.0, help="session length, seconds")
@click.option("--max-packets", type=click.IntRange(1, 1_000_000), default=6000)
@click.option("--max-reports", type=click.IntRange(1, 1_000_000), default=100_000, help="per session")
@click.option("--rate", type=click.FloatRange(1, 100_000), default=2000.0, help="reports per second")
@click.option("--report-every", type=click.IntRange(1, 65535), default=16)
@click.option("--client-offset", type=click.IntRange(0, 60_000), default=0,
              help="numbering of the client endpoints 10.77.x.y:1024+i (keeps runs apart)")
def reports_cmd(profiles: tuple[str, ...], dest: str, seed: int, duration: float, max_packets: int,
                max_reports: int, rate: float, report_every: int, client_offset: int) -> None:
    """Replay generated sessions through the P4 flow-features model and send its feature reports."""
    placed = []
    for n, profile in enumerate(profiles):
        i = n + client_offset
        session = generate(profile, seed + i, duration, max_packets)
        placed.append((session, Placement(ip_to_int(f"10.77.{i // 250}.{i % 250 + 2}"), 1024 + i,
                                          ip_to_int("10.78.0.1"), 443)))
    table = FlowFeatureTable(report_every=report_every)
    sent: dict[str, _Sent] = {}
    target = _endpoint(dest)
    gap = 1.0 / rate
    deadline = time.monotonic() + MAX_DURATION_S
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        next_send = time.monotonic()
        for report, session in session_reports(placed, table):
            entry = sent.setdefault(str(report.key), {"profile": session.profile, "reports": 0})
            if entry["reports"] >= max_reports:
                continue
            now = time.monotonic()
            if now > deadline:
                break
            if next_send > now:
                time.sleep(next_send - now)
            next_send = max(next_send + gap, now)
            sock.sendto(report.pack(), target)
            entry["reports"] += 1
    click.echo(json.dumps(sent))


@vnf_cli.command("sink")
@click.option("--listen", default="127.0.0.1:47002", show_default=True)
@click.option("--duration", type=click.FloatRange(0.01, MAX_DURATION_S), default=10.0, help="max seconds")
@click.option("--idle", type=click.FloatRange(0.01, MAX_DURATION_S), default=None,
              help="stop after this many seconds without a datagram (after the first one)")
@click.option("--ready-file", type=click.Path(path_type=Path), default=None, help="touched once listening")
def sink_cmd(listen: str, duration: float, idle: float | None, ready_file: Path | None) -> None:
    """Capture decision records / window labels; print one JSON line each (bad datagrams: counted)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(_endpoint(listen))
    if ready_file:
        ready_file.touch()
    end = time.monotonic() + duration
    last: float | None = None
    bad = 0
    while (now := time.monotonic()) < end and not (idle and last and now - last > idle):
        sock.settimeout(min(0.2, max(0.001, end - now)))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        last = time.monotonic()
        try:
            kind = peek_type(data)
            rec = DecisionRecord.unpack(data) if kind == RecordType.DECISION else WindowLabel.unpack(data)
        except RecordError as exc:
            bad += 1
            click.echo(json.dumps({"error": str(exc)}))
            continue
        click.echo(json.dumps({
            "type": kind.name.lower(), "key": str(rec.key), "class_id": rec.class_id, "seq": rec.seq,
            "confidence": rec.confidence, "ttl_s": rec.ttl_s, "src": int_to_ip(rec.key.ip_a),
        }))
        sys.stdout.flush()
    sock.close()
    click.echo(json.dumps({"done": True, "bad": bad}))


if __name__ == "__main__":
    vnf_cli()
