"""Config validation (errors name the field), state persistence and the `check` command."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from srchain_proxy.cli import proxy_cli
from srchain_proxy.config import Attachment, ProxyConfig, SidEntry, describe_error, load_config, save_state

BASE = {"sr_iface": "sr0", "sr_next_hop_mac": "02:00:00:00:0a:02", "token_file": "/x/token",
        "listen": "unix:/run/px.sock"}


def error_of(model, data) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe_error(info.value)


@pytest.mark.parametrize(("data", "expected"), [
    ({"sid": 16001, "behaviour": "static", "vnf": "f"}, "restore: a static SID needs at least one label list"),
    ({"sid": 16001, "behaviour": "static", "vnf": "f", "restore": [[]]}, "label lists must not be empty"),
    ({"sid": 15, "behaviour": "static", "vnf": "f", "restore": [[16]]}, "sid: Input should be greater than"),
    ({"sid": 16001, "behaviour": "dynamic", "vnf": "f", "miss_policy": "fallback"}, "fallback: miss_policy"),
    ({"sid": 16001, "behaviour": "dynamic", "vnf": "f", "return_match": "any"}, "return_match: Input should be"),
    ({"sid": 16001, "behaviour": "dynamic", "vnf": "f", "colour": 1}, "colour: Extra inputs are not permitted"),
    ({"sid": 16001, "behaviour": "static", "vnf": "f", "restore": [[16, 2**20]]}, "restore.0.1: Input should be"),
])
def test_sid_entry_errors_name_the_field(data, expected):
    assert expected in error_of(SidEntry, data)


@pytest.mark.parametrize(("data", "expected"), [
    ({"vnf": "x"}, "give iface (shared) or both iface_out and iface_in"),
    ({"vnf": "x", "iface": "a", "iface_in": "b"}, "not both"),
    ({"vnf": "x", "iface": "a", "next_hop": "10.0.0.300"}, "next_hop: Value error, '10.0.0.300' is not an IP"),
    ({"vnf": "x", "iface": "this-name-is-too-long"}, "is not an interface name"),
    ({"vnf": "x", "iface": "a", "mac": "zz"}, "is not a MAC address"),
])
def test_attachment_errors_name_the_field(data, expected):
    assert expected.replace("Value error, ", "") in error_of(Attachment, data)


def test_listen_must_be_unix_or_loopback():
    assert "must be unix:/path or a loopback" in error_of(ProxyConfig, {**BASE, "listen": "0.0.0.0:9000"})
    assert ProxyConfig.model_validate({**BASE, "listen": "127.0.0.1:9000"}).listen == "127.0.0.1:9000"


def test_data_path_settings_are_checked():
    assert "fast_path: Input should be 'auto', 'compiled' or 'python'" in error_of(
        ProxyConfig, {**BASE, "fast_path": "turbo"})
    assert "sr_ring_slots: Input should be a multiple of 32" in error_of(ProxyConfig, {**BASE, "sr_ring_slots": 100})
    assert "sched_fifo: Input should be less than or equal to 99" in error_of(ProxyConfig, {**BASE, "sched_fifo": 100})
    assert "spin_us: Input should be greater than or equal to 0" in error_of(ProxyConfig, {**BASE, "spin_us": -1})
    assert "nice: Input should be greater than or equal to -20" in error_of(ProxyConfig, {**BASE, "nice": -21})
    assert "cpus: List should have at least 1 item" in error_of(ProxyConfig, {**BASE, "cpus": []})
    assert "cpus.1: Input should be greater than or equal to 0" in error_of(ProxyConfig, {**BASE, "cpus": [0, -1]})
    cfg = ProxyConfig.model_validate(BASE)
    assert (cfg.fast_path, cfg.sr_ring_slots, cfg.sched_fifo) == ("auto", 16384, None)
    assert (cfg.spin_us, cfg.cpus, cfg.nice, cfg.workers) == (0, None, None, 1)


def test_duplicates_refused():
    sid = {"sid": 16001, "behaviour": "static", "vnf": "f", "restore": [[16002]]}
    assert "sids[16001]: duplicate SID" in error_of(ProxyConfig, {**BASE, "sids": [sid, sid]})
    att = {"vnf": "f", "iface": "a"}
    assert "duplicate vnf" in error_of(ProxyConfig, {**BASE, "attachments": [att, att]})


def test_state_file_is_written_atomically_and_overrides_config(tmp_path):
    cfg_path = tmp_path / "proxy.yaml"
    cfg_path.write_text(yaml.safe_dump({**BASE, "sids": [
        {"sid": 16001, "behaviour": "static", "vnf": "f", "restore": [[16002]]}]}))
    assert [s.sid for s in load_config(cfg_path).sids] == [16001]
    state = tmp_path / "proxy.yaml.state.json"
    save_state(state, [SidEntry(sid=16009, behaviour="dynamic", vnf="g")], [Attachment(vnf="g", iface="b")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proxy.yaml", "proxy.yaml.state.json"]  # no temp left
    cfg = load_config(cfg_path)
    assert [s.sid for s in cfg.sids] == [16009] and [a.vnf for a in cfg.attachments] == ["g"]
    state.write_text(json.dumps({"sids": [{"sid": 16009, "behaviour": "bogus", "vnf": "g"}]}))
    with pytest.raises(ValueError, match=r"state\.json: behaviour: Input should be 'static' or 'dynamic'"):
        load_config(cfg_path)


def test_state_file_with_float_idle_timeout_still_loads(tmp_path):
    # state files written while idle_timeout_s was a float hold 300.0; the contract now takes whole seconds
    cfg_path = tmp_path / "proxy.yaml"
    cfg_path.write_text(yaml.safe_dump(BASE))
    state = tmp_path / "proxy.yaml.state.json"
    dynamic = {"sid": 16009, "behaviour": "dynamic", "vnf": "g"}
    state.write_text(json.dumps({"sids": [{**dynamic, "idle_timeout_s": 300.0}]}))
    [entry] = load_config(cfg_path).sids
    assert entry.idle_timeout_s == 300 and isinstance(entry.idle_timeout_s, int)
    state.write_text(json.dumps({"sids": [{**dynamic, "idle_timeout_s": 0.5}]}))
    with pytest.raises(ValueError, match=r"state\.json: idle_timeout_s: Input should be a valid integer"):
        load_config(cfg_path)


def test_check_command(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    result = CliRunner().invoke(proxy_cli, ["check", "--config", str(good)])
    assert result.exit_code == 0 and "ok: 0 SIDs, 0 attachments, SR side sr0" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "msd": 0}))
    result = CliRunner().invoke(proxy_cli, ["check", "--config", str(bad)])
    assert result.exit_code == 1 and "msd: Input should be greater than or equal to 1" in result.output


@pytest.mark.parametrize("value", [0, 4095, True, "100", 100.0])
def test_sr_vlan_is_a_strict_vlan_id(value):
    assert error_of(ProxyConfig, {**BASE, "sr_vlan": value}).startswith("sr_vlan: ")


def test_sr_vlan_defaults_to_untagged():
    assert ProxyConfig.model_validate(BASE).sr_vlan is None
    assert ProxyConfig.model_validate({**BASE, "sr_vlan": 4094}).sr_vlan == 4094
