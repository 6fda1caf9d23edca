"""p4/build: the emulator bundle the loader pushes, the bf-p4c command for a real SDE, clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "p4" / "build"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUILD), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_emulator_bundle_has_what_the_loader_pushes(tmp_path: Path) -> None:
    # the tables, actions and fields in bf-rt.json: tests/p4/test_p4_names.py
    res = run("--emulator", "-o", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    for f in ("bf-rt.json", "pipe/context.json", "pipe/tofino.bin", "srchain_node.conf"):
        assert (tmp_path / "b" / f).is_file(), f
    assert json.loads((tmp_path / "b" / "bf-rt.json").read_text())["tables"]


def test_sde_command_line(tmp_path: Path) -> None:
    res = run("--sde", "--dry-run", "-o", str(tmp_path), "-D", "MSD=8")
    assert res.returncode == 0, res.stderr
    line = res.stdout.splitlines()[1]
    for flag in ("--target tofino", "--arch tna", f"--bf-rt-schema {tmp_path}/bf-rt.json", f"-o {tmp_path}",
                 "-DMSD=8", "srchain_node.p4"):
        assert flag in line, line
    assert "p4c-gen-bfrt-conf --name srchain_node" in res.stdout


def test_sde_build_without_a_compiler_is_refused(tmp_path: Path) -> None:
    res = run("--sde", "-o", str(tmp_path), env={"BF_P4C": "/nonexistent/bf-p4c"})
    assert res.returncode == 2
    assert "no Tofino compiler '/nonexistent/bf-p4c'" in res.stderr
    assert not any(tmp_path.iterdir()), "nothing written"


def test_unknown_argument_is_refused() -> None:
    res = run("--tofino3")
    assert res.returncode == 2 and "unknown argument '--tofino3'" in res.stderr


def test_msd_other_than_the_unrolled_parser_is_a_compile_error(tmp_path: Path) -> None:
    res = run("--emulator", "-o", str(tmp_path / "b"), "-D", "MSD=9")
    assert res.returncode != 0
    assert "unrolls exactly 8 label states" in res.stderr + res.stdout


def tables_of(bundle: Path) -> set[str]:
    return {t["name"] for t in json.loads((bundle / "bf-rt.json").read_text())["tables"]}


def test_tofino1_core_profile_has_the_sr_core_and_no_module(tmp_path: Path) -> None:
    # the profile bf-p4c 1.2.5.16 assembles for a Tofino 1 (12 stages, docs/p4.md "Profiles")
    res = run("--emulator", "--profile", "tofino1-core", "-o", str(tmp_path / "core"))
    assert res.returncode == 0, res.stderr
    full = run("--emulator", "-o", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    core, every = tables_of(tmp_path / "core"), tables_of(tmp_path / "full")
    for name in ("classifier.rules", "sr.sid_forward", "ipv4.routes", "queue_stats.packets"):
        assert any(t.endswith(name) for t in core), name
    gone = {t for t in every - core if not t.startswith("$")}
    assert gone and all(any(m in t for m in ("flow_features", "priority", "report", "local_sid")) for t in gone), gone
    assert not any("flow_features" in t or "priority" in t or "local_sid" in t for t in core), core


def test_sde_command_line_of_a_profile(tmp_path: Path) -> None:
    res = run("--sde", "--dry-run", "--profile", "tofino1-core", "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "-DSRCHAIN_FLOW_FEATURES=0 -DSRCHAIN_PRIORITY=0" in res.stdout.splitlines()[1]


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    res = run("--emulator", "--profile", "tofino9", "-o", str(tmp_path / "x"))
    assert res.returncode == 2 and "unknown profile 'tofino9' (full, tofino1-core, l4s, srv6, wan)" in res.stderr
    assert not (tmp_path / "x").exists()


def test_l4s_profile_is_the_sr_core_with_the_l4s_module(tmp_path: Path) -> None:
    res = run("--emulator", "--profile", "l4s", "-o", str(tmp_path / "l4s"))
    assert res.returncode == 0, res.stderr
    names = tables_of(tmp_path / "l4s")
    for name in ("sr.local_sid_0", "sr.sid_forward", "l4s.queue_map", "l4s.config", "l4s.pi_terms", "l4s.prob",
                 "l4s.decisions"):
        assert any(t.endswith(name) for t in names), name
    assert not any("flow_features" in t or "priority" in t for t in names), names
    full = run("--emulator", "-o", str(tmp_path / "full"))
    assert full.returncode == 0 and not any("l4s" in t for t in tables_of(tmp_path / "full"))


def test_srv6_profile_replaces_the_label_tables_with_srv6_ones(tmp_path: Path) -> None:
    res = run("--emulator", "--profile", "srv6", "-o", str(tmp_path / "srv6"))
    assert res.returncode == 0, res.stderr
    names = tables_of(tmp_path / "srv6")
    for name in ("classifier.rules", "srv6.local_sid", "srv6.sid_forward", "ipv4.routes", "priority.queue_map",
                 "flow_features.report_session", "report.encap"):
        assert any(t.endswith(name) for t in names), name
    assert not any(".sr." in t or "l4s" in t for t in names), names
    schema = json.loads((tmp_path / "srv6" / "bf-rt.json").read_text())
    (rules,) = [t for t in schema["tables"] if t["name"].endswith("classifier.rules")]
    actions = {a["name"].rsplit(".", 1)[1]: [d["name"] for d in a["data"]] for a in rules["action_specs"]}
    assert actions["encaps_4"] == ["hop_limit", "src_addr", "sid_0", "sid_1", "sid_2", "sid_3"]
    assert "push_1" not in actions and "encaps_red_1" in actions
    (encap,) = [t for t in schema["tables"] if t["name"].endswith("report.encap")]
    assert {a["name"].rsplit(".", 1)[1] for a in encap["action_specs"]} >= {"encaps_1", "encaps_red_4"}


def test_srv6_profile_refuses_what_it_cannot_carry(tmp_path: Path) -> None:
    res = run("--emulator", "--profile", "srv6", "-D", "SRCHAIN_L4S=1", "-o", str(tmp_path / "a"))
    assert res.returncode != 0 and "the l4s module's egress parser" in res.stderr + res.stdout
    res = run("--emulator", "--profile", "srv6", "-D", "SRV6_MAX_SEGS=5", "-o", str(tmp_path / "b"))
    assert res.returncode != 0 and "unrolls exactly 4 SRH segment states" in res.stderr + res.stdout
