"""One deliberately broken descriptor per referential rule (tests/osm/broken/<case>/): each is refused
with exactly that rule, a message naming what is wrong, and nothing else reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from osmlib import BROKEN, NS_CONFIG, REPO

from srchain.osm.im import ImValidator
from srchain.osm.pdu import load_switches
from srchain.osm.validate import validate_paths

# case folder -> (rule, text the message must contain)
CASES = {
    "im": ("im", "JSON object contained a key that did not exist (bogus-leaf)"),
    "mgmt-cp": ("vnfd.mgmt-cp", "'nowhere-ext' is not an ext-cpd (known: mgmt-ext, sr-ext, vnf-ext)"),
    "vdu-refs": ("vnfd.vdu-refs", "'missing-compute' is not a virtual-compute-desc of this VNFD"),
    "ext-cpd": ("vnfd.ext-cpd", "'no-such-int' is not an int-cpd of vdu 'proxy-vm'"),
    "vdu-profile": ("vnfd.vdu-profile", "'ghost-vm' is not a vdu"),
    "instantiation-level": ("vnfd.instantiation-level", "'missing-level' is not an instantiation-level"),
    "scaling-aspect": ("vnfd.scaling-aspect", "vnf-monitoring-param-ref 'ghost-metric' is not a monitoring-parameter"),
    "day1-2-id": ("day1-2.id", "'not-the-vnfd' must be the VNFD id"),
    "ee-ref": ("day1-2.ee-ref", "'ghost-ee' is not an execution environment here (known: proxy-ee)"),
    "charm-present": ("charm.present", "charm 'srchain-missing-charm' not found"),
    "charm-action": ("charm.action", "'add-sids' is not an action of charm 'srchain-sr-proxy'"),
    "charm-param": ("charm.param", "action 'add-sid' of charm 'srchain-sr-proxy' takes no parameter 'entries'"),
    "charm-param-default": ("charm.param", "optional parameter 'version' of action 'remove-sid' has no default-value: "
                                           "OSM requires it on every call"),
    "charm-config": ("charm.config", "charm 'srchain-sr-proxy' has no config option 'ssh-host'"),
    "ssh-access": ("charm.ssh-access", "has no 'generate-ssh-key' action"),
    "cloud-init": ("cloud-init.file", "'missing.cfg' is missing: OSM reads it from cloud_init/missing.cfg"),
    "pdu-interfaces": ("pdu.interfaces", "s1 lacks port9"),
    "nsd-vnfd-id": ("nsd.vnfd-id", "'srchain-ghost' is not listed in the NSD's vnfd-id"),
    "nsd-virtual-link": ("nsd.virtual-link", "'ghost-net' is not a virtual-link-desc"),
    "nsd-constituent": ("nsd.constituent", "'sr-ext' is not an ext-cpd of VNFD 'srchain-formatter'"),
    "nsd-vnffgd": ("nsd.vnffgd", "'ghost-cp' is not an ext-cpd of VNFD 'srchain-classifier'"),
}


def _validate(im: ImValidator, case: str) -> list:
    paths = [BROKEN / case]
    if case.startswith("nsd-"):
        paths.append(REPO / "vnfd")  # an NSD is checked against the VNFDs given with it
    report = validate_paths(paths, im, switches=load_switches(REPO / "examples/inventory.yaml"))
    assert report.descriptors, f"no descriptor found in {case}"
    return report.findings


def test_every_case_folder_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted([*CASES, "placeholder"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_descriptor_is_refused_with_its_rule(im: ImValidator, case: str) -> None:
    rule, text = CASES[case]
    findings = _validate(im, case)
    assert findings, f"{case} was accepted"
    assert {f.rule for f in findings} == {rule}, [str(f) for f in findings]
    assert any(text in f.message for f in findings), [str(f) for f in findings]
    for f in findings:  # every message names the file and where in it
        assert f.file.endswith((".yaml", ".yml")) and f.path
        assert str(f).startswith(f"{f.file}: {f.path}: [{rule}] ")


def test_placeholder_without_value_is_refused(im: ImValidator) -> None:
    params = BROKEN / "placeholder/ns-config.yaml"
    report = validate_paths([REPO / "vnfd", REPO / "nsd"], im, params_path=params)
    assert [f.rule for f in report.findings] == ["placeholder"]
    f = report.findings[0]
    assert f.file.endswith("tofino-s1_vnfd.yaml")
    assert f.path.endswith("initial-config-primitive[2].parameter[program].value")
    assert f.message == (f"<p4_program> has no value for vnf-profile 's1' of NSD 'srchain-cloud-gaming': add it to "
                         f"additionalParamsForVnf[member-vnf-index=s1].additionalParams in {params}")


def test_complete_params_cover_every_placeholder(im: ImValidator) -> None:
    report = validate_paths([REPO / "vnfd", REPO / "nsd"], im, params_path=NS_CONFIG)
    assert report.findings == []


def test_nsd_alone_is_refused_because_its_vnfds_are_unknown(im: ImValidator) -> None:
    report = validate_paths([REPO / "nsd"], im)
    assert {f.rule for f in report.findings} == {"nsd.vnfd-id"}
    assert len(report.findings) == 6  # aggregator, classifier, formatter, mitigation, sr-proxy, tofino-s1


def test_unreadable_yaml_is_a_finding(tmp_path: Path, im: ImValidator) -> None:
    (tmp_path / "x_vnfd.yaml").write_text("vnfd: [unclosed\n")
    report = validate_paths([tmp_path], im)
    assert [f.rule for f in report.findings] == ["yaml"]
    assert "cannot read it as YAML" in report.findings[0].message
