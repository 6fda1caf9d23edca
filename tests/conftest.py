"""Suite-wide hooks: tests marked `netns` run only where namespaces can be built; elsewhere they are
skipped with the reason, except under CI, where they fail (tests/requires.py)."""

from __future__ import annotations

import pytest

from requires import in_ci, missing, netns_unavailable

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs pytest on small suites of its own


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = netns_unavailable()
    if reason is None or in_ci():
        return
    for item in items:
        if item.get_closest_marker("netns") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))  # reported at the test, like a skipif


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") is not None and (reason := netns_unavailable()) is not None:
        missing(reason)  # under CI: fails the test, before it builds anything
