"""The charms' SSH transport (srchain.remote.SshTransport) against a server that drops logins right after the
key exchange, as an sshd shedding concurrent logins (MaxStartups) or a busy VM does: a dropped handshake is
tried again, up to CONNECT_ATTEMPTS; a server that keeps dropping fails with the reason and the attempts, and a
wrong host key is never retried."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from osm_sshd import SshLab

from srchain import remote
from srchain.charms import sshkeys


@pytest.fixture
def lab(tmp_path: Path):
    lab = SshLab(tmp_path / "vm").start()
    yield lab
    lab.stop()


def _transport(lab: SshLab, host_key: str | None = None) -> remote.SshTransport:
    private, public = sshkeys.generate("unit")
    lab.authorize(public)
    return remote.SshTransport("127.0.0.1", lab.user, host_key or lab.host_key_line(), private, port=lab.port,
                               sudo=False, timeout=5)


def test_a_login_dropped_after_the_key_exchange_is_tried_again(lab: SshLab, monkeypatch) -> None:
    monkeypatch.setattr(remote, "CONNECT_RETRY_S", 0.01)
    lab.drop_first = remote.CONNECT_ATTEMPTS - 1
    t = _transport(lab)
    try:
        assert t.run("echo hello", privileged=False).out.strip() == "hello"
    finally:
        t.close()
    assert lab.drop_first == 0 and lab.commands == ["echo hello"]


def test_a_server_that_keeps_dropping_fails_with_the_reason_and_runs_nothing(lab: SshLab, monkeypatch) -> None:
    monkeypatch.setattr(remote, "CONNECT_RETRY_S", 0.01)
    lab.drop_first = remote.CONNECT_ATTEMPTS
    t = _transport(lab)
    with pytest.raises(remote.RemoteError, match=rf"ssh srchain@127.0.0.1:{lab.port}: .*"
                                                 rf"{remote.CONNECT_ATTEMPTS} attempts\); nothing was done"):
        t.run("echo hello", privileged=False)
    assert lab.commands == []


def test_a_wrong_host_key_is_refused_at_once(lab: SshLab) -> None:
    other = paramiko.ECDSAKey.generate()
    lab.drop_first = 0
    t = _transport(lab, host_key=lab.host_key_line(other))
    with pytest.raises(remote.RemoteError, match="host key mismatch"):
        t.run("echo hello", privileged=False)
    assert lab.commands == []
