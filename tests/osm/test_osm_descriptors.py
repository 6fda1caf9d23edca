"""Every shipped descriptor passes OSM's IM validation (ours and the shared reference tool) and the
referential checks; OSM's own examples pass our IM validation (so it accepts what OSM accepts)."""

from __future__ import annotations

import subprocess
import sys

from osmlib import NS_CONFIG, REPO, SHARED

from srchain.osm.descriptors import collect
from srchain.osm.im import ImValidator
from srchain.osm.pdu import load_switches
from srchain.osm.validate import validate_paths

DESCRIPTOR_DIRS = [REPO / "vnfd", REPO / "nsd"]


def test_all_descriptors_are_found() -> None:
    found, problems = collect(DESCRIPTOR_DIRS)
    assert problems == []
    assert sorted(d.ident for d in found) == [
        "srchain-aggregator", "srchain-classifier", "srchain-cloud-gaming", "srchain-formatter",
        "srchain-mitigation", "srchain-sr-proxy", "srchain-tofino-s1",
    ]


def test_descriptors_pass_srchain_validate(im: ImValidator) -> None:
    report = validate_paths(DESCRIPTOR_DIRS, im, params_path=NS_CONFIG,
                            switches=load_switches(REPO / "examples/inventory.yaml"))
    assert [str(f) for f in report.findings] == []
    assert len(report.descriptors) == 7


def test_descriptors_pass_the_shared_osm_im_validate_tool() -> None:
    run = subprocess.run([sys.executable, str(SHARED / "tools/osm-im-validate"), *map(str, DESCRIPTOR_DIRS)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "7 valid, 0 invalid" in run.stdout


def test_osm_examples_pass_our_im_validation(im: ImValidator) -> None:
    examples, problems = collect([SHARED / "osm-im/examples"])
    assert problems == [] and len(examples) == 14
    assert {d.file.name: im.errors(d.data) for d in examples} == {d.file.name: [] for d in examples}


def test_im_rejects_what_osm_rejects(im: ImValidator) -> None:
    bad_type = {"vnfd": {"id": "x", "df": [{"id": "d", "lcm-operations-configuration": {"operate-vnf-op-config": {
        "day1-2": [{"id": "x", "initial-config-primitive": [{"seq": "first", "name": "config"}]}]}}}]}}
    assert im.errors(bad_type) == ["OSM IM (pyangbind) rejects it: seq must be of a type compatible with uint64"]
    assert im.errors({"vnfd": {"id": "x", "bogus": 1}}) == [
        "OSM IM (pyangbind) rejects it: JSON object contained a key that did not exist (bogus)"]
    assert im.errors({"neither": {}}) == ["not a descriptor: the top-level key must be 'vnfd' or 'nsd'"]
