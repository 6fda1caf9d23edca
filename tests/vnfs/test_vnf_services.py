"""The services as daemons on real UDP sockets (loopback): chain, bad input, health/metrics, config errors."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from vnflab import running

from srchain_contracts.records import DecisionRecord, FeatureVector, TrafficClass, ip_to_int
from srchain_vnfs.aggregator import Aggregator, AggregatorConfig
from srchain_vnfs.classifier import Classifier, ClassifierConfig
from srchain_vnfs.cli import vnf_cli
from srchain_vnfs.features import FlowFeatureTable, Placement, session_reports
from srchain_vnfs.formatter import Formatter, FormatterConfig
from srchain_vnfs.profiles import generate
from srchain_vnfs.service import ConfigError, Daemon, Endpoint, UdpService, load_config
from srchain_vnfs.trafficgen import ProbeReceiver, send_session
from waiting import wait_until

LOOP = "127.0.0.1"


def _bound(d: Daemon) -> int:
    assert isinstance(d, UdpService)
    return d.bound[1]


def _reports(profiles: list[str], max_reports: dict[str, int]) -> tuple[list[bytes], dict[str, str]]:
    server = ip_to_int("10.6.0.1")
    placed = [
        (generate(p, 100 + i, 6.0, 4000), Placement(ip_to_int(f"10.5.0.{i + 2}"), 40000 + i, server, 443))
        for i, p in enumerate(profiles)
    ]
    out: list[bytes] = []
    per_key: dict[str, int] = {}
    owner: dict[str, str] = {}
    for rep, session in session_reports(placed, FlowFeatureTable()):
        k = str(rep.key)
        owner[k] = session.profile
        if per_key.get(k, 0) < max_reports.get(session.profile, 10**9):
            per_key[k] = per_key.get(k, 0) + 1
            out.append(rep.pack())
    return out, owner


def test_chain_over_loopback_detects_gaming_and_survives_garbage(tmp_path: Path) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((LOOP, 0))
    sink.settimeout(0.05)
    ep = lambda port: Endpoint(host=LOOP, port=port)  # noqa: E731
    agg = Aggregator(AggregatorConfig(listen=ep(0), next_hop=ep(sink.getsockname()[1]), agree=3,
                                      idle_timeout_s=1.0, tick_s=0.05, decision_ttl_s=30))
    decisions: list[DecisionRecord] = []

    def drain() -> None:
        try:
            while True:
                decisions.append(DecisionRecord.unpack(sink.recv(2048)))
        except TimeoutError:
            pass

    try:
        with running(agg):
            cls = Classifier(ClassifierConfig(listen=ep(0), next_hop=ep(_bound(agg))))
            with running(cls):
                fmt = Formatter(FormatterConfig(listen=ep(0), next_hop=ep(_bound(cls))))
                with running(fmt), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                    garbage = [b"", b"\x53", b"hello world" * 3, bytes(72),
                               b"\x53\x52\x02\x01" + bytes(68), b"\x53\x52\x01\x02" + bytes(68)]
                    for g in garbage:
                        for port in (_bound(fmt), _bound(cls), _bound(agg)):
                            tx.sendto(g, (LOOP, port))
                    reports, owner = _reports(
                        ["cloud_gaming", "video_streaming", "bulk", "voip"], {"cloud_gaming": 12}
                    )
                    for i, rep in enumerate(reports):
                        tx.sendto(rep, (LOOP, _bound(fmt)))
                        if i % 20 == 19:
                            time.sleep(0.005)  # keep loopback buffers from overflowing
                    wait_until(lambda: fmt.counts.get("sent", 0) == len(reports), 10, interval=0.02,
                               what="formatter sent every report")
                    wait_until(lambda: agg.counts.get("received", 0) == len(reports) + len(garbage), 10, interval=0.02,
                               what="aggregator received every report and the garbage")
                    # Quiet: after idle_timeout_s every classified session goes back to best effort.
                    wait_until(lambda: (drain(), any(d.class_id == 0 for d in decisions))[1], 5, interval=0.02,
                               what="a session back to best effort")
                    time.sleep(0.3)
                    drain()
                # Every service counted each bad datagram by reason and kept serving.
                for d in (fmt, cls, agg):
                    drops = {k: v for k, v in d.counts.items() if k.startswith("dropped:")}
                    assert drops == {"dropped:truncated": 2, "dropped:bad_magic": 2, "dropped:wrong_version": 1,
                                     "dropped:wrong_type": 1}, d.counts
    finally:
        sink.close()
    by_profile: dict[str, list[int]] = {}
    for d in decisions:
        by_profile.setdefault(owner.get(str(d.key), "label"), []).append(d.class_id)
    assert by_profile["cloud_gaming"] == [TrafficClass.CLOUD_GAMING, TrafficClass.BEST_EFFORT], by_profile
    assert TrafficClass.CLOUD_GAMING not in by_profile.get("video_streaming", [])
    assert TrafficClass.CLOUD_GAMING not in by_profile.get("bulk", [])
    assert by_profile.get("voip", [])[:1] == [TrafficClass.VOIP]
    assert all(d.ttl_s == 30 for d in decisions)


def test_health_and_metrics_need_the_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = FormatterConfig.model_validate({"listen": {"port": 0}, "next_hop": {"port": 9},
                                          "http": {"port": 0, "token_file": str(token)}})
    fmt = Formatter(cfg)
    with running(fmt), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(b"\x53\x52\x01", (LOOP, _bound(fmt)))
        wait_until(lambda: fmt.counts.get("dropped:truncated") == 1, 10, interval=0.02,
                   what="the truncated datagram counted")
        assert fmt._http is not None
        base = f"http://{LOOP}:{fmt._http.server_address[1]}"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert err.value.code == 401
        auth = {"Authorization": "Bearer s3cret"}
        with urllib.request.urlopen(urllib.request.Request(base + "/healthz", headers=auth), timeout=5) as r:
            health = json.load(r)
        assert health["status"] == "ok" and health["counters"]["dropped:truncated"] == 1
        with urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers=auth), timeout=5) as r:
            metrics = r.read().decode()
        assert 'srchain_vnf_dropped_total{instance="formatter",reason="truncated",service="formatter"} 1.0' in metrics


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listen: {port: 1}\nnext_hop: {port: 2}\nhttp: {host: 0.0.0.0}\n", "not loopback; set allow_remote"),
        ("listen: {port: 1}\nnext_hop: {port: 2}\ncolour: red\n", "colour: Extra inputs are not permitted"),
        ("listen: {port: 70000}\nnext_hop: {port: 2}\n", "listen.port: Input should be less than or equal"),
        ("listen: [\n", "not valid YAML"),
        ("- 1\n", "expected a mapping"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "formatter.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(FormatterConfig, path)
    assert str(path) in str(err.value)
    result = CliRunner().invoke(vnf_cli, ["run", "formatter", "--config", str(path)])
    assert result.exit_code == 1 and message.split(":")[0] in result.output


def test_trafficgen_measures_loss_and_delay_on_loopback() -> None:
    rx = ProbeReceiver((LOOP, 0))
    session = generate("voip", 1, 0.5, 200)
    try:
        sent = send_session(session, rx.address, stream_id=7, upstream=True, deadline_s=2)
        rx.sock.sendto(b"junk", rx.address)
        rx.run(duration_s=2, max_packets=sent["sent"] + 1, idle_s=0.3)
    finally:
        rx.close()
    summary = rx.summary()
    stream = summary["streams"]["7"]  # type: ignore[index]
    assert sent["sent"] > 10 and stream["received"] == sent["sent"] and stream["lost"] == 0
    assert 0 <= stream["delay_us"]["min"] < 100_000 and summary["bad"] == 1


def test_source_ports_keep_a_session_on_one_port_and_spread_sessions() -> None:
    """With several source ports the formatter sends each session's vectors from one port (a per-flow balancer
    downstream keeps the session on one instance) and different sessions from different ports."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # all of them queue before the reads
    sink.bind((LOOP, 0))
    sink.settimeout(5)
    try:
        fmt = Formatter(FormatterConfig(listen=Endpoint(host=LOOP, port=0),
                                        next_hop=Endpoint(host=LOOP, port=sink.getsockname()[1]), source_ports=4))
        reports, _ = _reports(["cloud_gaming", "video_streaming", "bulk", "voip", "web", "web"], {})
        reports = reports[:300]
        with running(fmt), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, rep in enumerate(reports):
                tx.sendto(rep, (LOOP, _bound(fmt)))
                if i % 20 == 19:
                    time.sleep(0.005)
            ports: dict[str, set[int]] = {}
            for _ in range(len(reports)):
                data, (_, port) = sink.recvfrom(65535)
                ports.setdefault(str(FeatureVector.unpack(data).key), set()).add(port)
        assert len(ports) >= 4 and all(len(p) == 1 for p in ports.values()), ports
        assert len(set().union(*ports.values())) > 1, ports  # sessions spread over the sockets
        assert len(fmt.outs) == 0  # closed with the daemon
    finally:
        sink.close()
