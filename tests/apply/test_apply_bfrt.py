"""The BF Runtime side of the controller over real gRPC: program loading (content hash, no-op reload,
WARM_INIT wait, bind), the SDE-vocabulary facade, TLS (server-only and mutual), connect retries."""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path

import grpc
import pytest
from apply_helpers import FWD, HIT, Switch, bundle
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from srchain.bfrt import sde
from srchain.bfrt.client import BfrtClient, BfrtError, TlsFiles
from srchain.targets.loader import Bundle, ensure_program

ROOT_P4 = Path(__file__).resolve().parents[2] / "p4" / "srchain_node.p4"


@pytest.fixture
def sw():
    s = Switch()
    try:
        yield s
    finally:
        s.stop()


def test_loader_pushes_once_and_reload_of_same_content_is_a_noop(sw, tmp_path):
    b = bundle("exact_forward", tmp_path / "a")
    c = BfrtClient.connect(sw.address, timeout=5)
    try:
        assert ensure_program(c, "exact_forward", b) == "pushed"
        c.insert(FWD, {"hdr.ethernet.dst_addr": 0x020000000001}, HIT, {"port": 3})
        assert ensure_program(c, "exact_forward", b) == "already loaded"
        assert [e.data["port"] for e in c.entries(FWD)] == [3]  # a push would have wiped the table
        other = bundle("flow_counter", tmp_path / "b")
        assert ensure_program(c, "flow_counter", other) == "pushed"  # different program: pushed, bound
        assert [cfg.p4_name for cfg in c.pipeline().config] == ["flow_counter"]
        # same name, changed content (a rebuilt program): pushed again
        changed = tmp_path / "c"
        bundle("flow_counter", changed)
        (changed / "pipe" / "tofino.bin").write_text((changed / "pipe" / "tofino.bin").read_text() + "\n// v2\n")
        assert ensure_program(c, "flow_counter", Bundle("flow_counter", changed)) == "pushed"
    finally:
        c.close()


def test_loader_errors_are_clear(sw, tmp_path):
    c = BfrtClient.connect(sw.address, timeout=5)
    try:
        with pytest.raises(BfrtError, match=r"program exact_forward is not loaded \(loaded: none\) and no artifacts"):
            ensure_program(c, "exact_forward", None)
        with pytest.raises(BfrtError, match=r"artifact bundle incomplete, missing .*bf-rt\.json"):
            ensure_program(c, "exact_forward", Bundle("exact_forward", tmp_path / "empty"))
        broken = tmp_path / "broken"
        bundle("exact_forward", broken)
        (broken / "pipe" / "tofino.bin").write_text("control {")
        with pytest.raises(BfrtError, match="INVALID_ARGUMENT: program exact_forward"):
            ensure_program(c, "exact_forward", Bundle("exact_forward", broken))
        assert list(c.pipeline().config) == []  # a refused program changes nothing
    finally:
        c.close()


def test_sde_vocabulary_facade_runs_a_tna_exact_match_style_script(sw, tmp_path):
    gc = sde.load_gc(prefer_sde=False)
    assert gc is sde and not sde.is_sde(gc)
    b = bundle("exact_forward", tmp_path / "out")
    iface = gc.ClientInterface(sw.address, client_id=0, device_id=0)
    try:
        iface.send_set_forwarding_pipeline_config_request(
            forwarding_config_list=[gc.ForwardingConfig("exact_forward", str(b.root / "bf-rt.json"), [
                gc.ProfileInfo("pipe", str(b.root / "pipe/context.json"), str(b.root / "pipe/tofino.bin"))])])
        iface.bind_pipeline_config("exact_forward")
        info = iface.bfrt_info_get("exact_forward")
        assert info.p4_name_get() == "exact_forward" and "pipe.SwitchIngress.forward" in info.table_name_list_get()
        fwd = info.table_get("SwitchIngress.forward")
        fwd.info.key_field_annotation_add("hdr.ethernet.dst_addr", "mac")
        tgt = gc.Target(device_id=0, pipe_id=0xFFFF)
        keys = [fwd.make_key([gc.KeyTuple("hdr.ethernet.dst_addr", f"22:22:22:22:22:{i:02x}")]) for i in range(3)]
        fwd.entry_add(tgt, keys, [fwd.make_data([gc.DataTuple("port", 5 + i)], "SwitchIngress.hit") for i in range(3)])
        fwd.entry_mod(tgt, keys[:1], [fwd.make_data([gc.DataTuple("port", 9)], "SwitchIngress.hit")])
        got = {k.to_dict()["hdr.ethernet.dst_addr"]["value"]: d.to_dict() for d, k in fwd.entry_get(tgt)}
        assert {k & 0xFF: v["port"] for k, v in got.items()} == {0: 9, 1: 6, 2: 7}
        assert all(v["action_name"] == "SwitchIngress.hit" and v["is_default_entry"] is False for v in got.values())
        with pytest.raises(BfrtError, match="ALREADY_EXISTS"):
            fwd.entry_add(tgt, keys[:1], [fwd.make_data([gc.DataTuple("port", 1)], "SwitchIngress.hit")])
        fwd.entry_del(tgt, keys[1:2])
        assert len(list(fwd.entry_get(tgt))) == 2
        fwd.entry_del(tgt)  # no keys: every entry, as the SDE does
        assert list(fwd.entry_get(tgt)) == []
    finally:
        iface.tear_down_stream()


# ---------------------------------------------------------------- TLS
def _cert(subject: str, issuer_key, issuer_name, key, ca: bool, san: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pki(d, name: str) -> tuple:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = _cert(f"{name} CA", ca_key, ca_name, ca_key, True)
    files = {}
    for who, san in (("server", "switch.test"), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(who, ca_key, ca_name, key, False, san)
        files[who] = (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
                      cert.public_bytes(serialization.Encoding.PEM))
        for part, data in zip(("key", "crt"), files[who], strict=True):
            (d / f"{name}-{who}.{part}").write_bytes(data)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (d / f"{name}-ca.crt").write_bytes(ca_pem)
    return ca_pem, files


def test_tls_mutual_and_wrong_ca_refused(tmp_path):
    ca_pem, files = _pki(tmp_path, "good")
    _pki(tmp_path, "evil")
    creds = grpc.ssl_server_credentials([files["server"]], root_certificates=ca_pem, require_client_auth=True)
    sw = Switch(credentials=creds)
    try:
        tls = TlsFiles(tmp_path / "good-ca.crt", tmp_path / "good-client.crt", tmp_path / "good-client.key",
                       server_name="switch.test")
        c = BfrtClient.connect(sw.address, tls=tls, timeout=5)
        c.close()
        wrong_ca = TlsFiles(tmp_path / "evil-ca.crt", tmp_path / "good-client.crt", tmp_path / "good-client.key",
                            server_name="switch.test")
        with pytest.raises(BfrtError, match=r"no BF Runtime session after 2 attempts") as err:
            BfrtClient.connect(sw.address, tls=wrong_ca, attempts=2, backoff=0.05, timeout=2)
        assert err.value.code == "UNAVAILABLE"
        no_client_cert = TlsFiles(tmp_path / "good-ca.crt", server_name="switch.test")
        with pytest.raises(BfrtError, match="no BF Runtime session"):
            BfrtClient.connect(sw.address, tls=no_client_cert, attempts=1, timeout=2)
        with pytest.raises(BfrtError, match="certificate and key go together"):
            TlsFiles(tmp_path / "good-ca.crt", cert=tmp_path / "good-client.crt").credentials()
    finally:
        sw.stop()


def test_connect_retries_with_backoff_until_the_switch_answers():
    sw = Switch()
    port = sw.port
    sw.stop()
    t0 = time.monotonic()
    with pytest.raises(BfrtError, match=rf"127\.0\.0\.1:{port}: no BF Runtime session after 3 attempts"):
        BfrtClient.connect(f"127.0.0.1:{port}", attempts=3, backoff=0.1, timeout=1)
    assert time.monotonic() - t0 >= 0.3  # waited 0.1 + 0.2 between attempts
    late: list[Switch] = []
    timer = threading.Timer(0.4, lambda: late.append(Switch(port)))
    timer.start()
    try:
        c = BfrtClient.connect(f"127.0.0.1:{port}", attempts=6, backoff=0.1, timeout=2)  # 0.1+0.2+0.4+... covers it
        c.close()
    finally:
        timer.join()
        for s in late:
            s.stop()


def test_a_failed_request_among_several_raises_and_waits_for_the_others(tmp_path):
    """SwitchDriver.write with several WriteRequests in flight: the first fails, the second is still
    waited for (it lands), and the error comes back — it used to spin forever (`first or wait()`
    short-circuits the wait that pops the pending request)."""
    from srchain.plan.model import DiffOp, Entry
    from srchain.targets.base import TargetError
    from srchain.targets.switch import SwitchDriver
    from srchain_emu.bfrt_server import serve
    from srchain_emu.bundle import compile_to_dir

    compile_to_dir(ROOT_P4, tmp_path / "bundle")
    server, _servicer, port = serve("127.0.0.1:0")
    drv = SwitchDriver("s1", BfrtClient.connect(f"127.0.0.1:{port}", client_id=1, timeout=30), "srchain_node",
                       Bundle("srchain_node", tmp_path / "bundle"))
    try:
        drv.prepare()
        group = Entry("switch", "s1", "$pre.mgid", {"$MGID": 5}, "", {
            "$MULTICAST_NODE_ID": [5], "$MULTICAST_NODE_L1_XID_VALID": [False], "$MULTICAST_NODE_L1_XID": [0]},
            "report_group")  # names node 5, which does not exist: refused
        route = Entry("switch", "s1", "SwitchIngress.ipv4.routes",
                      {"dst_addr": {"value": "10.0.0.1", "prefix_len": 32}}, "SwitchIngress.ipv4.route",
                      {"port": 2, "dst_mac": "02:00:00:00:00:02"}, "route")
        raised: list[BaseException] = []

        def write() -> None:
            try:
                drv.write([DiffOp("add", "install", group), DiffOp("add", "install", route)], chunk=1)
            except BaseException as exc:
                raised.append(exc)

        t = threading.Thread(target=write, daemon=True)  # a spinning write must not hang the suite
        t.start()
        t.join(timeout=20)
        assert not t.is_alive(), "write() did not return"
        assert len(raised) == 1 and isinstance(raised[0], TargetError), raised
        assert "$pre.mgid" in str(raised[0]) and "node id 5" in str(raised[0]), str(raised[0])
        routes = drv.client.entries("SwitchIngress.ipv4.routes")
        assert len(routes) == 1, "the second request was sent and waited for: it landed"
    finally:
        drv.close()
        server.stop(0)
