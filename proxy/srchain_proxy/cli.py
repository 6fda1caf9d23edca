"""`srchain-proxy` / `srchain proxy`: run the daemon or check a config file."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

import click

from .config import load_config


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version: the release and the SR loop `fast_path: auto` runs on this machine (compiled or Python, why)."""
    if not value or ctx.resilient_parsing:
        return
    from . import compiled

    try:
        release = version("srchain")
    except PackageNotFoundError:
        release = "unknown (not installed)"
    click.echo(f"srchain-proxy {release}")
    click.echo(f"fast path: {compiled.describe()}")
    ctx.exit()


@click.group("proxy", help="SR-MPLS proxy for SR-unaware VNFs (static and per-flow dynamic).")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the SR loop in use (compiled fast path or Python, and why), then exit.")
def proxy_cli() -> None:
    pass


@proxy_cli.command("check", help="Validate a config file (and its persisted state) without starting.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True))
def check(config_path: str) -> None:
    from .datapath import choose_variant

    try:
        cfg = load_config(config_path)
        loop, _why = choose_variant(cfg.fast_path, cfg.io)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"ok: {len(cfg.sids)} SIDs, {len(cfg.attachments)} attachments, SR side {cfg.sr_iface}, "
               f"SR loop {loop}")


@proxy_cli.command("run", help="Run the proxy: data path, neighbour resolver and control API.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def run(config_path: str, log_level: str) -> None:
    from .control import make_server, read_token
    from .daemon import ProxyDaemon
    from .httpserver import Limits

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("srchain_proxy")
    try:
        cfg = load_config(config_path)
        token = read_token(cfg.token_file)
        daemon = ProxyDaemon(cfg, config_path, log_level)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        server = make_server(daemon, cfg.listen, token, Limits(timeout_s=cfg.api_timeout_s))
    except (OSError, ValueError) as exc:
        daemon.shutdown()
        raise click.ClickException(f"listen: cannot serve on {cfg.listen}: {exc}") from exc
    stopping = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("signal %d: stopping", signum)
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        daemon.start()
    except ValueError as exc:
        server.server_close()
        daemon.shutdown()
        raise click.ClickException(str(exc)) from exc
    log.info("proxy up: SR side %s, %d SIDs, %d attachments, control on %s, SR loop %s",
             cfg.sr_iface, len(daemon.sids), len(daemon.atts), cfg.listen, daemon.datapath.variant)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        daemon.shutdown()
        log.info("proxy stopped")


@proxy_cli.command("worker", hidden=True, help="A data-path worker started by the daemon (workers: N).")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--index", type=click.IntRange(1, 15), required=True)
@click.option("--fanout-base", type=click.IntRange(0, 65535), required=True)
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def worker(config_path: str, index: int, fanout_base: int, log_level: str) -> None:
    from .workers import worker_main

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {index}]: %(message)s")
    try:
        sys.exit(worker_main(config_path, index, fanout_base))
    except ValueError as exc:
        raise click.ClickException(f"worker {index}: {exc}") from exc
