from __future__ import annotations

import pytest
from srchain.osm.im import ImValidator


@pytest.fixture(scope="session")
def im() -> ImValidator:
    return ImValidator()  # default: ../shared/osm-im/yang
