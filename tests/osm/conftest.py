from __future__ import annotations

from collections.abc import Iterator

import pytest
from osm_sshd import SshLab

from srchain.osm.im import ImValidator


@pytest.fixture(scope="session")
def im() -> ImValidator:
    return ImValidator()  # default: ../shared/osm-im/yang


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """A real SSH server on 127.0.0.1 whose commands run on this machine (tests/osm/osm_sshd.py)."""
    lab = SshLab(tmp_path_factory.mktemp("vm")).start()
    try:
        yield lab
    finally:
        lab.stop()
