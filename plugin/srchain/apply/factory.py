"""Drivers for the targets an inventory names (switch: BF Runtime session; proxy: control API).

Switch entries go through the SDE's own `bfrt_grpc.client` when it is importable (`bfrt_backend="auto"`,
the default; `SRCHAIN_BFRT_BACKEND` overrides it), else through the project's client. `"sde"` forces the
SDE vocabulary (over the project's facade when the SDE is absent: how the tests run it), `"native"` the
project's client. The SDE client has no TLS or token options: a switch configured with either always
uses the project's client.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from srchain.apply.sites import site_timings, target_sites
from srchain.bfrt.client import BfrtClient, BfrtError, TlsFiles
from srchain.bfrt.sde import is_sde, load_gc
from srchain.errors import SrchainError
from srchain.model.inventory import Inventory
from srchain.targets.base import Driver, TargetError
from srchain.targets.linuxnode import LinuxNodeDriver
from srchain.targets.loader import Bundle
from srchain.targets.proxy import proxy_driver
from srchain.targets.sde_switch import SdeSwitchDriver
from srchain.targets.switch import SwitchDriver

BACKENDS = ("auto", "sde", "native")


def driver_factory(inv: Inventory, base_dir: str | Path, timeout: float = 10.0, attempts: int = 3,
                   client_id: int = 1, bfrt_backend: str | None = None) -> Callable[[str, str], Driver]:
    """`factory(kind, name)`; relative paths in the inventory are relative to `base_dir` (its folder). With
    sites, a target's timeout and retry spacing grow with its site's WAN distance (`srchain.apply.sites`)."""
    base = Path(base_dir)
    where, timings = target_sites(inv), site_timings(inv, timeout, attempts)

    def timing(kind: str, name: str) -> tuple[float, float]:
        """(RPC timeout, connect retry backoff) for this target."""
        site = where.get((kind, name))
        return (timings[site].timeout_s, timings[site].retry_backoff_s) if site is not None else (timeout, 0.2)
    backend = bfrt_backend or os.environ.get("SRCHAIN_BFRT_BACKEND", "auto")
    if backend not in BACKENDS:
        raise SrchainError(f"bfrt backend (SRCHAIN_BFRT_BACKEND) must be one of {', '.join(BACKENDS)}, not {backend!r}")

    def path(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else base / p

    def make(kind: str, name: str) -> Driver:
        if kind == "switch":
            sw = inv.switch(name)
            if sw is None:
                raise TargetError(f"switch {name}", "not in the inventory")
            try:
                token = path(sw.token_file).read_text().strip() if sw.token_file else None
            except OSError as exc:
                raise TargetError(f"switch {name}", f"token_file {sw.token_file}: {exc.strerror}") from None
            tls = None
            if sw.tls is not None:
                tls = TlsFiles(path(sw.tls.ca), path(sw.tls.cert) if sw.tls.cert else None,
                               path(sw.tls.key) if sw.tls.key else None, sw.tls.server_name)
            rpc_timeout, backoff = timing(kind, name)
            try:
                client = BfrtClient.connect(sw.grpc, attempts=attempts, backoff=backoff, client_id=client_id,
                                            device_id=sw.device_id, token=token, timeout=rpc_timeout, tls=tls)
            except BfrtError as exc:
                raise TargetError(f"switch {name}", str(exc), code=exc.code) from None
            bundle = Bundle(sw.program, path(sw.artifacts)) if sw.artifacts else None
            gc = load_gc(prefer_sde=True) if backend != "native" else None  # no import attempt when native
            if gc is not None and (backend == "sde" or (backend == "auto" and is_sde(gc) and token is None
                                                        and tls is None)):
                try:
                    iface = gc.ClientInterface(sw.grpc, client_id=client_id + 1, device_id=sw.device_id)
                except Exception as exc:  # the SDE's client raises its own exception types
                    client.close()
                    raise TargetError(f"switch {name}", f"bfrt_grpc: {exc}") from None
                return SdeSwitchDriver(name, client, sw.program, bundle, gc, iface)
            return SwitchDriver(name, client, sw.program, bundle)
        if kind == "node":
            node = inv.srv6_node(name)
            if node is None:
                raise TargetError(f"node {name}", "not in the inventory")
            return LinuxNodeDriver(name, node.netns, timing(kind, name)[0])
        px = inv.proxy(name)
        if px is None:
            raise TargetError(f"proxy {name}", "not in the inventory")
        return proxy_driver(name, px, base, timing(kind, name)[0])  # local control address, or over SSH (`ssh:`)

    return make
