"""Issue 17 (Done when: every charm through day 1 and every day-2 primitive under the unit-agent stand-in): the
classifier, aggregator and mitigation charms run through dispatch (srchain.osm.unitagent), driven by the LCM stand-in
from their VNFD's day1-2 block, against the real service processes; each primitive is checked on the service (its
config file, its process, its HTTP views), each refusal by its message and an unchanged service.

The charms act where they run here (`ssh-hostname` empty: `rw_mgmt_ip` given as ""), so the VNFD's `config-access`
is left out and LCM's key steps (generate-ssh-key, get-ssh-public-key, verify-ssh-credentials) do not run: that
path is the same charm code (`srchain.charms.vnf_charm`) for every VNF charm and runs over a real SSH server in
test_osm_unitagent.py (formatter) and, for every VM of the NS, in tests/e2e/test_demo_via_osm_e2e.py. The formatter's
primitives are in test_osm_unitagent.py; the mitigation needs root (its legs are veths and raw sockets)."""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from osm_unitlab import config_of, day12, output, primitive, service, start, udp_endpoints, unit_of
from osmlib import REPO

from srchain.osm.render import VNF_DEFAULTS
from srchain.osm.unitagent.lcm import ExecutionEnvironment, Lcm
from srchain_contracts.records import FlowKey, TrafficClass, WindowLabel, ip_to_int
from waiting import wait_until

KEY = FlowKey(ip_to_int("10.0.1.10"), ip_to_int("10.0.2.10"), 5000, 5000, 17)
LOCAL = {"rw_mgmt_ip": "", "ssh_host_key_pub": ""}  # the charm acts where it runs: ssh-hostname, ssh-host-key empty


def _local(block: dict[str, Any]) -> dict[str, Any]:
    """The VNFD's day1-2 block without `config-access` (no SSH key steps for a charm acting where it runs)."""
    return {k: v for k, v in block.items() if k != "config-access"}


def _day1(staged: dict[str, Path], charm_python: tuple[str, str], svc: dict[str, Any], vnfd: str, member: str,
          root: Path) -> tuple[Lcm, ExecutionEnvironment]:
    """Deploy (install → leader-elected → config-changed → start) and LCM's day 1 from the VNFD, the day-1 values
    render-nsd gives the member (VNF_DEFAULTS). N2VC's verify-ssh-credentials retries inside `config` are set to 0:
    nothing here is reached over SSH."""
    unit = unit_of(staged, charm_python, f"srchain-{vnfd}", member, root,
                   config={"service-config": str(svc["cfg"]), "restart-command": svc["restart"]})
    ee = ExecutionEnvironment(unit, member, _local(day12(vnfd)), {**VNF_DEFAULTS.get(f"srchain-{vnfd}", {}), **LOCAL})
    lcm = Lcm(verify_retries=0)
    lcm.deploy(ee)
    assert unit.hooks_run == ["install", "leader-elected", "config-changed", "start"]
    lcm.instantiate(ee)
    assert all(s.ok for s in ee.steps), ee.steps
    assert ee.steps[0].params == {"ssh-hostname": "", "ssh-username": "srchain", "ssh-host-key": ""}
    assert unit.status == ("active", f"{vnfd} ok"), unit.status
    return lcm, ee


def _pid(svc: dict[str, Any]) -> int:
    return int(svc["pid"].read_text())


def _ok(result: tuple[str, str]) -> Any:
    state, out = result
    assert state == "COMPLETED", out
    return output(out)


def test_classifier_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    with service(tmp_path / "svc", "classifier", {**udp_endpoints(), "model": str(tmp_path / "old.json")}) as svc:
        shutil.copy(REPO / "vnfs/srchain_vnfs/models/classifier.json", tmp_path / "old.json")
        booted = start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "classifier", "classifier-a", tmp_path / "unit")
        block = day12("classifier")
        # day 1's load-model `default` (render-nsd's value): the model shipped with the service, restarted on it
        assert [s.primitive for s in ee.steps] == ["config", "load-model"]
        assert config_of(svc)["model"] is None and _pid(svc) != booted

        model = tmp_path / "retrained.json"
        shutil.copy(REPO / "vnfs/srchain_vnfs/models/classifier.json", model)
        before = _pid(svc)
        shown = _ok(lcm.action(ee, primitive(block, "load-model"), {"model": str(model)}))
        assert shown == {"service": "classifier", "set": {"model": str(model)}, "status": "ok"}
        assert config_of(svc)["model"] == str(model) and _pid(svc) != before  # restarted on the new model

        # a model the service cannot load: it exits at start, the charm puts the previous config back and restarts
        # the service on it (the service's config model cannot see that ahead: any path is a valid `model`)
        text = svc["cfg"].read_text()
        state, out = lcm.action(ee, primitive(block, "load-model"), {"model": str(tmp_path / "missing.json")})
        assert (state, out) == ("FAILED", f"Error executing primitive load-model in ee={ee.ee_id}: failed: "
                                          f"restart-command exited 1: classifier exited at start (see {svc['log']}); "
                                          "the previous config is back and running"), out
        assert svc["cfg"].read_text() == text

        # a datagram that is no feature vector: the service counts it, show-counters reads it back
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"not a vector", ("127.0.0.1", config_of(svc)["listen"]["port"]))
        counters = wait_until(lambda: (c := _ok(lcm.action(ee, primitive(block, "show-counters"), {})))["counters"]
                              .get("received") and c, 10, what="the classifier counts the datagram")
        assert counters["service"] == "classifier" and counters["status"] == "ok", counters
        assert sum(n for k, n in counters["counters"].items() if k.startswith("dropped:")) == 1, counters

        before = _pid(svc)
        assert _ok(lcm.action(ee, primitive(block, "restart-service"), {})) == {"service": "classifier",
                                                                                 "status": "ok"}
        assert _pid(svc) != before


def test_aggregator_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    with service(tmp_path / "svc", "aggregator", {**udp_endpoints(), "agree": 3}) as svc:
        start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "aggregator", "aggregator", tmp_path / "unit")
        block = day12("aggregator")
        assert [s.primitive for s in ee.steps] == ["config"]

        # set-hysteresis without quiet-timeout-s: LCM fills the VNFD's default-value '30' (an INTEGER)
        before = _pid(svc)
        shown = _ok(lcm.action(ee, primitive(block, "set-hysteresis"), {"agree-windows": "2"}))
        assert shown == {"service": "aggregator", "set": {"agree": 2, "idle_timeout_s": 30.0}, "status": "ok"}
        assert (config_of(svc)["agree"], config_of(svc)["idle_timeout_s"]) == (2, 30.0) and _pid(svc) != before

        # refused by the service's own config model: the file and the process are left as they were
        text, pid = svc["cfg"].read_text(), _pid(svc)
        state, out = lcm.action(ee, primitive(block, "set-hysteresis"), {"agree-windows": "0", "quiet-timeout-s": "5"})
        assert state == "FAILED", out
        assert out.startswith(f"Error executing primitive set-hysteresis in ee={ee.ee_id}: failed: {svc['cfg']}: "
                              "agree: Input should be greater than or equal to 1"), out
        assert out.endswith("nothing was changed"), out
        assert svc["cfg"].read_text() == text and _pid(svc) == pid

        # two agreeing window labels (agree 2, just set) make a session that show-decisions lists
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for seq in range(2):
                tx.sendto(WindowLabel(KEY, TrafficClass.CLOUD_GAMING, seq, confidence=255).pack(),
                          ("127.0.0.1", config_of(svc)["listen"]["port"]))
        shown = wait_until(lambda: (d := _ok(lcm.action(ee, primitive(block, "show-decisions"), {})))["sessions"]
                           and d, 10, what="the aggregator shows the session")
        (row,) = shown["decisions"]
        assert row["class_name"] == "cloud_gaming" and row["flow"]["ip_a"] == "10.0.1.10", row
        counters = _ok(lcm.action(ee, primitive(block, "show-counters"), {}))
        assert counters["service"] == "aggregator" and counters["counters"]["received"] == 2, counters

        before = _pid(svc)
        assert _ok(lcm.action(ee, primitive(block, "restart-service"), {})) == {"service": "aggregator",
                                                                                 "status": "ok"}
        assert _pid(svc) != before


@pytest.mark.netns
def test_mitigation_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   veths: tuple[str, str, str],
                                                                   tmp_path: Path) -> None:
    in_if, out_if, sender = veths
    cfg = {"in_iface": in_if, "out_iface": out_if, "window_s": 1.0, "block_s": 60, "max_pps": 1, "max_fan_in": 1}
    with service(tmp_path / "svc", "mitigation", cfg) as svc:
        start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "mitigation", "mitigation", tmp_path / "unit")
        block = day12("mitigation")
        # day 1's set-thresholds with render-nsd's values, INTEGER parameters mapped by LCM
        assert [s.primitive for s in ee.steps] == ["config", "set-thresholds"]
        assert ee.steps[1].params == {"rate-pps": 10000, "fan-in": 100}
        assert (config_of(svc)["max_pps"], config_of(svc)["max_fan_in"]) == (10000.0, 100)

        _ok(lcm.action(ee, primitive(block, "set-thresholds"), {"rate-pps": "20", "fan-in": "50"}))
        assert (config_of(svc)["max_pps"], config_of(svc)["max_fan_in"]) == (20.0, 50)
        shown = _ok(lcm.action(ee, primitive(block, "allow-source"), {"prefix": "10.9.1.7/16"}))
        assert shown["changed"] is True and shown["set"] == {"allow": ["10.9.0.0/16"]}, shown
        assert config_of(svc)["allow"] == ["10.9.0.0/16"]

        # refusals: nothing written, the service not restarted
        text, pid = svc["cfg"].read_text(), _pid(svc)
        for name, given, why in (
                ("set-thresholds", {"rate-pps": "0", "fan-in": "50"},
                 f"{svc['cfg']}: max_pps: Input should be greater than 0"),
                ("allow-source", {"prefix": "10.9.0.0/33"}, "prefix: '10.9.0.0/33' is not an IPv4 prefix"),
                ("disallow-source", {"prefix": "10.8.0.0/16"},
                 "prefix: 10.8.0.0/16 is not allow-listed (allow: 10.9.0.0/16); nothing was changed")):
            state, out = lcm.action(ee, primitive(block, name), given)
            assert state == "FAILED", (name, out)
            assert out.startswith(f"Error executing primitive {name} in ee={ee.ee_id}: failed: {why}"), out
            assert out.endswith("nothing was changed"), out
        assert svc["cfg"].read_text() == text and _pid(svc) == pid

        # a flood from one source (100 frames > 20 pps) is blocked; show-blocked names it, show-counters counts it
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton("10.66.0.9"),
                         socket.inet_aton("10.0.2.10"))
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + b"\x00" * 8
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((sender, 0))
            for _ in range(100):
                tx.send(frame)
        shown = wait_until(lambda: (b := _ok(lcm.action(ee, primitive(block, "show-blocked"), {})))["blocked"] and b,
                           10, what="the mitigation blocks the flooding source")
        (row,) = shown["blocked"]
        assert (row["source"], row["reason"]) == ("10.66.0.9", "rate"), row
        assert shown["allow"] == ["10.9.0.0/16"] and shown["thresholds"]["max_pps"] == 20, shown
        counters = _ok(lcm.action(ee, primitive(block, "show-counters"), {}))["counters"]
        assert counters["dropped:rate"] + counters.get("dropped:blocked", 0) >= 1, counters

        shown = _ok(lcm.action(ee, primitive(block, "disallow-source"), {"prefix": "10.9.0.0/16"}))
        assert shown["set"] == {"allow": []} and config_of(svc)["allow"] == [], shown
        assert config_of(svc)["max_pps"] == 20.0  # the other keys kept
