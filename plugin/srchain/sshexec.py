"""One command over an open paramiko transport: stdin in, stdout/stderr/exit code out, bounded in time."""

from __future__ import annotations

import time

import paramiko

from srchain.errors import SrchainError


class ExecTimeout(SrchainError):
    pass


def exec_command(transport: paramiko.Transport, command: str, stdin: bytes, timeout: float,
                 open_timeout: float = 30.0, poll: float = 0.005) -> tuple[int, bytes, bytes]:
    """Run `command` on the remote side; raises ExecTimeout after `timeout` s, paramiko/OS errors as they are."""
    chan = transport.open_session(timeout=open_timeout)
    chan.settimeout(timeout)
    chan.exec_command(command)
    if stdin:
        chan.sendall(stdin)
    chan.shutdown_write()
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while not (chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready()):
        if chan.recv_ready():
            out += chan.recv(1 << 16)
        elif chan.recv_stderr_ready():
            err += chan.recv_stderr(1 << 16)
        elif time.monotonic() > deadline:
            chan.close()
            raise ExecTimeout(f"did not finish within {timeout:.0f}s")
        else:
            time.sleep(poll)
    code = chan.recv_exit_status()
    chan.close()
    return code, bytes(out), bytes(err)
