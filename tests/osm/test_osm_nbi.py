"""`srchain osm onboard | ns-create | ns-action | ns-status` over real HTTP against the NBI stand-in
(plugin/srchain/osm/nbi_standin.py, NOT OSM), and every rule the stand-in enforces."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from osmlib import NS_CONFIG, REPO

from srchain.model.load import load_inventory
from srchain.osm import ns_hostkeys
from srchain.osm.cli import osm_cli
from srchain.osm.im import ImValidator
from srchain.osm.nbi import Credentials, NbiClient, NbiError
from srchain.osm.nbi_standin import StandinNbi, StandinServer
from srchain.osm.package import build_package
from srchain.osm.pdu import pdu_descriptors
from srchain.osm.render import render_files
from srchain.osm.validate import load_params

PASSWORD = "s3cret-pass-word"


@pytest.fixture(scope="module")
def packages(built_packages: list[Path]) -> dict[str, Path]:
    return {p.name.removesuffix(".tar.gz"): p for p in built_packages}  # built once per session (conftest)


@pytest.fixture
def server(im: ImValidator) -> Iterator[StandinServer]:
    calls: list[tuple[str, str | None, str, dict[str, Any]]] = []

    def on_action(ns: str, member: str | None, primitive: str, params: dict[str, Any]) -> dict[str, Any]:
        calls.append((ns, member, primitive, params))
        if primitive == "remove-segment":
            raise RuntimeError(f"no segment named '{params['name']}'")
        return {"output": f"{primitive} ran"}

    nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"], im=im, op_delay_s=0.05, on_action=on_action)
    with nbi.serve() as srv:
        srv.calls = calls  # type: ignore[attr-defined]
        yield srv


def _client(server: StandinServer, password: str = PASSWORD) -> NbiClient:
    return NbiClient(Credentials(server.url, "admin", password))


def _env(server: StandinServer) -> dict[str, str]:
    return {"OSM_HOSTNAME": server.url, "OSM_USER": "admin", "OSM_PASSWORD": PASSWORD, "OSM_PROJECT": "admin"}


def _raw(server: StandinServer, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _pdu_file(tmp: Path) -> Path:
    inv, _ = load_inventory(REPO / "examples/inventory.yaml")
    path = tmp / "s1_pdu.yaml"
    path.write_text(yaml.safe_dump(pdu_descriptors(inv, ["vim-1"])["s1"]))
    return path


def _onboard_all(server: StandinServer, packages: dict[str, Path], tmp: Path, pdu: bool = True) -> None:
    args = ["onboard", *map(str, packages.values()), "--via", "nbi"]
    if pdu:
        args += ["--pdu", str(_pdu_file(tmp))]
    result = CliRunner().invoke(osm_cli, args, env=_env(server))
    assert result.exit_code == 0, result.output


def _ns_create(server: StandinServer, name: str = "cg", config: Path = NS_CONFIG) -> Any:
    return CliRunner().invoke(osm_cli, ["ns-create", "--ns-name", name, "--nsd-name", "srchain-cloud-gaming",
                                        "--vim-account", "vim-1", "--config-file", str(config), "--via", "nbi",
                                        "--timeout", "10"], env=_env(server))


def test_onboard_create_act_and_status_end_to_end(server: StandinServer, packages: dict[str, Path],
                                                  tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path)
    created = _ns_create(server)
    assert created.exit_code == 0, created.output
    assert "COMPLETED: Done (stand-in: day-1 primitives are not executed)" in created.output
    runner = CliRunner()
    ns_action = runner.invoke(osm_cli, ["ns-action", "cg", "--action-name", "show-chain", "--via", "nbi"],
                              env=_env(server))
    assert ns_action.exit_code == 0, ns_action.output
    assert 'COMPLETED: {"output": "show-chain ran"}' in ns_action.output
    vnf_action = runner.invoke(osm_cli, ["ns-action", "cg", "--vnf-name", "px1", "--action-name", "remove-sid",
                                         "--params", "{sid: 16001}", "--via", "nbi"], env=_env(server))
    assert vnf_action.exit_code == 0, vnf_action.output
    assert server.calls == [("cg", None, "show-chain", {}),  # type: ignore[attr-defined]
                            ("cg", "px1", "remove-sid", {"sid": 16001, "version": -1})]
    status = runner.invoke(osm_cli, ["ns-status", "cg", "--via", "nbi"], env=_env(server))
    assert status.exit_code == 0, status.output
    assert ": READY" in status.output.splitlines()[0]
    assert [line.split()[0] for line in status.output.splitlines()[1:]] == ["instantiate", "action", "action"]
    assert PASSWORD not in created.output + ns_action.output + status.output


def test_failed_primitive_fails_the_operation_and_the_command(server: StandinServer, packages: dict[str, Path],
                                                             tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path)
    assert _ns_create(server).exit_code == 0
    result = CliRunner().invoke(osm_cli, ["ns-action", "cg", "--action-name", "remove-segment", "--params",
                                          "{name: ghost}", "--via", "nbi"], env=_env(server))
    assert result.exit_code == 1
    assert "FAILED: remove-segment: no segment named 'ghost'" in result.output


@pytest.mark.parametrize(("args", "status", "detail"), [
    # the NBI's own texts (NBI instance_topics.py NsLcmOpTopic._check_action_ns_operation)
    (["--action-name", "show-chains"], "400 BAD_REQUEST", "Invalid primitive 'show-chains' is not present at vnfd/nsd"),
    (["--action-name", "reconfigure-chain"], "400 BAD_REQUEST",
     "Needed parameter spec not provided for primitive 'reconfigure-chain'"),
    (["--action-name", "show-chain", "--params", "{verbose: true}"], "400 BAD_REQUEST",
     "parameter/s '['verbose']' not present at vnfd /nsd for primitive 'show-chain'"),
    (["--vnf-name", "px9", "--action-name", "show-sids"], "400 BAD_REQUEST",
     "Invalid parameter member_vnf_index='px9' is not one of the nsd:constituent-vnfd"),
    (["--vnf-name", "px1", "--action-name", "load-model"], "400 BAD_REQUEST",
     "Invalid primitive 'load-model' is not present at vnfd/nsd"),
    # LCM calls it after `config` (ssh-access); it is no config-primitive, so no ns-action reaches it
    (["--vnf-name", "formatter", "--action-name", "verify-ssh-credentials"], "400 BAD_REQUEST",
     "Invalid primitive 'verify-ssh-credentials' is not present at vnfd/nsd"),
])
def test_action_requests_are_checked_against_the_descriptors(server: StandinServer, packages: dict[str, Path],
                                                             tmp_path: Path, args: list[str], status: str,
                                                             detail: str) -> None:
    _onboard_all(server, packages, tmp_path)
    assert _ns_create(server).exit_code == 0
    result = CliRunner().invoke(osm_cli, ["ns-action", "cg", *args, "--via", "nbi"], env=_env(server))
    assert result.exit_code == 1
    assert f"{status}: {detail}" in result.output, result.output
    assert server.calls == []  # type: ignore[attr-defined]


def _standin_ns(server: StandinServer, packages: dict[str, Path], tmp: Path) -> str:
    _onboard_all(server, packages, tmp)
    assert _ns_create(server).exit_code == 0
    return next(iter(server.nbi.nss))


@pytest.mark.parametrize(("member", "primitive", "params", "passed"), [
    # optional parameters left out: the NBI accepts the call, LCM passes the default-value to the charm
    ("px1", "remove-sid", {"sid": 16001}, {"sid": 16001, "version": -1}),
    ("s1", "show-tables", {}, {"table": "*"}),
    (None, "add-segment", {"segment": "{name: m}"}, {"segment": "{name: m}", "after": "-"}),
    ("aggregator", "set-hysteresis", {"agree-windows": "3"}, {"agree-windows": 3, "quiet-timeout-s": 30}),
    ("px1", "remove-sid", {"sid": 16001, "version": 2}, {"sid": 16001, "version": 2}),
])
def test_optional_parameters_take_their_default_value(server: StandinServer, packages: dict[str, Path],
                                                      tmp_path: Path, member: str | None, primitive: str,
                                                      params: dict[str, Any], passed: dict[str, Any]) -> None:
    _standin_ns(server, packages, tmp_path)
    client = _client(server)
    op = client.wait(client.ns_action("cg", primitive, params, member), 10)
    assert op["operationState"] == "COMPLETED", op
    assert server.calls == [("cg", member, primitive, passed)]  # type: ignore[attr-defined]


def test_every_action_needs_primitive_params(server: StandinServer, packages: dict[str, Path], tmp_path: Path) -> None:
    ns_id = _standin_ns(server, packages, tmp_path)
    token = _client(server).token()
    status, body = _raw(server, "POST", f"/osm/nslcm/v1/ns_instances/{ns_id}/action",
                        json.dumps({"primitive": "show-chain"}).encode(),
                        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 422 and body["detail"] == "action: 'primitive_params' is a required property", body
    assert server.calls == []  # type: ignore[attr-defined]


def test_an_integer_parameter_that_is_no_integer_fails_the_operation(server: StandinServer,
                                                                     packages: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    _standin_ns(server, packages, tmp_path)
    client = _client(server)
    op = client.wait(client.ns_action("cg", "remove-sid", {"sid": "x"}, "px1"), 10)  # NBI accepts, LCM converts
    assert (op["operationState"], op["detailed-status"]) == ("FAILED", "Parameter sid of primitive remove-sid "
                                                                       "must be integer")
    assert server.calls == []  # type: ignore[attr-defined]


def test_ns_needs_a_free_pdu_and_releases_it_on_delete(server: StandinServer, packages: dict[str, Path],
                                                       tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path, pdu=False)
    result = _ns_create(server)
    assert result.exit_code == 1
    vim_id = next(iter(server.nbi.vims))
    assert (f"400 BAD_REQUEST: No PDU of type=srchain-tofino-s1 at vim_account={vim_id} found for member_vnf_index=s1, "
            "vdu=tofino matching interface names") in result.output  # the NBI's text (NsrTopic._look_for_pdu)
    assert server.nbi.nss == {}  # nothing created
    client = _client(server)
    client.pdu_create(yaml.safe_load(_pdu_file(tmp_path).read_text()))
    assert _ns_create(server).exit_code == 0
    second = _ns_create(server, name="cg2")
    assert second.exit_code == 1 and "No PDU of type=srchain-tofino-s1 " in second.output
    assert [p["_admin"]["usageState"] for p in server.nbi.pdus.values()] == ["IN_USE"]
    server.nbi.ns_delete("cg")
    assert [p["_admin"]["usageState"] for p in server.nbi.pdus.values()] == ["NOT_IN_USE"]
    assert _ns_create(server, name="cg2").exit_code == 0


def test_missing_placeholder_is_refused_at_ns_create(server: StandinServer, packages: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """OSM's NBI refuses ns-create at once (400, nothing created, no PDU taken) when an initial-config-primitive's
    whole-value `<name>` has no value in the NS's / the member's additionalParams (NsrTopic._format_additional_params;
    checked against OSM's own NBI, docs/osm.md "Checked against OSM's own NBI"); the stand-in did it in the
    operation, later. A parameter name that is no identifier is refused likewise."""
    _onboard_all(server, packages, tmp_path)
    nsd_id = next(iter(server.nbi.nsds))
    config = yaml.safe_load(NS_CONFIG.read_text())
    del config["additionalParamsForNs"]["chain_spec"]
    broken = tmp_path / "config.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = _ns_create(server, config=broken)
    assert result.exit_code == 1
    assert ("400 BAD_REQUEST: Parameter '<chain_spec>' needed for vnfd[id=srchain-cloud-gaming]:day1-2 configuration:"
            "initial-config-primitive[name=config] not supplied while 'getting nsd id='" + nsd_id + "' from database'"
            ) in result.output, result.output
    assert server.nbi.nss == {} and server.nbi.ops == {}
    assert [p["_admin"]["usageState"] for p in server.nbi.pdus.values()] == ["NOT_IN_USE"]
    # a member's: the VM's host key, which `srchain osm ns-create` generates; a raw request without it is refused
    client = _client(server)
    with pytest.raises(NbiError, match=re.escape(
            "400 BAD_REQUEST: Parameter '<ssh_host_key_pub>' needed for vnfd[id=srchain-sr-proxy]:day1-2 "
            "configuration:initial-config-primitive[name=config] not supplied")):
        client.ns_create("cg", "srchain-cloud-gaming", "vim-1", load_params(NS_CONFIG))
    bad = ns_hostkeys.with_host_keys(load_params(NS_CONFIG))[0]
    bad["additionalParamsForNs"]["9lives"] = "1"
    with pytest.raises(NbiError, match=re.escape(
            "400 BAD_REQUEST: Invalid param name at additionalParamsForNs:9lives. Must contain only alphanumeric "
            "characters and underscores, and cannot start with a digit")):
        client.ns_create("cg", "srchain-cloud-gaming", "vim-1", bad)
    assert server.nbi.nss == {}


def test_a_failed_instantiation_leaves_a_broken_ns_that_takes_actions(server: StandinServer,
                                                                      packages: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """A cloud-init variable is not checked by the NBI; LCM stops the instantiation on it: FAILED, BROKEN."""
    _onboard_all(server, packages, tmp_path)
    config = yaml.safe_load(NS_CONFIG.read_text())
    formatter = next(v for v in config["additionalParamsForVnf"] if v["member-vnf-index"] == "formatter")
    del formatter["additionalParams"]["vlan_netplan"]
    broken = tmp_path / "config.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = _ns_create(server, config=broken)
    assert result.exit_code == 1
    assert "FAILED: {{ vlan_netplan }} in the cloud-init has no value for vnf-profile 'formatter'" in result.output
    assert server.nbi.ns_view("cg")["nsState"] == "BROKEN"
    # the NBI refuses actions only while NOT_INSTANTIATED: a BROKEN NS takes them (e.g. to repair it)
    action = CliRunner().invoke(osm_cli, ["ns-action", "cg", "--action-name", "show-chain", "--via", "nbi"],
                                env=_env(server))
    assert action.exit_code == 0 and 'COMPLETED: {"output": "show-chain ran"}' in action.output, action.output


def test_actions_are_refused_while_not_instantiated(im: ImValidator, packages: dict[str, Path],
                                                    tmp_path: Path) -> None:
    nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"], im=im, op_delay_s=3600)  # LCM has not started instantiating
    with nbi.serve() as srv:
        _onboard_all(srv, packages, tmp_path)
        client = _client(srv)
        ns_id, _ = client.ns_create("cg", "srchain-cloud-gaming", "vim-1",
                                    ns_hostkeys.with_host_keys(load_params(NS_CONFIG))[0])
        assert nbi.ns_view("cg")["_admin"] == {"nsState": "NOT_INSTANTIATED"}
        with pytest.raises(NbiError, match=f"409 CONFLICT: ns_instance '{ns_id}' cannot be 'action' because it "
                                           "is not instantiated"):
            client.ns_action("cg", "show-chain", {})


def test_ns_status_reads_operations_from_ns_lcm_op_occs(server: StandinServer, packages: dict[str, Path],
                                                       tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path)
    assert _ns_create(server).exit_code == 0
    client = _client(server)
    client.wait(client.ns_action("cg", "show-chain", {}), 10)
    cg = client.ns_id("cg")
    record = client._request("GET", f"/osm/nslcm/v1/ns_instances/{cg}")
    assert "operations" not in record  # as a real NS record: the operations are ns_lcm_op_occs
    ops = client._request("GET", f"/osm/nslcm/v1/ns_lcm_op_occs?nsInstanceId={cg}")
    assert [(o["lcmOperationType"], o["operationState"], o["nsInstanceId"]) for o in ops] == [
        ("instantiate", "COMPLETED", cg), ("action", "COMPLETED", cg)]
    assert client._request("GET", "/osm/nslcm/v1/ns_lcm_op_occs?nsInstanceId=other") == []
    status = client.ns_status("cg")
    assert [o["_id"] for o in status["operations"]] == [o["_id"] for o in ops]


def test_ns_create_schema(server: StandinServer, packages: dict[str, Path], tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path)
    client = _client(server)
    with pytest.raises(NbiError, match="ns: additional property 'additionalParamsForNS' is not allowed"):
        client.ns_create("x", "srchain-cloud-gaming", "vim-1", {"additionalParamsForNS": {}})
    with pytest.raises(NbiError, match=r"additionalParamsForVnf\[0\]: 'member-vnf-index' is a required property"):
        client.ns_create("x", "srchain-cloud-gaming", "vim-1", {"additionalParamsForVnf": [{"additionalParams": {}}]})
    with pytest.raises(NbiError, match="member-vnf-index: 'switch' is not a vnf-profile of NSD"):
        client.ns_create("x", "srchain-cloud-gaming", "vim-1",
                         {"additionalParamsForVnf": [{"member-vnf-index": "switch"}]})
    with pytest.raises(NbiError, match="VIM account 'vim-9' not found"):
        client.ns_create("x", "srchain-cloud-gaming", "vim-9", {})
    assert server.nbi.nss == {}
    assert all(p["_admin"]["usageState"] == "NOT_IN_USE" for p in server.nbi.pdus.values())


def test_each_nbi_release_takes_its_own_nsd_rendering(im: ImValidator, packages: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """The 2025 NBI (NsdTopic.validate_vnffgd_data) refuses the Release 14 rendering's vnffgd with Python's error
    (checked against OSM's own NBI: the same 400); the 15+ rendering has no vnffgd and is taken. On a Release 15
    stand-in (no such NBI check) the 14 rendering onboards but the instantiation fails, as RO would deploy its
    vnffgd; the 15+ rendering instantiates."""
    def ns_package(osm_release: int) -> Path:
        root = tmp_path / f"r{osm_release}"
        render_files(REPO / "examples/cloud-gaming.yaml", REPO / "examples/inventory.yaml", osm_release).write(root)
        return build_package(root / "nsd/cloud-gaming", tmp_path / f"p{osm_release}", None, [REPO / "charms"],
                             validate=False, venv=False)

    def onboard_vnfs_and_pdu(srv: StandinServer, nbi: StandinNbi) -> NbiClient:
        client = _client(srv)
        for name, pkg in packages.items():
            if name.endswith("_vnf"):
                client.onboard(pkg)
        client.pdu_create(yaml.safe_load(_pdu_file(tmp_path).read_text()))
        return client

    nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"], im=im, osm_release=16)
    with nbi.serve() as srv:
        client = onboard_vnfs_and_pdu(srv, nbi)
        with pytest.raises(NbiError) as refused:
            client.onboard(ns_package(14))
        assert "400 BAD_REQUEST: 'NoneType' object is not subscriptable" in str(refused.value)
        assert nbi.nsds == {}
        client.onboard(ns_package(16))
        assert [d.ident for d in nbi.nsds.values()] == ["srchain-cloud-gaming"]
    params = ns_hostkeys.with_host_keys(load_params(NS_CONFIG))[0]
    for release, rendered, outcome in ((15, 14, "FAILED"), (15, 15, "COMPLETED"), (14, 14, "COMPLETED")):
        nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"], im=im, osm_release=release, op_delay_s=0.0)
        with nbi.serve() as srv:
            client = onboard_vnfs_and_pdu(srv, nbi)
            client.onboard(ns_package(rendered))
            _, op_id = client.ns_create("cg", "srchain-cloud-gaming", "vim-1", params)
            op = client.wait(op_id, timeout_s=10)
            assert op["operationState"] == outcome, (release, rendered, op)
            if outcome == "FAILED":
                assert op["detailed-status"].startswith("NSD 'srchain-cloud-gaming' has a vnffgd: RO of Release 15 "
                                                        "and later deploys it as service function chaining")


def test_token_auth(server: StandinServer) -> None:
    with pytest.raises(NbiError) as e:
        _client(server, password="wrong-password").token()
    assert str(e.value) == "OSM NBI POST /osm/admin/v1/tokens: 401 UNAUTHORIZED: Invalid username/password"
    assert "wrong-password" not in str(e.value)
    status, body = _raw(server, "GET", "/osm/nslcm/v1/ns_instances")
    assert status == 401 and body["detail"] == "Not possible to get authorization token"
    status, body = _raw(server, "GET", "/osm/nslcm/v1/ns_instances", headers={"Authorization": "Bearer forged"})
    assert status == 401 and body["detail"] == "Invalid Token or Authorization HTTP header"
    assert _client(server).token()


def _upload(server: StandinServer, data: bytes, md5: str | None = None, kind: str = "vnf",
            content_type: str = "application/gzip") -> tuple[int, dict[str, Any]]:
    token = _client(server).token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type, "Content-Filename": "p.tar.gz"}
    if md5 != "":
        headers["Content-File-MD5"] = md5 or hashlib.md5(data, usedforsecurity=False).hexdigest()
    path = "/osm/vnfpkgm/v1/vnf_packages_content" if kind == "vnf" else "/osm/nsd/v1/ns_descriptors_content"
    return _raw(server, "POST", path, data, headers)


def _tar(tmp: Path, files: dict[str, bytes]) -> bytes:
    path = tmp / "pkg.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            src = tmp / "member"
            src.write_bytes(data)
            tar.add(src, arcname=name)
    return path.read_bytes()


def test_upload_rules(server: StandinServer, packages: dict[str, Path], tmp_path: Path) -> None:
    good = packages["srchain-sr-proxy_vnf"].read_bytes()
    status, body = _upload(server, good, md5="0" * 32)
    assert status == 422 and body["detail"].startswith("MD5 mismatch: Content-File-MD5 " + "0" * 32)
    status, body = _upload(server, good, md5="")
    assert status == 422 and body["detail"] == "Content-File-MD5 header is required for a package upload"
    status, body = _upload(server, good, content_type="text/plain")
    assert status == 422 and "Content-Type must be application/gzip" in body["detail"]
    vnfd = (REPO / "vnfd/sr-proxy/sr-proxy_vnfd.yaml").read_bytes()
    two_tops = _tar(tmp_path, {"a/x_vnfd.yaml": vnfd, "b/y.txt": b"y"})
    status, body = _upload(server, two_tops)
    assert status == 422 and "all files must be inside one top directory (found: a, b)" in body["detail"]
    two_yaml = _tar(tmp_path, {"a/x_vnfd.yaml": vnfd, "a/y.yaml": b"k: v"})
    status, body = _upload(server, two_yaml)
    assert status == 422
    assert "exactly one descriptor (.yaml/.yml/.json) must sit directly in a/, found 2" in body["detail"]
    no_sums = _tar(tmp_path, {"a/x_vnfd.yaml": vnfd})
    status, body = _upload(server, no_sums)
    assert status == 422 and "[package.checksums] checksums.txt is missing" in body["detail"]
    status, body = _upload(server, packages["srchain-cloud-gaming_ns"].read_bytes(), kind="ns")
    assert status == 422 and body["detail"].startswith("NSD 'srchain-cloud-gaming' references VNFD(s) not onboarded: ")
    status, body = _upload(server, good, kind="ns")
    assert status == 422 and body["detail"] == "package holds a vnfd, but this endpoint takes a nsd"
    assert server.nbi.vnfds == {} and server.nbi.nsds == {}  # nothing half-onboarded
    status, body = _upload(server, good)
    assert status == 201 and body["id"]
    status, body = _upload(server, good)
    assert status == 409 and body["detail"] == "vnfd with id 'srchain-sr-proxy' already exists for this project"


def test_upload_runs_osm_im_validation(server: StandinServer, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    data = yaml.safe_load((REPO / "vnfd/tofino-s1/tofino-s1_vnfd.yaml").read_text())
    data["vnfd"]["bogus-leaf"] = 1
    (folder / "bad_vnfd.yaml").write_text(yaml.safe_dump(data))
    pkg = build_package(folder, tmp_path / "out", None, validate=False, venv=False)
    status, body = _upload(server, pkg.read_bytes())
    assert status == 422
    assert body["detail"].startswith("descriptor srchain-tofino-s1 is not valid OSM IM: ")
    assert "bogus-leaf" in body["detail"]


@pytest.mark.parametrize(("pdu", "detail"), [
    ({"name": "s1", "type": "t"}, "pdu: 'interfaces' is a required property"),
    ({"name": "s1", "type": "t", "interfaces": [{"name": "mgmt", "mgmt": True}]},
     "pdu.interfaces[0]: 'ip-address' is a required property"),
    ({"name": "s1", "type": "t", "interfaces": [{"name": "mgmt", "mgmt": "yes", "ip-address": "10.0.0.1"}]},
     "pdu.interfaces[0].mgmt: 'yes' is not of type"),
    ({"name": "s1", "type": "t", "interfaces": [{"name": "mgmt", "mgmt": True, "ip-address": "ten"}]},
     "pdu.interfaces[0].ip-address: 'ten' is not an IP address"),
    ({"name": "s1", "type": "t", "interfaces": [{"name": "m", "mgmt": True, "ip-address": "10.0.0.1"}],
      "vim_accounts": [7]}, "pdu.vim_accounts[0]: 7 is not of type string"),
])
def test_pdu_schema(server: StandinServer, pdu: dict[str, Any], detail: str) -> None:
    headers = {"Authorization": f"Bearer {_client(server).token()}", "Content-Type": "application/json"}
    status, body = _raw(server, "POST", "/osm/pdu/v1/pdu_descriptors", json.dumps(pdu).encode(), headers)
    assert (status, body["code"]) == (422, "UNPROCESSABLE_ENTITY")
    assert detail in body["detail"]
    assert server.nbi.pdus == {}


def test_client_resolves_vim_account_names(server: StandinServer) -> None:
    pdu = {"name": "s1", "type": "t", "interfaces": [{"name": "m", "mgmt": True, "ip-address": "10.0.0.1"}]}
    with pytest.raises(NbiError, match="VIM account 'vim-7' not found in OSM"):
        _client(server).pdu_create({**pdu, "vim_accounts": ["vim-7"]})
    _client(server).pdu_create({**pdu, "vim_accounts": ["vim-1"]})
    assert [p["vim_accounts"] for p in server.nbi.pdus.values()] == [list(server.nbi.vims)]


def test_a_pdu_registered_with_a_vim_name_never_matches(server: StandinServer, packages: dict[str, Path],
                                                      tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path, pdu=False)
    pdu = yaml.safe_load(_pdu_file(tmp_path).read_text())
    headers = {"Authorization": f"Bearer {_client(server).token()}", "Content-Type": "application/json"}
    status, _ = _raw(server, "POST", "/osm/pdu/v1/pdu_descriptors", json.dumps(pdu).encode(), headers)
    assert status == 201  # the NBI stores vim_accounts as given ...
    assert [p["vim_accounts"] for p in server.nbi.pdus.values()] == [["vim-1"]]
    result = _ns_create(server)  # ... and looks PDUs up by the VIM account's id
    assert result.exit_code == 1 and "No PDU of type=srchain-tofino-s1 " in result.output


def test_osmclient_path_registers_pdus_with_vim_account_ids(server: StandinServer, packages: dict[str, Path],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[list[str], Any]] = []

    def fake_osm(cmd: list[str], creds: Credentials, timeout_s: float = 600) -> str:
        descriptor = yaml.safe_load(Path(cmd[-1]).read_text()) if cmd[1] == "pdu-create" else None
        sent.append((cmd[:2], descriptor))
        return "ok"

    monkeypatch.setattr("srchain.osm.cli._use_osmclient", lambda via: True)
    monkeypatch.setattr("srchain.osm.nbi.run_osm", fake_osm)
    pdu_file = _pdu_file(tmp_path)
    result = CliRunner().invoke(osm_cli, ["onboard", str(packages["srchain-formatter_vnf"]), "--pdu", str(pdu_file),
                                          "--via", "osmclient"], env=_env(server))
    assert result.exit_code == 0, result.output
    assert sent[0][0] == ["osm", "pdu-create"] and sent[0][1]["vim_accounts"] == list(server.nbi.vims)
    assert sent[0][1] == {**yaml.safe_load(pdu_file.read_text()), "vim_accounts": list(server.nbi.vims)}
    assert sent[1] == (["osm", "vnfpkg-create"], None)
    assert yaml.safe_load(pdu_file.read_text())["vim_accounts"] == ["vim-1"]  # the operator's file is unchanged


def test_dry_run_prints_the_osm_commands(packages: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    pkgs = [packages["srchain-cloud-gaming_ns"], packages["srchain-sr-proxy_vnf"]]
    pdu = _pdu_file(tmp_path)
    out = runner.invoke(osm_cli, ["onboard", *map(str, pkgs), "--pdu", str(pdu), "--dry-run"], env={})
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [f"osm pdu-create --descriptor_file {pdu}",
                                       f"osm vnfpkg-create {pkgs[1]}", f"osm nspkg-create {pkgs[0]}"]
    out = runner.invoke(osm_cli, ["ns-create", "--ns-name", "cg", "--nsd-name", "srchain-cloud-gaming",
                                  "--vim-account", "vim-1", "--config-file", str(NS_CONFIG), "--dry-run"])
    assert out.output.splitlines() == [
        f"osm ns-create --ns_name cg --nsd_name srchain-cloud-gaming --vim_account vim-1 --config_file {NS_CONFIG} "
        "--wait", "# with a host key pair generated per VM member at ns-create, in a private copy of the config file "
        "(docs/osm.md, Day 1 unattended)"]
    out = runner.invoke(osm_cli, ["ns-action", "cg", "--vnf-name", "px1", "--action-name", "remove-sid",
                                  "--params", "{sid: 16001}", "--dry-run"])
    assert out.output.strip() == ("osm ns-action cg --action_name remove-sid --vnf_name px1 "
                                  "--params '{\"sid\": 16001}' --wait")
    out = runner.invoke(osm_cli, ["ns-status", "cg", "--dry-run"])
    assert out.output.splitlines() == ["osm ns-show cg", "osm ns-op-list cg"]


def test_credentials(tmp_path: Path) -> None:
    with pytest.raises(NbiError, match="no OSM password: set OSM_PASSWORD"):
        Credentials.load(env={"OSM_HOSTNAME": "10.0.0.1"})
    creds = Credentials.load(env={"OSM_HOSTNAME": "10.0.0.1", "OSM_PASSWORD": "pw-123456"})
    assert creds.url == "https://10.0.0.1:9999" and creds.user == "admin" and creds.project == "admin"
    assert "pw-123456" not in repr(creds)
    (tmp_path / "pw").write_text("from-file-pw\n")
    f = tmp_path / "osm.yaml"
    f.write_text(yaml.safe_dump({"hostname": "osm.example:8443", "user": "op", "password_file": str(tmp_path / "pw")}))
    creds = Credentials.load(f, env={})
    assert (creds.url, creds.user, creds.password) == ("https://osm.example:8443", "op", "from-file-pw")
    result = CliRunner().invoke(osm_cli, ["ns-status", "cg", "--via", "nbi"], env={"OSM_HOSTNAME": "",
                                                                                  "OSM_PASSWORD": ""})
    assert result.exit_code == 1 and "no OSM hostname: set OSM_HOSTNAME" in result.output


def test_unreachable_nbi_is_a_clear_error() -> None:
    client = NbiClient(Credentials("http://127.0.0.1:9", "admin", PASSWORD), timeout_s=2)
    with pytest.raises(NbiError, match=r"OSM NBI http://127.0.0.1:9 unreachable \(POST /osm/admin/v1/tokens\)"):
        client.token()


def test_standin_refuses_a_non_loopback_address() -> None:
    nbi = StandinNbi({"admin": PASSWORD}, ["vim-1"])
    try:
        with pytest.raises(ValueError, match=r"loopback only, not 0\.0\.0\.0"):
            nbi.serve(host="0.0.0.0")
    finally:
        nbi.close()


def test_ns_create_with_the_osm_inventory_fixes_the_proxy_mgmt_ip(server: StandinServer, packages: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """The rendering for examples/inventory-osm.yaml (an SSH-reached proxy) is accepted as is; its `vld`
    parameter is checked against the NSD like the NBI does, and a wrong one reserves nothing."""
    from srchain.osm.cli import package_cli

    rendered = CliRunner().invoke(package_cli, ["render-nsd", str(REPO / "examples/cloud-gaming.yaml"), "--inventory",
                                                str(REPO / "examples/inventory-osm.yaml"), "-o", str(tmp_path / "r")])
    assert rendered.exit_code == 0, rendered.output
    _onboard_all(server, packages, tmp_path)
    config = tmp_path / "r/nsd/cloud-gaming.ns-config.yaml"
    assert yaml.safe_load(config.read_text())["vld"][0]["vnfd-connection-point-ref"][0]["ip-address"] == "10.0.0.21"
    client = _client(server)
    ref = {"member-vnf-index-ref": "px1", "vnfd-connection-point-ref": "mgmt-ext", "ip-address": "10.0.0.21"}
    for vld, detail in (
        ({"name": "nope", "vnfd-connection-point-ref": [ref]}, "ns.vld[0].name: 'nope' is not a virtual link"),
        ({"name": "px1-sr", "vnfd-connection-point-ref": [ref]},
         "ns.vld[0].vnfd-connection-point-ref[0]: member 'px1' connection point 'mgmt-ext' is not on virtual link "
         "'px1-sr'"),
        ({"name": "mgmtnet", "vnfd-connection-point-ref": [{**ref, "ip-address": "10.0.0.300"}]},
         "ns.vld[0].vnfd-connection-point-ref[0].ip-address: '10.0.0.300' is not an IP address"),
    ):
        with pytest.raises(NbiError, match=re.escape(detail)):
            client.ns_create("x", "srchain-cloud-gaming", "vim-1",
                             {**ns_hostkeys.with_host_keys(load_params(config))[0], "vld": [vld]})
    assert server.nbi.nss == {}
    assert all(p["_admin"]["usageState"] == "NOT_IN_USE" for p in server.nbi.pdus.values())
    created = _ns_create(server, config=config)
    assert created.exit_code == 0 and "COMPLETED" in created.output, created.output


def test_ns_create_sends_a_host_key_per_vm_member_and_prints_only_fingerprints(
        server: StandinServer, packages: dict[str, Path], tmp_path: Path) -> None:
    _onboard_all(server, packages, tmp_path)
    created = _ns_create(server)
    assert created.exit_code == 0, created.output
    (ns,) = server.nbi.nss.values()
    sent = {m["member-vnf-index"]: m["additionalParams"] for m in ns.params["additionalParamsForVnf"]}
    vms = {"px1", "formatter", "classifier-a", "classifier-b", "aggregator", "mitigation"}
    assert {m for m, p in sent.items() if "ssh_host_key" in p} == vms  # the switch (a PDU) gets none
    for member in sorted(vms):
        assert f"host key of {member}: {ns_hostkeys.fingerprint(sent[member]['ssh_host_key_pub'])}" in created.output
        assert sent[member]["ssh_host_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\\n")
    assert "PRIVATE KEY" not in created.output and "ssh_host_key" not in NS_CONFIG.read_text().replace(
        "ssh_host_key_type", "")  # the committed parameters hold no key
    dry = CliRunner().invoke(osm_cli, ["ns-create", "--ns-name", "cg", "--nsd-name", "srchain-cloud-gaming",
                                       "--vim-account", "vim-1", "--config-file", str(NS_CONFIG), "--dry-run"])
    assert dry.exit_code == 0 and "host key pair generated per VM member at ns-create" in dry.output


def test_ns_create_via_osmclient_hands_the_keys_over_in_a_private_file_it_removes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_osm(cmd: list[str], creds: Credentials, timeout_s: float = 600) -> str:
        path = Path(cmd[cmd.index("--config_file") + 1])
        seen.update(cmd=cmd, path=path, mode=path.stat().st_mode & 0o777, dir_mode=path.parent.stat().st_mode & 0o777,
                    params=yaml.safe_load(path.read_text()))
        return "ns-id-1"

    monkeypatch.setattr("srchain.osm.cli._use_osmclient", lambda via: True)
    monkeypatch.setattr("srchain.osm.nbi.run_osm", fake_osm)
    result = CliRunner().invoke(osm_cli, ["ns-create", "--ns-name", "cg", "--nsd-name", "srchain-cloud-gaming",
                                          "--vim-account", "vim-1", "--config-file", str(NS_CONFIG),
                                          "--via", "osmclient"], env={"OSM_HOSTNAME": "http://127.0.0.1:1",
                                                                      "OSM_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert seen["path"] != NS_CONFIG and not seen["path"].exists()  # a private copy, gone afterwards
    assert (seen["mode"], seen["dir_mode"]) == (0o600, 0o700)
    (px1,) = [m["additionalParams"] for m in seen["params"]["additionalParamsForVnf"] if m["member-vnf-index"] == "px1"]
    assert px1["ssh_host_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert not any("PRIVATE" in part for part in seen["cmd"]) and "PRIVATE KEY" not in result.output
    assert "ns-id-1" in result.output


def test_names_the_nbi_does_not_keep_unique(server: StandinServer, packages: dict[str, Path], tmp_path: Path) -> None:
    """Checked against OSM's own NBI: a second PDU with the same name is created (201; PduTopic has no name
    check), so is a second NS with the same name (NsrTopic.new has none), and ns-create's vimAccountId is the
    account's id (a name: 422 from the input schema; an id of no account: 400). srchain's client refuses to act on an
    NS name two instances carry."""
    _onboard_all(server, packages, tmp_path)
    headers = {"Authorization": f"Bearer {_client(server).token()}", "Content-Type": "application/json"}
    pdu = _client(server).vim_ids(yaml.safe_load(_pdu_file(tmp_path).read_text()))
    status, _ = _raw(server, "POST", "/osm/pdu/v1/pdu_descriptors", json.dumps(pdu).encode(), headers)
    assert status == 201 and [p["name"] for p in server.nbi.pdus.values()] == ["s1", "s1"]
    body = {"nsName": "cg", "nsdId": next(iter(server.nbi.nsds)), "vimAccountId": "vim-1",
            **ns_hostkeys.with_host_keys(load_params(NS_CONFIG))[0]}
    status, answer = _raw(server, "POST", "/osm/nslcm/v1/ns_instances_content", json.dumps(body).encode(), headers)
    assert (status, answer["detail"]) == (422, "Format error at 'vimAccountId' ''vim-1' does not match "
                                               "'^[a-fA-F0-9]{8}(-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}$'' while "
                                               "'validating input parameters'")
    unknown = "0f3c0000-0000-4000-8000-00000000dead"
    status, answer = _raw(server, "POST", "/osm/nslcm/v1/ns_instances_content",
                          json.dumps({**body, "vimAccountId": unknown}).encode(), headers)
    assert (status, answer["detail"]) == (400, f"Invalid vimAccountId='{unknown}' not present for the project")
    assert server.nbi.nss == {}  # neither refusal created anything
    assert _ns_create(server).exit_code == 0
    assert _ns_create(server).exit_code == 0  # the second PDU serves the second NS of the same name
    assert [n.name for n in server.nbi.nss.values()] == ["cg", "cg"]
    action = CliRunner().invoke(osm_cli, ["ns-action", "cg", "--action-name", "show-chain", "--via", "nbi"],
                                env=_env(server))
    assert action.exit_code == 1, action.output
    assert "2 NS instances are named 'cg' (" in action.output and "give the id" in action.output
    first = next(iter(server.nbi.nss))
    action = CliRunner().invoke(osm_cli, ["ns-action", first, "--action-name", "show-chain", "--via", "nbi"],
                                env=_env(server))
    assert action.exit_code == 0, action.output
