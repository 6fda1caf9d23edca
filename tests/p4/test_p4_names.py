"""The controller's P4 names are the compiled program's: srchain.plan.p4names is what `p4/gen-constants`
generates from a fresh compile, and every entry the planner writes fits every profile's bf-rt.json (table,
action, key and data field names, and widths)."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from srchain.model import load_chain
from srchain.model.inventory import WanEnd, WanLink
from srchain.plan import build_plan
from srchain.plan import tables as T
from srchain.plan import tm as TM
from srchain.plan import wan as W
from srchain.plan.gen_p4names import merge, render, schema
from srchain.sidstore import SidStore
from srchain.targets.switch import scalar
from srchain_contracts import proxy_api as px

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "plugin" / "srchain" / "plan" / "p4names.py"
GENERATED_SRV6 = ROOT / "plugin" / "srchain" / "plan" / "p4names_srv6.py"
EXAMPLES = ROOT / "examples"
# The builds of p4/srchain_node.p4 the project makes (p4/build, docs/p4.md): `full` (MSD 8: the parser unrolls
# exactly 8 labels, another MSD is a compile error, tests/p4/test_p4_build.py), `l4s` (the SR core + the l4s
# module) and `wan` (the SR core + MPLS-in-UDP at a border). A new profile goes here; p4names.py is generated from
# their union (p4/gen-constants).
PROFILES = {"msd8": ["MSD=8"], "l4s": ["SRCHAIN_FLOW_FEATURES=0", "SRCHAIN_PRIORITY=0", "SRCHAIN_L4S=1"],
            "wan": ["SRCHAIN_FLOW_FEATURES=0", "SRCHAIN_PRIORITY=0", "SRCHAIN_WAN=1"]}
# The srv6 profile has names of its own (srchain.plan.p4names_srv6, the SRv6 planner's: srchain.plan.srv6switch).
SRV6_PROFILE = {"srv6": ["SRCHAIN_SRV6=1"]}
SPECS = [  # (spec, inventory, the profile its switches run): every example chain
    ("cloud-gaming.yaml", "inventory.yaml", "msd8"),
    ("cloud-gaming-mitigation.yaml", "inventory.yaml", "msd8"),
    ("cloud-gaming-mitigation-first.yaml", "inventory.yaml", "msd8"),
    ("two-switch.yaml", "inventory-two-switch.yaml", "msd8"),
    ("l4s.yaml", "inventory.yaml", "l4s"),
    ("two-site.yaml", "inventory-two-site.yaml", "msd8"),  # its border switches run `wan` (BORDERS)
    ("srv6-switch.yaml", "inventory-srv6-switch.yaml", "srv6"),
    ("srv6-switch-head.yaml", "inventory-srv6-switch.yaml", "srv6"),
    ("cloud-gaming-srv6.yaml", "inventory-demo-srv6.yaml", "srv6"),
    ("cloud-gaming-srv6-mitigation.yaml", "inventory-demo-srv6.yaml", "srv6"),
]
# switches of a spec's inventory that run another profile than the spec's (the border switches of a WAN link)
BORDERS = {("two-site.yaml", "a2"): "wan", ("two-site.yaml", "b1"): "wan"}


@cache
def compiled(profile: str, out: Path) -> dict[str, Any]:
    defines = [arg for d in {**PROFILES, **SRV6_PROFILE}[profile] for arg in ("-D", d)]
    res = subprocess.run([str(ROOT / "p4" / "build"), "--emulator", "-o", str(out / profile), *defines],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads((out / profile / "bf-rt.json").read_text())


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("p4")


def test_committed_names_are_generated_from_the_program(out: Path) -> None:
    merged = merge([compiled(profile, out) for profile in PROFILES])
    assert render(merged) == GENERATED.read_text(), "P4 names changed: run p4/gen-constants"


def test_committed_srv6_names_are_generated_from_the_srv6_profile(out: Path) -> None:
    want = render(merge([compiled("srv6", out)]))
    assert want == GENERATED_SRV6.read_text(), "P4 names changed: run p4/gen-constants"


def test_every_name_the_srv6_planner_uses_is_in_the_srv6_profile(out: Path) -> None:
    from srchain.plan import srv6switch as S6

    keys, actions = schema(compiled("srv6", out))
    assert set(S6.LOCAL_SID_ACTIONS.values()) <= set(actions[S6.LOCAL_SID])
    assert actions[S6.SID_FORWARD][S6.SID_FORWARD_ACTION] == {"port": 9, "dst_mac": 48}
    assert keys[S6.LOCAL_SID] == {"dst_addr": ("Exact", 128)} and keys[S6.SID_FORWARD] == {"dst_addr": ("LPM", 128)}
    assert S6.MAX_SEGMENTS == 4
    for n in range(1, S6.MAX_SEGMENTS + 1):
        sids = {f"sid_{i}": 128 for i in range(n)}
        assert actions[S6.CLASSIFIER][S6.CLASSIFIER_ENCAPS.format(n=n)] == {"hop_limit": 8, "src_addr": 128, **sids}
        assert actions[S6.REPORT_ENCAP][S6.REPORT_ENCAPS.format(n=n)] == {"hop_limit": 8, "src_mac": 48,
                                                                         "dst_mac": 48, "src_addr": 128, **sids}
    for table in (T.QUEUE_MAP, T.REPORT_SESSION, T.REPORT_ADDRESSES):  # shared with the SR-MPLS profiles
        assert table in actions, table


MODULE_TABLES = {
    "msd8": (T.REPORT_SESSION, T.REPORT_ENCAP, T.REPORT_ADDRESSES, T.QUEUE_MAP),
    "l4s": (T.L4S_QUEUE_MAP, T.L4S_CONFIG, T.L4S_PI),
    "wan": (W.WAN_DECAP,),
}
MODULES = {"msd8": ("flow-features", "priority"), "l4s": ("l4s",), "wan": ()}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_name_the_planner_uses_is_in_the_program(profile: str, out: Path) -> None:
    keys, actions = schema(compiled(profile, out))
    local_sid = T.LOCAL_SID_TABLES if MODULES[profile] else ()  # a profile without modules has no local SIDs
    for table in (T.CLASSIFIER, *local_sid, T.SID_FORWARD, T.ROUTES, *MODULE_TABLES[profile]):
        assert table in actions, table
    for table in local_sid:
        assert {T.LOCAL_SID_ACTIONS[table][m] for m in MODULES[profile]} <= set(actions[table])
    # one push action per depth up to the parser's MSD, labels as wide as an MPLS label
    assert T.MAX_PUSH == 8
    for n in range(1, T.MAX_PUSH + 1):
        labels = {f"label_{i}": 20 for i in range(n)}
        assert actions[T.CLASSIFIER][T.CLASSIFIER_PUSH.format(n=n)] == {"ttl": 8, **labels}
        if T.REPORT_ENCAP in actions:  # the report path: profiles with flow-features
            assert actions[T.REPORT_ENCAP][T.REPORT_PUSH.format(n=n)] == {"ttl": 8, "src_mac": 48, "dst_mac": 48,
                                                                          **labels}
    assert T.CLASSIFIER_PUSH.format(n=T.MAX_PUSH + 1) not in actions[T.CLASSIFIER]
    assert (1 << keys[T.SID_FORWARD]["label"][1]) - 1 == px.MAX_LABEL
    assert 1 << keys[T.CLASSIFIER]["lb_bucket"][1] == 1 << T.LB_BUCKET_BITS == 16


def _fits(value: Any, width: int) -> bool:
    if isinstance(value, dict) and set(value) == {"value", "mask"}:
        return _fits(value["value"], width) and _fits(value["mask"], width)
    if isinstance(value, dict) and set(value) == {"value", "prefix_len"}:
        return _fits(value["value"], width) and 0 <= value["prefix_len"] <= width
    wire = scalar(value)
    return isinstance(wire, int) and not isinstance(wire, bool) and wire >= 0 and (width == 0 or wire >> width == 0)


@pytest.mark.parametrize(("spec", "inventory", "profile"), SPECS, ids=[s for s, _, _ in SPECS])
def test_planned_entries_fit_the_program(profile: str, spec: str, inventory: str, out: Path, tmp_path: Path) -> None:
    with SidStore(tmp_path) as store:
        plan = build_plan(load_chain(EXAMPLES / spec, EXAMPLES / inventory), store)
    checked = 0
    for e in plan.entries:
        fixed = (T.PRE_NODE, T.PRE_MGID, T.MIRROR_CFG, *TM.TABLES)  # the SDE's fixed tables
        if e.target_kind != "switch" or e.table in fixed:
            continue
        keys, actions = schema(compiled(BORDERS.get((spec, e.target), profile), out))
        where = f"{e.table} {e.key}"
        assert e.table in actions, f"{where}: no such table"
        # the switch driver writes $MATCH_PRIORITY 0 when a ternary entry has none
        assert set(e.key) | {"$MATCH_PRIORITY"} >= set(keys[e.table]) >= set(e.key), f"{where}: keys {keys[e.table]}"
        assert all(_fits(v, keys[e.table][k][1]) for k, v in e.key.items()), f"{where}: a key does not fit"
        assert e.action in actions[e.table], f"{where}: no action {e.action}"
        data = actions[e.table][e.action]
        assert set(e.params) == set(data), f"{where}: {e.action} takes {sorted(data)}"
        assert all(_fits(v, data[k]) for k, v in e.params.items()), f"{where}: {e.params} does not fit {data}"
        checked += 1
    assert checked > (4 if profile == "srv6" else 10)  # srv6: fewer tables (no routes; head end on Linux or s1)


def test_names_that_collide_as_constants_are_refused() -> None:
    table = {"key": [], "action_specs": [{"name": "A.b_c", "data": []}]}
    with pytest.raises(ValueError, match=re.escape("'A.b.c' and 'A.b_c' give the same constant A_B_C")):
        render({"tables": [{"name": "pipe.A.b.c", **table}]})


@pytest.mark.parametrize(("spec", "inventory", "profile"), SPECS, ids=[s for s, _, _ in SPECS])
def test_planned_tm_rows_fit_the_sdes_tm_table(spec: str, inventory: str, profile: str, tmp_path: Path) -> None:
    """TM rows: every writable field of tf1.tm.queue.sched_cfg and tf1.tm.port.sched_shaping, and the rate
    enable of tf1.tm.port.sched_cfg (ids and types of the SDE's bf_rt_tm_tf1.json, as the emulator serves
    them), values within their choices and widths, keys within a Tofino 1 pipe."""
    from srchain_emu.device_tables import QUEUE_SCHED, SCHED_CFG, SCHED_SHAPING

    with SidStore(tmp_path) as store:
        plan = build_plan(load_chain(EXAMPLES / spec, EXAMPLES / inventory), store)
    rows = [e for e in plan.entries if e.table in TM.TABLES]
    assert rows, "a priority or l4s segment plans its TM rows"
    tables = {t.name: t for t in (QUEUE_SCHED, SCHED_CFG, SCHED_SHAPING)}
    for e in rows:
        t = tables[e.table]
        fields = {f.name: f for f in t.fields}
        assert e.action == ""
        assert set(e.params) == (set(fields) if t is not SCHED_CFG else {"max_rate_enable"}), e.params
        for name, v in e.params.items():
            assert fields[name].check(e.table, v) == v  # type, width and choices
        assert set(e.key) == {"pipe", *t.key_names} and 0 <= e.key_int("pipe") < 4
        assert all(0 <= e.key_int(k.name) < k.limit for k in t.keys), e.key
        if t is not QUEUE_SCHED:
            assert e.key_int("pipe") == e.key_int("dev_port") >> 7


@pytest.mark.parametrize("encapsulation", sorted(W.ENCAP_ACTION))
def test_wan_rows_of_either_encapsulation_fit_profile_wan(encapsulation: str, out: Path) -> None:
    """The rows plan/wan.py writes for a crossing of an MPLS-in-UDP and an MPLS-in-GRE link: their actions and
    data fields are the program's (the two-site example above covers UDP through a whole plan)."""
    keys, actions = schema(compiled("wan", out))
    near, far = WanEnd(switch="a2", port=9, address="198.51.100.1"), WanEnd(switch="b1", port=9, address="198.51.100.2")
    link = WanLink(name="ab", a=near, b=far, encapsulation=encapsulation, mtu=1600)  # type: ignore[arg-type]
    c = W.Crossing("data path", 16001, link, near, far, 1500, 2)
    for e in (W.encap_entry(c, "02:00:00:00:02:09", "02:00:00:00:0b:09", 1), W.decap_entry(c)):
        assert set(e.key) == set(keys[e.table]) and all(_fits(v, keys[e.table][k][1]) for k, v in e.key.items())
        data = actions[e.table][e.action]
        assert set(e.params) == set(data) and all(_fits(v, data[k]) for k, v in e.params.items()), (e, data)
