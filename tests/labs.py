"""Shared lab pieces, started and waited for in one place (importable from every test directory: pytest
`pythonpath`): an emulated switch on real gRPC, and the SR proxy daemon inside a network namespace."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from types import TracebackType

import grpc
import yaml

from proclib import stop
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc
from srchain_emu.bfrt_server import BfRuntimeServer
from waiting import WaitTimeout, wait_until

GRPC_OPTIONS = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
PROXY_START_S = 15.0  # a proxy opens its control socket well within this on a loaded 2-core machine


class GrpcSwitch:
    """The emulator's BF Runtime servicer served over real gRPC on 127.0.0.1 (an ephemeral port unless
    one is given); serving when the constructor returns. `restart()` gives a fresh, empty device on the
    same port. Usable as a context manager (stopped on exit)."""

    def __init__(self, port: int = 0, *, token: str | None = None, credentials: grpc.ServerCredentials | None = None,
                 interceptors: Sequence[grpc.ServerInterceptor] = ()) -> None:
        self.port = port
        self.token = token
        self.credentials = credentials
        self.interceptors = list(interceptors)
        self._start()

    def _start(self) -> None:
        self.servicer = BfRuntimeServer(0, token=self.token)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=self.interceptors,
                                  options=GRPC_OPTIONS)
        pb_grpc.add_BfRuntimeServicer_to_server(self.servicer, self.server)
        where = f"127.0.0.1:{self.port}"
        if self.credentials is not None:
            self.port = self.server.add_secure_port(where, self.credentials)
        else:
            self.port = self.server.add_insecure_port(where)
        assert self.port, f"gRPC could not bind {where}"
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait(5)

    def restart(self) -> None:
        self.stop()
        self._start()

    def __enter__(self) -> GrpcSwitch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))  # OSError until the daemon listens
    return True


def control_socket(config: Path) -> Path:
    """The unix socket a proxy config listens on (`listen: unix:PATH`)."""
    listen = yaml.safe_load(config.read_text())["listen"]
    assert isinstance(listen, str) and listen.startswith("unix:"), f"{config}: listen is not a unix socket: {listen}"
    return Path(listen.removeprefix("unix:"))


def start_proxy(ns: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m srchain_proxy run --config CONFIG` inside namespace ns, its output appended to log."""
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "srchain_proxy", "run",
                                 "--config", str(config)], stdout=out, stderr=out)


def wait_proxy_ready(proc: subprocess.Popen[bytes], config: Path, log: Path, timeout: float = PROXY_START_S,
                     ready: Callable[[], object] | None = None) -> None:
    """Until the proxy's control socket accepts connections and ready() (if given) is truthy; a proxy that
    exits or is not ready in time fails with the tail of its log."""
    sock = control_socket(config)

    def up() -> object:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited {proc.returncode}: {_tail(log)}")
        return _accepts(sock) and (ready is None or ready())

    try:
        wait_until(up, timeout, interval=0.05, what=f"proxy {config.name} ready", ignore=(OSError,))
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}\n{_tail(log)}") from None


@contextlib.contextmanager
def running_proxy(ns: str, config: Path, log: Path, timeout: float = PROXY_START_S,
                  ready: Callable[[], object] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A proxy daemon in namespace ns, ready (wait_proxy_ready) when yielded, stopped (SIGTERM) on exit."""
    proc = start_proxy(ns, config, log)
    try:
        wait_proxy_ready(proc, config, log, timeout, ready)
        yield proc
    finally:
        stop(proc)
