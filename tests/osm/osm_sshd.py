"""A real SSH server for the charm tests: paramiko's server side on 127.0.0.1 in this process. Each exec
request runs the command with bash on this machine (the "VM" is this machine), inside a sandbox
directory whose bin/ holds a `sudo` stand-in that logs and runs its command (no sudo package here).
Every command that came over SSH is recorded, so tests can show an action really crossed SSH and what
it put in argv (never a secret)."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from srchain_demo.osm.vmssh import stream_exec

SUDO = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/../sudo.log"
[ "$1" = -n ] && shift
[ "$1" = -- ] && shift
exec "$@"
"""


class _Server(paramiko.ServerInterface):
    def __init__(self, lab: SshLab, conn: socket.socket, drop: bool) -> None:
        self.lab, self.conn, self.drop = lab, conn, drop

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if self.drop:  # hang up before answering: the client sees EOF during authentication, nothing runs
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            return paramiko.AUTH_FAILED
        ok = username == self.lab.user and any(key == k for k in [*self.lab.authorized, *self.lab.authorized_file()])
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.drop:
            return False
        self.lab.commands.append(command.decode())
        threading.Thread(target=self.lab.execute, args=(channel, command.decode()), daemon=True).start()
        return True


@dataclass
class SshLab:
    root: Path
    user: str = "srchain"
    host_key: paramiko.PKey = field(default_factory=paramiko.ECDSAKey.generate)
    authorized: list[paramiko.PKey] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    port: int = 0
    drop_first: int = 0  # connections closed right after the key exchange (a server shedding logins)
    _sock: socket.socket | None = None
    _transports: list[paramiko.Transport] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def authorize(self, public_line: str) -> None:
        """Add a `TYPE BASE64 [comment]` public key, as OSM injects get-ssh-public-key into the VM."""
        kind, b64 = public_line.split()[:2]
        self.authorized.append(paramiko.PKey.from_type_string(kind, base64.b64decode(b64)))

    @property
    def authorized_keys(self) -> Path:
        """The login user's ~/.ssh/authorized_keys (HOME is the lab's root), read at every login as OpenSSH does."""
        return self.root / ".ssh" / "authorized_keys"

    def authorized_file(self) -> list[paramiko.PKey]:
        keys = []
        text = self.authorized_keys.read_text() if self.authorized_keys.exists() else ""
        for line in text.splitlines():
            words = line.split()
            if len(words) >= 2 and not words[0].startswith("#"):
                with contextlib.suppress(ValueError, paramiko.SSHException):
                    keys.append(paramiko.PKey.from_type_string(words[0], base64.b64decode(words[1])))
        return keys

    def host_key_line(self, key: paramiko.PKey | None = None) -> str:
        k = key or self.host_key
        return f"{k.get_name()} {k.get_base64()}"

    @property
    def sudo_log(self) -> list[str]:
        p = self.root / "sudo.log"
        return p.read_text().splitlines() if p.exists() else []

    def execute(self, channel: paramiko.Channel, command: str) -> None:
        """As sshd: stdin and stdout stream both ways while the command runs (srchain_demo.osm.vmssh.stream_exec)."""
        env = {**os.environ, "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}", "HOME": str(self.root)}
        stream_exec(channel, ["bash", "-c", command], self.root, env, 60.0)

    def start(self) -> SshLab:
        (self.root / "bin").mkdir(parents=True, exist_ok=True)
        (self.root / "bin/sudo").write_text(SUDO)
        (self.root / "bin/sudo").chmod(0o755)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"sshlab-{self.port}")
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            # Decided here, enforced in the auth callback (the transport's own thread): closing after
            # start_server returns would race a fast client's login and exec.
            drop = self.drop_first > 0
            if drop:
                self.drop_first -= 1
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            self._transports.append(t)
            try:
                t.start_server(server=_Server(self, conn, drop))
            except (paramiko.SSHException, OSError, EOFError):
                continue  # the client refused our host key and hung up: what the refusal tests expect

    def stop(self) -> None:
        """Stop serving, then close. Sockets are shut down first (waking the threads blocked on them) and their
        threads joined before the sockets are closed: a thread still inside accept() or recv() on a closed socket
        would act on whatever socket reuses its file descriptor number next."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve with an error
        for t in self._transports:
            with contextlib.suppress(OSError):
                t.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        for t in list(self._transports):
            if t.ident is not None:  # started (a transport the serve loop made but never started has no thread)
                t.join(5)
            t.close()
        self._sock.close()
