"""Every invalid example is refused with the file, the line where known, the path and the reason,
and nothing is allocated or planned."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from chainlib import EXAMPLES, INVENTORY, REFERENCE

from srchain.model import SpecError, load_chain
from srchain.plan import PlanError
from srchain.sidstore import BlockExhausted, SidStore

INVALID = EXAMPLES / "invalid"
SPEC_CASES = sorted(INVALID.glob("spec-*.yaml"))
PLAN_CASES = sorted(INVALID.glob("plan-*.yaml"))
INVENTORY_CASES = sorted(INVALID.glob("inventory-*.yaml"))


def header(path: Path, field: str) -> str | None:
    m = re.search(rf"^# {field}: (.+)$", path.read_text(), re.M)
    return m.group(1).strip() if m else None


def inventory_for(case: Path) -> Path:
    rel = header(case, "inventory")
    return case.parent / rel if rel else INVENTORY


def test_every_error_kind_has_an_example() -> None:
    # one invalid file per error kind: schema, syntax, references, semantics, plan-time limits
    assert len(SPEC_CASES) >= 20 and len(PLAN_CASES) >= 5 and len(INVENTORY_CASES) >= 6


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda p: p.stem)
def test_spec_errors_name_file_path_and_reason(case: Path) -> None:
    expect = header(case, "expect")
    assert expect, f"{case.name} lacks an '# expect:' line"
    with pytest.raises(SpecError) as info:
        load_chain(case, inventory_for(case))
    messages = [str(i) for i in info.value.issues]
    assert any(m.startswith(f"{case}:") and expect in m for m in messages), messages
    line = header(case, "expect-line")
    if line:
        assert any(f"{case}:{line}:" in m for m in messages), messages


@pytest.mark.parametrize("case", PLAN_CASES, ids=lambda p: p.stem)
def test_plan_errors_refuse_and_allocate_nothing(case: Path, tmp_path: Path) -> None:
    from srchain.plan import build_plan

    expect = header(case, "expect")
    model = load_chain(case, inventory_for(case))  # valid spec; the plan is what fails
    with SidStore(tmp_path) as store:
        with pytest.raises((PlanError, BlockExhausted)) as info:
            build_plan(model, store)
        assert expect in str(info.value)
        assert store.sids() == [], "a refused plan must not keep any allocation"


@pytest.mark.parametrize("case", INVENTORY_CASES, ids=lambda p: p.stem)
def test_inventory_errors(case: Path) -> None:
    expect = header(case, "expect")
    with pytest.raises(SpecError) as info:
        load_chain(REFERENCE, case)
    assert any(str(i).startswith(f"{case}:") and expect in str(i) for i in info.value.issues), info.value.issues


def test_all_issues_reported_together(tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "chain: many\n"
        "classifier: {switch: s7, rules: [{name: r}]}\n"
        "segments:\n"
        "  - {name: a, switch: s8, module: priority}\n"
        "  - {name: b, vnf: nope, proxy: px1, behaviour: static}\n"
    )
    with pytest.raises(SpecError) as info:
        load_chain(spec, INVENTORY)
    text = str(info.value)
    assert f"{spec}:2: classifier.switch: unknown switch 's7'" in text
    assert f"{spec}:4: segments[0].switch: unknown switch 's8'" in text
    assert f"{spec}:5: segments[1].vnf: unknown VNF 'nope'" in text


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read file"):
        load_chain(tmp_path / "absent.yaml", INVENTORY)


def test_valid_examples_load() -> None:
    for spec, inv in [
        (REFERENCE, INVENTORY),
        (EXAMPLES / "cloud-gaming-mitigation.yaml", INVENTORY),
        (EXAMPLES / "cloud-gaming-mitigation-first.yaml", INVENTORY),
        (EXAMPLES / "two-switch.yaml", EXAMPLES / "inventory-two-switch.yaml"),
        (EXAMPLES / "srv6-services.yaml", EXAMPLES / "inventory-srv6.yaml"),
    ]:
        assert load_chain(spec, inv).segments


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "srchain.cli", "chain", "validate", str(REFERENCE), "-i", str(INVENTORY)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "chain 'cloud-gaming', 5 segments, 6 instances" in ok.stdout
    bad = INVALID / "spec-unknown-switch.yaml"
    res = subprocess.run(
        [sys.executable, "-m", "srchain.cli", "chain", "validate", str(bad), "-i", str(INVENTORY)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    assert f"{bad}:9: segments[0].switch: unknown switch 's9'" in res.stderr
    assert "nothing was planned" in res.stderr


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("unix:/run/srchain/s1.sock", None),
        ("[::1]:50052", None),
        ("unix:run/s1.sock", "'unix:run/s1.sock' is not a unix:/absolute/path address"),
        ("127.0.0.1:0", "'127.0.0.1:0' is not a host:port address"),
    ],
)
def test_switch_grpc_addresses(tmp_path: Path, address: str, error: str | None) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INVENTORY.read_text().replace("grpc: 127.0.0.1:50052", f'grpc: "{address}"'))
    if error is None:
        assert load_chain(REFERENCE, inv).inventory.switches[0].grpc == address
        return
    with pytest.raises(SpecError) as info:
        load_chain(REFERENCE, inv)
    assert f"switches[0].grpc: {error}" in str(info.value)


def test_srv6_fields_leave_sr_mpls_specs_as_they_were() -> None:
    """`dataplane` defaults to sr-mpls; the reference chain's digest (its version key) is the one main
    computed before SRv6 (23d9607)."""
    from srchain.plan.builder import spec_digest

    model = load_chain(REFERENCE, INVENTORY)
    assert model.spec.dataplane == "sr-mpls" and model.spec.srv6 is None
    assert spec_digest(model) == "f576899974cb4f21"
