"""`srchain demo --dataplane srv6` from the command line, without root: the plan view and what it refuses."""

from __future__ import annotations

from click.testing import CliRunner

from srchain_demo.cli import demo


def test_plan_only_plans_the_reference_chain_over_srv6() -> None:
    result = CliRunner().invoke(demo, ["--plan-only", "--dataplane", "srv6"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1. the reference chain over SRv6" in out and "cloud-gaming-srv6" in out
    assert "2. day 2: insert attack mitigation" in out
    assert "fcbb:bb00:10:100::" in out and "fcbb:bb00:4:100::" in out  # s1's flow-features SID, m's End


def test_srv6_with_the_l4s_scenario_is_refused_by_name() -> None:
    result = CliRunner().invoke(demo, ["--dataplane", "srv6", "--scenario", "l4s"])
    assert result.exit_code == 2
    assert result.output == ("error: --dataplane srv6 runs the chain scenario: the l4s scenario is SR-MPLS only "
                             "(L4S is not in the P4 srv6 profile)\n")


def test_srv6_across_sites_is_refused() -> None:
    result = CliRunner().invoke(demo, ["--plan-only", "--dataplane", "srv6", "--sites", "2"])
    assert result.exit_code == 2
    assert result.output == ("error: --dataplane srv6 runs on one site: SRv6 across sites is not in the testbed "
                             "(--sites 2|3 are SR-MPLS)\n")
