"""Which SR loop runs, and that it is never silent: the extension built at install time, `fast_path`
auto/compiled/python, `srchain-proxy --version`, the metric. A missing extension is simulated by making
its import fail (None in sys.modules), as on a machine where pip could not build it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pxlib import SR_MAC, SW_MAC
from pxring import memory_rx

import srchain_proxy
from srchain_proxy import compiled, datapath
from srchain_proxy.cli import proxy_cli
from srchain_proxy.engine import Engine
from srchain_proxy.metrics import make_registry, metrics_text

MISSING = (r"srchain_proxy\._fastsr is not installed \(.*srchain_proxy\._fastsr.*\); to build it: install a C "
           r"compiler and the Python headers \(Debian: apt-get install gcc python3-dev\) and reinstall srchain")


@pytest.fixture
def no_extension(monkeypatch):
    monkeypatch.setitem(sys.modules, compiled.MODULE, None)  # `import` now raises ImportError
    compiled.probe.cache_clear()
    yield
    compiled.probe.cache_clear()


@pytest.fixture
def config(tmp_path):
    """A config `run` gets through up to the data path: loopback as the SR side, a token file."""
    token = tmp_path / "token"
    token.write_text("t" * 32)
    token.chmod(0o600)

    def write(**extra) -> str:
        path = tmp_path / "proxy.yaml"
        path.write_text(yaml.safe_dump({"sr_iface": "lo", "sr_next_hop_mac": SW_MAC, "token_file": str(token),
                                        "listen": f"unix:{tmp_path}/px.sock", **extra}))
        return str(path)

    return write


def test_the_extension_is_built_in_place_by_the_install():
    module = compiled.load()
    assert module is not None, compiled.unavailable()
    assert Path(module.__file__).parent == Path(srchain_proxy.__file__).parent  # not a run-time build elsewhere
    assert module.SOURCE_SHA256 != "unknown"
    assert compiled.describe() == f"compiled (srchain_proxy._fastsr from {module.__file__})"
    assert datapath.choose_variant("auto") == ("compiled", f"srchain_proxy._fastsr from {module.__file__}")


def test_version_names_the_loop_in_use():
    result = CliRunner().invoke(proxy_cli, ["--version"])
    release, loop = result.output.splitlines()
    assert result.exit_code == 0 and release.startswith("srchain-proxy 0.")
    assert loop == f"fast path: compiled (srchain_proxy._fastsr from {compiled.load().__file__})"


def test_version_without_the_extension_says_python_and_why(no_extension):
    result = CliRunner().invoke(proxy_cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.splitlines()[1] == f"fast path: python ({compiled.unavailable()})"
    assert "is not installed (" in result.output and "apt-get install gcc python3-dev" in result.output


def test_auto_without_the_extension_runs_python_with_a_warning_naming_the_reason(no_extension, caplog):
    with caplog.at_level(logging.WARNING, logger="srchain_proxy"):
        loop, why = datapath.choose_variant("auto")
    assert loop == "python"
    assert why == compiled.unavailable()
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("fast_path: auto: running the pure-Python SR loop, several times slower: ")
    assert why in record.getMessage()


def test_compiled_without_the_extension_refuses_to_start_in_one_line(no_extension, config):
    message = rf"^fast_path: compiled, but {MISSING} .*; or set fast_path: auto$"
    with pytest.raises(ValueError, match=message) as info:
        # an interface that does not exist: the refusal comes before anything is opened
        datapath.DataPath(Engine(SR_MAC, SW_MAC), "nosuch0", "ring", "compiled")
    assert "\n" not in str(info.value)
    for command in ("run", "check"):
        result = CliRunner().invoke(proxy_cli, [command, "--config", config(fast_path="compiled")])
        assert result.exit_code == 1, command
        assert result.output.startswith("Error: fast_path: compiled, but srchain_proxy._fastsr is not installed")
        assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_compiled_with_the_extension_passes_check_and_names_the_loop(config):
    result = CliRunner().invoke(proxy_cli, ["check", "--config", config(fast_path="compiled")])
    assert result.exit_code == 0 and result.output.endswith("SR side lo, SR loop compiled\n")


def test_compiled_needs_the_receive_rings(config):
    with pytest.raises(ValueError, match=r"^fast_path: compiled needs io: ring .*; set io: ring, or fast_path: auto$"):
        datapath.choose_variant("compiled", "socket")
    assert datapath.choose_variant("auto", "socket") == ("python", "io: socket")


def test_python_forces_the_reference_loop_without_a_warning(caplog):
    assert compiled.load() is not None
    with caplog.at_level(logging.WARNING, logger="srchain_proxy"):
        assert datapath.choose_variant("python") == ("python", "fast_path: python")
    assert caplog.records == []
    # the reference loop is the ring's walk with the per-frame handler: every frame reaches it
    rx = memory_rx([bytes(60)] * 5, slots=64)
    seen = []
    drain = datapath.sr_drainer(Engine(SR_MAC, SW_MAC), rx, lambda buf, s, e: seen.append(e - s), "python")
    assert drain(10, 0.0) is False and seen == [60] * 5


def test_a_build_of_another_version_of_the_source_is_not_used(tmp_path, monkeypatch, caplog):
    edited = tmp_path / "_fastsr.c"
    edited.write_text(compiled.SOURCE.read_text() + "/* edited since the build */\n")
    monkeypatch.setattr(compiled, "SOURCE", edited)
    compiled.probe.cache_clear()
    try:
        assert compiled.load() is None
        assert compiled.unavailable().startswith(f"{sys.modules[compiled.MODULE].__file__} was built from another "
                                                 f"version of {edited}; to rebuild it: make .venv/.installed")
        with caplog.at_level(logging.WARNING, logger="srchain_proxy"):
            assert datapath.choose_variant("auto")[0] == "python"
        assert "was built from another version" in caplog.text
    finally:
        compiled.probe.cache_clear()


def test_metrics_expose_the_loop_in_use():
    counters = {"sids": {}, "drops": {}, "kernel_drops": 0}
    text = metrics_text(make_registry(lambda: counters, ("python", "fast_path: python"))).decode()
    assert 'srchain_proxy_fast_path_info{detail="fast_path: python",path="python"} 1.0' in text
