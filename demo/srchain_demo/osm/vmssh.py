"""The SSH server of one stand-in VM (NOT OpenSSH): `python -m srchain_demo.osm.vmssh`, started by `vms.Vm` inside
the VM's network namespace and private mount namespace, on a listening socket it inherits (the VM's management
address, created in the host's network namespace where the charms run).

It presents the host key the VM's cloud-init installed (the one `srchain osm ns-create` generated and pinned in
the charm's `ssh-host-key`), accepts public-key logins of `--user` whose key is in `--authorized` (read at every
login: LCM puts the unit's key there after instantiation), and runs each exec request with bash inside the VM,
its `bin/` (sudo and systemctl stand-ins, python3) first on PATH. No shell, no port forwarding, no passwords."""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from srchain.remote import fingerprint

EXEC_LIMIT_S = 120.0  # a command still running then is killed (exit 124)


def stream_exec(channel: paramiko.Channel, argv: list[str], cwd: Path, env: dict[str, str], limit_s: float) -> int:
    """Run `argv` for an exec request as OpenSSH's sshd does: the channel's data streams to its stdin as it arrives
    (EOF when the client shuts its side) and its stdout/stderr stream back as they are written, so a client can hold
    a conversation with it (srchain.remote.HttpSession); then its exit status, and the channel closed. Returns the
    exit code (124 when killed after `limit_s`)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                         env=env)
    assert p.stdin is not None and p.stdout is not None and p.stderr is not None
    stdin, stdout, stderr = p.stdin, p.stdout, p.stderr
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        p.kill()

    def feed() -> None:
        try:
            while chunk := channel.recv(1 << 16):
                stdin.write(chunk)
                stdin.flush()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def errors() -> None:
        for chunk in iter(lambda: os.read(stderr.fileno(), 1 << 16), b""):
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                channel.sendall_stderr(chunk)

    watchdog = threading.Timer(limit_s, kill)
    watchdog.start()
    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=errors, daemon=True)]
    for t in threads:
        t.start()
    try:
        for chunk in iter(lambda: os.read(stdout.fileno(), 1 << 16), b""):
            channel.sendall(chunk)
    except (OSError, EOFError, paramiko.SSHException):
        p.kill()  # the client hung up: nobody left to answer
    code = p.wait()
    watchdog.cancel()
    threads[1].join(timeout=5)
    if killed.is_set():
        code = 124
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):  # the client may be gone already
        channel.send_exit_status(code)
        channel.close()
    return code


def _authorized(path: Path) -> list[paramiko.PKey]:
    keys = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            try:
                keys.append(paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1])))
            except (ValueError, paramiko.SSHException):
                continue
    return keys


class _Server(paramiko.ServerInterface):
    def __init__(self, vm: VmServer) -> None:
        self.vm = vm

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == self.vm.user and any(key == k for k in _authorized(self.vm.authorized))
        if ok:  # which key logged in (paramiko asks twice per login: the query, then the signed request)
            self.vm.log.write(f"auth {username} {fingerprint(key)}\n")
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self.vm.execute, args=(channel, command.decode()), daemon=True).start()
        return True


class VmServer:
    def __init__(self, listener: socket.socket, root: Path, host_key: paramiko.PKey, authorized: Path,
                 user: str) -> None:
        self.listener, self.root, self.host_key, self.authorized, self.user = listener, root, host_key, authorized, user
        self.log = (root / "ssh.log").open("a", buffering=1)

    def execute(self, channel: paramiko.Channel, command: str) -> None:
        started = time.monotonic()
        self.log.write(f"exec {command[:200]!r}\n")
        env = {**os.environ, "PATH": f"{self.root / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.root)}
        env.pop("PYTHONPATH", None)
        code = stream_exec(channel, ["bash", "-c", command], self.root, env, EXEC_LIMIT_S)
        self.log.write(f"done {code} in {time.monotonic() - started:.3f} s at {time.time():.3f}\n")

    def serve(self) -> None:
        while True:
            conn, _ = self.listener.accept()
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            try:
                t.start_server(server=_Server(self))
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.log.write(f"refused a connection: {type(exc).__name__}: {exc}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fd", type=int, required=True, help="the inherited listening socket")
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--host-key", type=Path, required=True, help="the VM's private host key (OpenSSH PEM)")
    ap.add_argument("--authorized", type=Path, required=True)
    ap.add_argument("--user", default="srchain")
    a = ap.parse_args()
    listener = socket.socket(fileno=a.fd)
    key = paramiko.Ed25519Key.from_private_key_file(str(a.host_key))
    print("ready", flush=True)
    VmServer(listener, a.root, key, a.authorized, a.user).serve()


if __name__ == "__main__":
    main()
