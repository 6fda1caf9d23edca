"""Where srchain acts on a machine: the one it runs on (`LocalTransport`: a native charm, a test) or another
one over SSH (`SshTransport`: the proxy charms OSM runs in its Juju model reaching `ssh-hostname`, and the
controller's proxy driver reaching an SR proxy's control socket, `srchain.targets.proxy`).

Both offer the same four operations the charm logic needs: read a file, write a file atomically (temp
file + rename in the same directory), run a command, and make an HTTP request to a service that listens
on the VM's loopback or a unix socket (the proxy's control API, a VNF's health endpoint).

SSH rules: the VM's host key must be pinned (`ssh-host-key`; paramiko's RejectPolicy, never added
automatically); the private key comes from a Juju secret and is only held in memory; secrets (bearer
tokens) travel on the command's stdin, never in its argv, a result or a log line.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import io
import json
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import paramiko

from srchain.errors import SrchainError
from srchain.hostkeys import host_key_fields
from srchain.localhttp import request_json
from srchain.sshexec import ExecTimeout, exec_command


class RemoteError(SrchainError):
    """A remote operation that cannot be done; the message is for the operator as is (the charms raise the
    same class as `srchain.charms.ActionError`, which OSM shows as the action's failure)."""


class _TransientSsh(Exception):
    """The server closed the connection during the SSH handshake: worth another attempt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


CONNECT_ATTEMPTS = 3
CONNECT_RETRY_S = 0.5  # times the attempt number
MISSING = 44  # exit code of the remote read when the file does not exist

# Runs on the VM (python3 of the image, stdlib only). Its first stdin line is the session, JSON {address:
# "unix:/path" | "host:port", token? | token_file?, timeout}; every further line is one request {method, path,
# body?, timeout?}, answered by one stdout line {status, reason, body} (or {error}); it ends with stdin. The token is
# read once and never appears in argv (`ps` on the VM shows only this script). `SshTransport.http` sends one request;
# `HttpSession` keeps the helper for a driver's whole apply (one SSH exec and one Python start, not one a request).
HTTP_HELPER = r"""
import http.client, json, socket, sys
def say(d):
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()
s = json.loads(sys.stdin.readline())
a = s["address"]
class U(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(a[5:])
tok = s.get("token")
if s.get("token_file"):
    try:
        tok = open(s["token_file"]).read().strip()
    except OSError as e:
        say({"error": "cannot read token file " + s["token_file"] + ": " + str(e.strerror)})
        sys.exit(0)
for line in sys.stdin:
    r = json.loads(line)
    t = r.get("timeout", s["timeout"])
    if a.startswith("unix:"):
        c = U("localhost", timeout=t)
    else:
        h, p = a.rsplit(":", 1)
        c = http.client.HTTPConnection(h.strip("[]"), int(p), timeout=t)
    hd = {"Authorization": "Bearer " + tok} if tok else {}
    b = None
    if r.get("body") is not None:
        b = json.dumps(r["body"]).encode()
        hd["Content-Type"] = "application/json"
    try:
        c.request(r["method"], r["path"], body=b, headers=hd)
        resp = c.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as e:
        say({"error": "unreachable at " + a + ": " + str(e)})
        continue
    finally:
        c.close()
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {"error": raw[:200].decode(errors="replace")}
    say({"status": resp.status, "reason": resp.reason, "body": doc})
"""


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


class Transport(Protocol):
    @property
    def where(self) -> str: ...  # "local" or "ssh user@host:port", for messages

    def read_file(self, path: str) -> str | None: ...  # None: no such file
    def write_file(self, path: str, text: str, mode: int = 0o644) -> None: ...
    def run(self, command: str, stdin: bytes = b"", timeout: float = 60.0, privileged: bool = True) -> Done: ...
    def http(self, address: str, method: str, path: str, body: Any = None, token: str | None = None,
             token_file: str | None = None, timeout: float = 5.0) -> tuple[int, str, Any]: ...
    def close(self) -> None: ...


class LocalTransport:
    """The charm runs on the VM itself."""

    where = "local"

    def read_file(self, path: str) -> str | None:
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RemoteError(f"{path}: cannot read: {exc.strerror}") from None

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        tmp = f"{path}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise RemoteError(f"{path}: cannot write: {exc.strerror}") from None

    def run(self, command: str, stdin: bytes = b"", timeout: float = 60.0, privileged: bool = True) -> Done:
        try:
            p = subprocess.run(shlex.split(command), input=stdin, capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
            raise RemoteError(f"`{command}` failed: {exc}") from None
        return Done(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))

    def http(self, address: str, method: str, path: str, body: Any = None, token: str | None = None,
             token_file: str | None = None, timeout: float = 5.0) -> tuple[int, str, Any]:
        if token_file:
            token = (self.read_file(token_file) or "").strip()
        try:
            return request_json(address, method, path, body, token, timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"{method} {path}: unreachable at {address}: {exc}") from None

    def close(self) -> None:
        pass


def _load_private_key(text: str) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError, binascii.Error):
            continue
    raise RemoteError("ssh private key: not an unencrypted OpenSSH/PEM Ed25519, ECDSA or RSA key")


def parse_host_keys(text: str, source: str = "ssh-host-key") -> list[paramiko.PKey]:
    """`ssh-host-key`: one key a line, `TYPE BASE64 [comment]` (a .pub file) or a known_hosts line
    `HOSTS TYPE BASE64`; the host patterns are ignored (the key is pinned for ssh-hostname).
    `source` names the setting in messages (a charm option or an inventory field)."""
    try:
        fields = host_key_fields(text)
    except ValueError as exc:
        raise RemoteError(f"{source}: {exc}") from None
    keys = []
    for n, kind, b64 in fields:
        try:
            keys.append(paramiko.PKey.from_type_string(kind, base64.b64decode(b64)))
        except (paramiko.SSHException, ValueError, binascii.Error) as exc:
            raise RemoteError(f"{source}: line {n}: not a valid {kind} key ({exc})") from None
    if not keys:
        raise RemoteError(f"{source}: no key in it")
    return keys


def fingerprint(key: paramiko.PKey) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


@dataclass
class SshTransport:
    """The VM over SSH. `sudo`: privileged steps (writing a config, restarting a service, reading a
    root-only token file) run as `sudo -n --` (the VM's login user has password-less sudo, cloud-init)."""

    host: str
    user: str
    host_key: str  # the pinned key(s), `ssh-host-key`
    private_key: str = field(repr=False)
    port: int = 22
    sudo: bool = True
    timeout: float = 10.0
    # How messages name the pinned key and the login key: the charm's options by default; the controller's
    # proxy driver names the inventory fields instead.
    host_key_source: str = "ssh-host-key"
    key_refused_hint: str = "is its public key, get-ssh-public-key, in the VM's authorized_keys?"
    _client: paramiko.SSHClient | None = field(default=None, init=False, repr=False)

    @property
    def where(self) -> str:
        return f"ssh {self.user}@{self.host}:{self.port}"

    def connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            return self._client
        if not self.host_key.strip():
            raise RemoteError(f"{self.where}: {self.host_key_source} not set: pin the VM's host key (its "
                              "/etc/ssh/ssh_host_ed25519_key.pub, checked against the fingerprint cloud-init "
                              "prints on the VM console); nothing was done")
        pinned = parse_host_keys(self.host_key, self.host_key_source)
        pkey = _load_private_key(self.private_key)
        # A connection the server drops during the handshake (sshd's MaxStartups under concurrent logins, a
        # busy VM) is tried again; a host key mismatch, a refused key or an unreachable address is not.
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                client = self._connect_once(pinned, pkey)
            except _TransientSsh as exc:
                if attempt == CONNECT_ATTEMPTS:
                    raise RemoteError(f"{self.where}: {exc.reason} (host key checked against {self.host_key_source}: "
                                      f"{', '.join(fingerprint(k) for k in pinned)}; {attempt} attempts); nothing "
                                      "was done") from None
                time.sleep(CONNECT_RETRY_S * attempt)
                continue
            self._client = client
            return client
        raise AssertionError("unreachable")

    def _connect_once(self, pinned: list[paramiko.PKey], pkey: paramiko.PKey) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        for key in pinned:
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.host, self.port, self.user, pkey=pkey, look_for_keys=False, allow_agent=False,
                           timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise RemoteError(f"{self.where}: host key mismatch: the VM presented {fingerprint(exc.key)}, "
                              f"{self.host_key_source} pins {', '.join(fingerprint(k) for k in pinned)}; refused, "
                              "nothing was done") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            if "saw EOF" in str(exc):  # paramiko's text when the connection closed during authentication
                raise _TransientSsh(str(exc)) from None
            raise RemoteError(f"{self.where}: the VM refused this unit's SSH key ({self.key_refused_hint}); "
                              "nothing was done") from None
        except (paramiko.SSHException, EOFError, ConnectionResetError) as exc:
            client.close()
            raise _TransientSsh(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            client.close()
            raise RemoteError(f"{self.where}: cannot connect: {exc}; nothing was done") from None
        return client

    def _priv(self, argv: list[str]) -> str:
        return shlex.join(["sudo", "-n", "--", *argv] if self.sudo else argv)

    def run(self, command: str, stdin: bytes = b"", timeout: float = 60.0, privileged: bool = True) -> Done:
        """Run `command` (split like a shell would, then quoted again: no shell expansion on the VM)."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise RemoteError(f"`{command}`: {exc}") from None
        return self._exec(self._priv(argv) if privileged else shlex.join(argv), stdin, timeout)

    def _exec(self, command: str, stdin: bytes, timeout: float) -> Done:
        transport = self.connect().get_transport()
        assert transport is not None
        try:
            code, out, err = exec_command(transport, command, stdin, timeout, open_timeout=self.timeout)
        except ExecTimeout:
            raise RemoteError(f"{self.where}: command did not finish within {timeout:.0f}s") from None
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.where}: {exc}") from None
        return Done(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def read_file(self, path: str) -> str | None:
        script = f'if [ -e "$1" ]; then exec cat -- "$1"; else exit {MISSING}; fi'
        done = self._exec(self._priv(["sh", "-c", script, "read", path]), b"", self.timeout)
        if done.code == MISSING:
            return None
        if done.code != 0:
            raise RemoteError(f"{self.where}: {path}: cannot read: {done.err.strip()[-300:]}")
        return done.out

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Temp file in the same directory, fsync, then rename: readers see the old or the new file."""
        script = ('umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && sync "$1.tmp" && mv -f -- "$1.tmp" "$1"'
                  ' || { rm -f -- "$1.tmp"; exit 1; }')
        done = self._exec(self._priv(["sh", "-c", script, "write", path, f"{mode:o}"]), text.encode(), self.timeout)
        if done.code != 0:
            raise RemoteError(f"{self.where}: {path}: cannot write: {done.err.strip()[-300:]}")

    def _helper(self, token_file: str | None) -> str:
        argv = ["python3", "-c", HTTP_HELPER]
        return self._priv(argv) if token_file else shlex.join(argv)  # a root-only token file needs sudo

    def http(self, address: str, method: str, path: str, body: Any = None, token: str | None = None,
             token_file: str | None = None, timeout: float = 5.0) -> tuple[int, str, Any]:
        """One request: the helper run for it alone (`HttpSession` for many)."""
        lines = (json.dumps(_session(address, token, token_file, timeout)) + "\n"
                 + json.dumps(_request(method, path, body, timeout)) + "\n")
        done = self._exec(self._helper(token_file), lines.encode(), timeout + self.timeout)
        return _answer(self.where, method, path, done.out.strip(), done.code, done.err)

    def http_session(self, address: str, token: str | None = None, token_file: str | None = None,
                     timeout: float = 5.0) -> HttpSession:
        return HttpSession(self, address, token, token_file, timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _session(address: str, token: str | None, token_file: str | None, timeout: float) -> dict[str, Any]:
    return {"address": address, "token": token, "token_file": token_file, "timeout": timeout}


def _request(method: str, path: str, body: Any, timeout: float) -> dict[str, Any]:
    return {"method": method, "path": path, "body": body, "timeout": timeout}


def _answer(where: str, method: str, path: str, line: str, code: int | None, err: str) -> tuple[int, str, Any]:
    """The helper's answer line → (status, reason, body); RemoteError for its error or a helper that failed."""
    try:
        doc = json.loads(line)
    except ValueError:
        status = "ended" if code is None else f"failed (exit {code})"
        raise RemoteError(f"{where}: {method} {path}: the helper {status}: {err.strip()[-300:]}") from None
    if "error" in doc and "status" not in doc:
        raise RemoteError(f"{method} {path} on {where}: {doc['error']}")
    return int(doc["status"]), str(doc.get("reason", "")), doc.get("body")


class HttpSession:
    """Many requests through one helper on the VM (`HTTP_HELPER`, one SSH exec channel kept open): what a driver
    uses for an apply, so a request costs a line each way instead of an exec and a Python start there. A request
    that fails on the way (channel closed, no answer in time) closes the session; the next one opens a new one."""

    def __init__(self, ssh: SshTransport, address: str, token: str | None, token_file: str | None,
                 timeout: float) -> None:
        self.ssh, self.address, self.timeout = ssh, address, timeout
        self._token, self._token_file = token, token_file
        self._chan: paramiko.Channel | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()

    def _open(self) -> paramiko.Channel:
        transport = self.ssh.connect().get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=self.ssh.timeout)
        chan.exec_command(self.ssh._helper(self._token_file))
        chan.sendall((json.dumps(_session(self.address, self._token, self._token_file, self.timeout)) + "\n").encode())
        self._buf = bytearray()
        return chan

    def call(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> tuple[int, str, Any]:
        wait = (self.timeout if timeout is None else timeout) + self.ssh.timeout
        with self._lock:
            try:
                if self._chan is None or self._chan.closed:
                    self._chan = self._open()
                chan = self._chan
                chan.sendall((json.dumps(_request(method, path, body, wait - self.ssh.timeout)) + "\n").encode())
                line = self._readline(chan, wait)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._drop()
                raise RemoteError(f"{self.ssh.where}: {method} {path}: {exc or type(exc).__name__}") from None
            if line is None:  # the helper ended (a token file it could not read answers first, then ends)
                chan.status_event.wait(self.ssh.timeout)  # its stderr comes before its exit status
                err = bytearray()
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                code = chan.recv_exit_status() if chan.exit_status_ready() else None
                self._drop()
                return _answer(self.ssh.where, method, path, "", code, err.decode(errors="replace"))
            try:
                return _answer(self.ssh.where, method, path, line, None, "")
            except RemoteError:
                if chan.exit_status_ready():
                    self._drop()
                raise

    def _readline(self, chan: paramiko.Channel, wait: float) -> str | None:
        """The next answer line; None when the helper ended first; RemoteError after `wait` s without one."""
        deadline = time.monotonic() + wait
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._drop()
                raise RemoteError(f"{self.ssh.where}: no answer within {wait:.0f}s")
            chan.settimeout(left)
            try:
                data = chan.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                return None
            self._buf += data
        line, _, rest = self._buf.partition(b"\n")
        self._buf = bytearray(rest)
        return line.decode(errors="replace")

    def _drop(self) -> None:
        if self._chan is not None:
            self._chan.close()
            self._chan = None

    def close(self) -> None:
        with self._lock:
            if self._chan is not None and not self._chan.closed:
                with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
                    self._chan.shutdown_write()
            self._drop()

