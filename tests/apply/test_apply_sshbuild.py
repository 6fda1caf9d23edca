"""P4 build over SSH against a real SSH server (paramiko, on 127.0.0.1 in this process) whose exec
requests run locally; the emulator's compiler stands in for bf-p4c. Host keys are verified."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest
from apply_helpers import EMU_P4, REPO, Switch

from srchain.bfrt.client import BfrtClient
from srchain.targets.loader import Bundle, ensure_program
from srchain.targets.sshbuild import BuildError, SshBuild

COMPILE = f"{REPO}/.venv/bin/srchain p4 compile {{program}} -o {{out}}"


class _Server(paramiko.ServerInterface):
    def __init__(self, client_key: paramiko.PKey) -> None:
        self.client_key = client_key

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL if username == "builder" and key == self.client_key else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "publickey"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=_exec, args=(channel, command.decode()), daemon=True).start()
        return True


def _exec(channel: paramiko.Channel, command: str) -> None:
    proc = subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    data = bytearray()
    while chunk := channel.recv(1 << 16):
        data += chunk
    out, err = proc.communicate(bytes(data), timeout=120)
    channel.sendall(out)
    channel.sendall_stderr(err)
    channel.send_exit_status(proc.returncode)
    channel.close()


@pytest.fixture
def sshd(tmp_path):
    host_key = paramiko.ECDSAKey.generate()
    client_key = paramiko.ECDSAKey.generate()
    client_key.write_private_key_file(str(tmp_path / "id_builder"))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            transports.append(t)
            try:
                t.start_server(server=_Server(client_key))
            except (paramiko.SSHException, OSError, EOFError):
                continue  # the client refused our host key and hung up: what the refusal test expects

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield {"port": port, "host_key": host_key, "key": tmp_path / "id_builder", "tmp": tmp_path}
    finally:
        # shut down, join, then close: no thread may outlive its socket's file descriptor number
        for s in (lsock, *(t.sock for t in transports)):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        server.join(5)
        for t in transports:
            if t.ident is not None:
                t.join(5)
            t.close()
        lsock.close()


def _known_hosts(path: Path, port: int, key: paramiko.PKey) -> Path:
    path.write_text(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
    return path


def test_build_over_ssh_fetches_a_bundle_the_switch_loads(sshd):
    kh = _known_hosts(sshd["tmp"] / "known_hosts", sshd["port"], sshd["host_key"])
    b = SshBuild("127.0.0.1", "builder", kh, sshd["key"], sshd["port"], command=COMPILE,
                 remote_root=str(sshd["tmp"] / "remote"))
    out = b.build(EMU_P4, "exact_forward.p4", sshd["tmp"] / "fetched")
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} >= {
        "bf-rt.json", "pipe/context.json", "pipe/tofino.bin"}
    assert not (sshd["tmp"] / "remote").exists() or not any((sshd["tmp"] / "remote").iterdir())  # cleaned up
    sw = Switch()
    try:
        c = BfrtClient.connect(sw.address, timeout=5)
        assert ensure_program(c, "exact_forward", Bundle("exact_forward", out)) == "pushed"
        c.close()
    finally:
        sw.stop()


def test_unknown_or_changed_host_key_is_refused(sshd):
    empty = sshd["tmp"] / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(BuildError, match=r"not found in known_hosts.*host key checked against .*empty_known_hosts"):
        SshBuild("127.0.0.1", "builder", empty, sshd["key"], sshd["port"], command=COMPILE).build(
            EMU_P4, "exact_forward.p4", sshd["tmp"] / "x")
    other = _known_hosts(sshd["tmp"] / "kh_other", sshd["port"], paramiko.ECDSAKey.generate())
    with pytest.raises(BuildError, match=r"ssh builder@127\.0\.0\.1:\d+: .*host key"):
        SshBuild("127.0.0.1", "builder", other, sshd["key"], sshd["port"], command=COMPILE).build(
            EMU_P4, "exact_forward.p4", sshd["tmp"] / "y")
    assert not (sshd["tmp"] / "x").exists() and not (sshd["tmp"] / "y").exists()


def test_compiler_error_is_reported_with_its_output(sshd, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.p4").write_text("#include <core.p4>\ncontrol {\n")
    kh = _known_hosts(sshd["tmp"] / "known_hosts", sshd["port"], sshd["host_key"])
    b = SshBuild("127.0.0.1", "builder", kh, sshd["key"], sshd["port"], command=COMPILE,
                 remote_root=str(sshd["tmp"] / "remote"))
    with pytest.raises(BuildError, match=r"exited 1: .*bad\.p4:2"):
        b.build(src, "bad.p4", tmp_path / "out")
    assert not (tmp_path / "out").exists()
