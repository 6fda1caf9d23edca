"""`srchain-proxy` / `srchain proxy`: run the daemon or check a config file."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from .config import load_config


@click.group("proxy", help="SR-MPLS proxy for SR-unaware VNFs (static and per-flow dynamic).")
def proxy_cli() -> None:
    pass


@proxy_cli.command("check", help="Validate a config file (and its persisted state) without starting.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True))
def check(config_path: str) -> None:
    try:
        cfg = load_config(config_path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"ok: {len(cfg.sids)} SIDs, {len(cfg.attachments)} attachments, SR side {cfg.sr_iface}")


@proxy_cli.command("run", help="Run the proxy: data path, neighbour resolver and control API.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def run(config_path: str, log_level: str) -> None:
    from .control import make_server, read_token
    from .daemon import ProxyDaemon

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
        server = make_server(daemon, cfg.listen, token)
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
        server.serve_forever(poll_interval=0.2)
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
