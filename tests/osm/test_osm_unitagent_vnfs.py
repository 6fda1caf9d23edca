"""Issue 17 (Done when: every charm through day 1 and every day-2 primitive under the unit-agent stand-in): the
classifier, aggregator and mitigation charms run through dispatch (srchain.osm.unitagent), driven by the LCM stand-in
from their VNFD's day1-2 block, against the real service processes on their "VM" reached over a real SSH server, as
a proxy charm in OSM's VCA reaches its VM: the host key ns-create generated for the member (rendered into its
cloud-init as LCM renders it, presented by the server, pinned by `config`), N2VC's key steps (generate-ssh-key,
get-ssh-public-key, the key put on the VM, verify-ssh-credentials inside `config` and inserted after it). Each
primitive is checked on the service (its config file, its process, its HTTP views) and shown to have crossed SSH;
each refusal by its message and an unchanged service. The formatter's primitives are in test_osm_unitagent.py; the
mitigation needs root (its legs are veths and raw sockets)."""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from osm_sshd import SshLab
from osm_unitlab import config_of, day12, output, primitive, service, start, udp_endpoints, unit_of, vm_of
from osmlib import REPO

from srchain.osm.unitagent.lcm import VERIFY, ExecutionEnvironment, Lcm
from srchain_contracts.records import FlowKey, TrafficClass, WindowLabel, ip_to_int
from waiting import wait_until

KEY = FlowKey(ip_to_int("10.0.1.10"), ip_to_int("10.0.2.10"), 5000, 5000, 17)


def _day1(staged: dict[str, Path], charm_python: tuple[str, str], svc: dict[str, Any], vnfd: str, member: str,
          vm: SshLab, params: dict[str, Any], root: Path) -> tuple[Lcm, ExecutionEnvironment]:
    """Deploy (install → leader-elected → config-changed → start), then LCM's day 1 from the VNFD with the VM at
    127.0.0.1 (`rw_mgmt_ip`): the unit's key fetched and put on the VM, `config` (N2VC's verify inside), the
    inserted verify-ssh-credentials, the VNFD's initial primitives; every one of them over SSH."""
    unit = unit_of(staged, charm_python, f"srchain-{vnfd}", member, root,
                   config={"service-config": str(svc["cfg"]), "restart-command": svc["restart"],
                           "ssh-port": str(vm.port)})
    ee = ExecutionEnvironment(unit, member, day12(vnfd), {**params, "rw_mgmt_ip": "127.0.0.1"})
    lcm = Lcm(verify_retries=3, verify_retry_interval_s=0.05)
    lcm.deploy(ee)
    assert unit.hooks_run == ["install", "leader-elected", "config-changed", "start"]
    assert vm.commands == []  # nothing reached the VM before day 1 gave the charm its address
    lcm.instantiate(ee, inject_key=vm.authorize)
    assert all(s.ok for s in ee.steps), ee.steps
    assert [s.primitive for s in ee.steps[:3]] == [VERIFY, "config", VERIFY]
    assert ee.steps[1].params == {"ssh-hostname": "127.0.0.1", "ssh-username": "srchain",
                                  "ssh-host-key": params["ssh_host_key_pub"]}
    assert ee.steps[2].detail == f'{{"output": "ssh srchain@127.0.0.1:{vm.port}: logged in, host key verified"}}'
    assert unit.status == ("active", f"{vnfd} ok"), unit.status
    return lcm, ee


def _initial(ee: ExecutionEnvironment) -> list[str]:
    """The day-1 steps after LCM's key checks: the VNFD's initial primitives."""
    return [s.primitive for s in ee.steps[3:]]


def _ssh(vm: SshLab, lcm: Lcm, ee: ExecutionEnvironment, block: dict[str, Any], name: str,
         params: dict[str, Any]) -> tuple[str, str]:
    """`lcm.action` of the VNFD's primitive `name`, asserted to have logged in to the VM and run something there."""
    before = len(vm.commands)
    result = lcm.action(ee, primitive(block, name), params)
    assert len(vm.commands) > before, (name, result)
    return result


def _pid(svc: dict[str, Any]) -> int:
    return int(svc["pid"].read_text())


def _ok(result: tuple[str, str]) -> Any:
    state, out = result
    assert state == "COMPLETED", out
    return output(out)


def test_classifier_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    with service(tmp_path / "svc", "classifier", {**udp_endpoints(), "model": str(tmp_path / "old.json")}) as svc, \
            vm_of("classifier", "classifier-a", tmp_path / "vm") as (vm, params):
        shutil.copy(REPO / "vnfs/srchain_vnfs/models/classifier.json", tmp_path / "old.json")
        booted = start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "classifier", "classifier-a", vm, params, tmp_path / "unit")
        block = day12("classifier")
        # day 1's load-model `default` (render-nsd's value): the model shipped with the service, restarted on it
        assert _initial(ee) == ["load-model"]
        assert config_of(svc)["model"] is None and _pid(svc) != booted

        model = tmp_path / "retrained.json"
        shutil.copy(REPO / "vnfs/srchain_vnfs/models/classifier.json", model)
        before = _pid(svc)
        shown = _ok(_ssh(vm, lcm, ee, block, "load-model", {"model": str(model)}))
        assert shown == {"service": "classifier", "set": {"model": str(model)}, "status": "ok"}
        assert config_of(svc)["model"] == str(model) and _pid(svc) != before  # restarted on the new model

        # a model the service cannot load: it exits at start, the charm puts the previous config back and restarts
        # the service on it (the service's config model cannot see that ahead: any path is a valid `model`)
        text = svc["cfg"].read_text()
        state, out = _ssh(vm, lcm, ee, block, "load-model", {"model": str(tmp_path / "missing.json")})
        assert (state, out) == ("FAILED", f"Error executing primitive load-model in ee={ee.ee_id}: failed: "
                                          f"restart-command exited 1: classifier exited at start (see {svc['log']}); "
                                          "the previous config is back and running"), out
        assert svc["cfg"].read_text() == text

        # a datagram that is no feature vector: the service counts it, show-counters reads it back
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"not a vector", ("127.0.0.1", config_of(svc)["listen"]["port"]))
        counters = wait_until(lambda: (c := _ok(_ssh(vm, lcm, ee, block, "show-counters", {})))["counters"]
                              .get("received") and c, 10, what="the classifier counts the datagram")
        assert counters["service"] == "classifier" and counters["status"] == "ok", counters
        assert sum(n for k, n in counters["counters"].items() if k.startswith("dropped:")) == 1, counters

        before = _pid(svc)
        assert _ok(_ssh(vm, lcm, ee, block, "restart-service", {})) == {"service": "classifier", "status": "ok"}
        assert _pid(svc) != before


def test_aggregator_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    with service(tmp_path / "svc", "aggregator", {**udp_endpoints(), "agree": 3}) as svc, \
            vm_of("aggregator", "aggregator", tmp_path / "vm") as (vm, params):
        start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "aggregator", "aggregator", vm, params, tmp_path / "unit")
        block = day12("aggregator")
        assert _initial(ee) == []

        # set-hysteresis without quiet-timeout-s: LCM fills the VNFD's default-value '30' (an INTEGER)
        before = _pid(svc)
        shown = _ok(_ssh(vm, lcm, ee, block, "set-hysteresis", {"agree-windows": "2"}))
        assert shown == {"service": "aggregator", "set": {"agree": 2, "idle_timeout_s": 30.0}, "status": "ok"}
        assert (config_of(svc)["agree"], config_of(svc)["idle_timeout_s"]) == (2, 30.0) and _pid(svc) != before

        # refused by the service's own config model: the file and the process are left as they were
        text, pid = svc["cfg"].read_text(), _pid(svc)
        state, out = _ssh(vm, lcm, ee, block, "set-hysteresis", {"agree-windows": "0", "quiet-timeout-s": "5"})
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
        shown = wait_until(lambda: (d := _ok(_ssh(vm, lcm, ee, block, "show-decisions", {})))["sessions"]
                           and d, 10, what="the aggregator shows the session")
        (row,) = shown["decisions"]
        assert row["class_name"] == "cloud_gaming" and row["flow"]["ip_a"] == "10.0.1.10", row
        counters = _ok(_ssh(vm, lcm, ee, block, "show-counters", {}))
        assert counters["service"] == "aggregator" and counters["counters"]["received"] == 2, counters

        before = _pid(svc)
        assert _ok(_ssh(vm, lcm, ee, block, "restart-service", {})) == {"service": "aggregator", "status": "ok"}
        assert _pid(svc) != before


@pytest.mark.netns
def test_mitigation_day1_and_every_day2_primitive_through_dispatch(staged: dict[str, Path],
                                                                   charm_python: tuple[str, str],
                                                                   veths: tuple[str, str, str],
                                                                   tmp_path: Path) -> None:
    in_if, out_if, sender = veths
    cfg = {"in_iface": in_if, "out_iface": out_if, "window_s": 1.0, "block_s": 60, "max_pps": 1, "max_fan_in": 1}
    with service(tmp_path / "svc", "mitigation", cfg) as svc, \
            vm_of("mitigation", "mitigation", tmp_path / "vm") as (vm, params):
        start(svc)
        lcm, ee = _day1(staged, charm_python, svc, "mitigation", "mitigation", vm, params, tmp_path / "unit")
        block = day12("mitigation")
        # day 1's set-thresholds with render-nsd's values, INTEGER parameters mapped by LCM
        assert _initial(ee) == ["set-thresholds"]
        assert ee.steps[3].params == {"rate-pps": 10000, "fan-in": 100}
        assert (config_of(svc)["max_pps"], config_of(svc)["max_fan_in"]) == (10000.0, 100)

        _ok(_ssh(vm, lcm, ee, block, "set-thresholds", {"rate-pps": "20", "fan-in": "50"}))
        assert (config_of(svc)["max_pps"], config_of(svc)["max_fan_in"]) == (20.0, 50)
        shown = _ok(_ssh(vm, lcm, ee, block, "allow-source", {"prefix": "10.9.1.7/16"}))
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
            state, out = lcm.action(ee, primitive(block, name), given)  # a bad prefix: refused before any login
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
        shown = wait_until(lambda: (b := _ok(_ssh(vm, lcm, ee, block, "show-blocked", {})))["blocked"] and b,
                           10, what="the mitigation blocks the flooding source")
        (row,) = shown["blocked"]
        assert (row["source"], row["reason"]) == ("10.66.0.9", "rate"), row
        assert shown["allow"] == ["10.9.0.0/16"] and shown["thresholds"]["max_pps"] == 20, shown
        counters = _ok(_ssh(vm, lcm, ee, block, "show-counters", {}))["counters"]
        assert counters["dropped:rate"] + counters.get("dropped:blocked", 0) >= 1, counters

        shown = _ok(_ssh(vm, lcm, ee, block, "disallow-source", {"prefix": "10.9.0.0/16"}))
        assert shown["set"] == {"allow": []} and config_of(svc)["allow"] == [], shown
        assert config_of(svc)["max_pps"] == 20.0  # the other keys kept
