"""tests/conftest.py and tests/requires.py: a test that needs network namespaces skips locally where
they cannot be built, and fails under CI instead of skipping (each case runs a small suite in-process)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

SUITE = """
import pytest
from requires import missing

@pytest.mark.netns
def test_in_a_namespace():
    pass

def test_plain():
    pass

def test_needs_a_compiler():
    missing("no C compiler here")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    netns: needs network namespaces\n")
    pytester.makepyfile(test_suite=SUITE)
    return pytester


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_under_ci_a_netns_test_fails_when_not_root(suite, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = suite.runpytest_inprocess("-rA")
    result.assert_outcomes(passed=1, failed=1, errors=1)  # the netns test errors in set-up, before it runs
    result.stdout.fnmatch_lines([
        f"ERROR test_suite.py::test_in_a_namespace - Failed: needs root and the `ip` tool for network namespaces, "
        f"veth pairs and AF_PACKET sockets (running as uid 1000); CI={ci} runs every test, so it must not be skipped",
        f"FAILED test_suite.py::test_needs_a_compiler - Failed: no C compiler here; CI={ci} runs every test*",
    ])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_a_netns_test_skips_with_its_reason(suite, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = suite.runpytest_inprocess("-rA")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([
        "SKIPPED [[]1[]] test_suite.py:4: needs root and the `ip` tool for network namespaces, veth pairs and "
        "AF_PACKET sockets (running as uid 1000)",
        "SKIPPED [[]1[]] *requires.py:*: no C compiler here",
    ])


def test_as_root_with_ip_a_netns_test_runs_under_ci(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/sbin/{name}")
    result = suite.runpytest_inprocess("-rA", "-k", "not compiler")
    result.assert_outcomes(passed=2, deselected=1)


def test_without_the_ip_tool_a_netns_test_cannot_run(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = suite.runpytest_inprocess("-rA", "-k", "namespace")
    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(["ERROR test_suite.py::test_in_a_namespace - Failed: *(no `ip` on PATH); CI=true*"])
