"""The proxy daemon in network namespaces with real VNF processes, real frames and the real control API.

    pxs<pid> (switch side)  sw0 ── sr0  pxp<pid> (proxy)  vnfa ── eth0  pxa<pid>: UDP upper-case service
                                                          vnfb ── eth0  pxb<pid>: pass-through (reflector)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from netlab import (
    Api,
    Daemon,
    add_netns,
    add_veth,
    del_netns,
    drain,
    nsx,
    packet_socket_in,
    recv_frames,
    spawn_in,
)
from pxlib import SR_MAC, SW_MAC, inner_bytes, labels_of, mpls_frame, udp4, udp6
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether

from srchain_proxy import compiled
from srchain_proxy.engine import INBOUND_DROPS
from waiting import wait_until

pytestmark = pytest.mark.netns

HERE = Path(__file__).parent
VNFA_MAC, A_MAC = "02:00:00:00:0b:01", "02:00:00:00:0b:02"
VNFB_MAC, B_MAC = "02:00:00:00:0c:01", "02:00:00:00:0c:02"
VNFCO_MAC, C0_MAC = "02:00:00:00:0e:01", "02:00:00:00:0e:02"  # proxy -> VNF C (iface_out)
VNFCI_MAC, C1_MAC = "02:00:00:00:0e:03", "02:00:00:00:0e:04"  # VNF C -> proxy (iface_in)
VNFV_MAC, V_MAC = "02:00:00:00:0e:05", "02:00:00:00:0e:06"  # the "VLAN 100" attachment (test_vlan_...)
TOKEN = "px-test-token-0123456789abcdef"


class Lab:
    def __init__(self, tmp: Path) -> None:
        pid = os.getpid()
        self.s, self.p, self.a, self.b, self.c = (f"sp{x}{pid}" for x in "spabc")
        self.tmp = tmp
        self.sock_path = str(tmp / "ctl.sock")
        self.api = Api(self.sock_path, TOKEN)
        self.config = tmp / "proxy.yaml"
        self.daemon = Daemon(self.p, self.config, tmp / "proxy.log", self.api)

    def build(self) -> None:
        for ns in (self.s, self.p, self.a, self.b, self.c):
            add_netns(ns)
        add_veth(self.s, "sw0", SW_MAC, self.p, "sr0", SR_MAC)
        add_veth(self.p, "vnfa", VNFA_MAC, self.a, "eth0", A_MAC)
        add_veth(self.p, "vnfb", VNFB_MAC, self.b, "eth0", B_MAC)
        add_veth(self.p, "vnfco", VNFCO_MAC, self.c, "eth0", C0_MAC)
        add_veth(self.p, "vnfci", VNFCI_MAC, self.c, "eth1", C1_MAC)
        # VNF A: an IP host; replies toward 10.80/16 go to the proxy's MAC (its gateway)
        nsx(self.a, "ip", "addr", "add", "10.60.0.2/24", "dev", "eth0")
        nsx(self.a, "ip", "addr", "add", "10.70.0.9/32", "dev", "eth0")
        nsx(self.a, "ip", "neigh", "add", "10.60.0.1", "lladdr", VNFA_MAC, "dev", "eth0", "nud", "permanent")
        nsx(self.a, "ip", "route", "add", "10.80.0.0/16", "via", "10.60.0.1")
        # VNF B: answers ARP for its next-hop address; the reflector passes IP frames through
        nsx(self.b, "ip", "addr", "add", "10.61.0.2/24", "dev", "eth0")
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)

    def write_config(self, sids: list[dict], **extra) -> None:
        cfg = {"sr_iface": "sr0", "sr_next_hop_mac": SW_MAC, "msd": 8, "listen": f"unix:{self.sock_path}",
               "token_file": str(self.tmp / "token"), "sids": sids,
               "attachments": [{"vnf": "fmt", "iface": "vnfa", "next_hop": "10.60.0.2"},
                               {"vnf": "fw", "iface": "vnfb", "next_hop": "10.61.0.2"},
                               {"vnf": "ids", "iface_out": "vnfco", "iface_in": "vnfci", "mac": C0_MAC}],
               **extra}
        self.config.write_text(yaml.safe_dump(cfg))
        state = Path(f"{self.config}.state.json")
        if state.exists():
            state.unlink()

    def teardown(self) -> None:
        self.daemon.stop()
        for ns in (self.s, self.p, self.a, self.b, self.c):
            del_netns(ns)


STATIC = {"sid": 16001, "behaviour": "static", "vnf": "fmt", "version": 1, "restore": [[16002, 16004, 16005]],
          "ttl": 64}
DYNAMIC = {"sid": 16003, "behaviour": "dynamic", "vnf": "fw", "version": 1, "return_match": "same",
           "miss_policy": "drop", "cache_size": 65536, "idle_timeout_s": 300}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("pxlab"))
    try:
        lab.build()
        with spawn_in(lab.a, sys.executable, str(HERE / "vnf_upper.py"), "7000", "240", "10.70.0.9"), \
                spawn_in(lab.b, sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240"), \
                spawn_in(lab.c, sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240", "eth1", VNFCI_MAC):
            lab.sw = packet_socket_in(lab.s, "sw0")
            yield lab
            lab.sw.close()
    finally:
        lab.teardown()


@pytest.fixture
def proxy(lab):
    lab.write_config([STATIC, DYNAMIC])
    lab.daemon.start(wait_ready=("fmt", "fw"))
    drain(lab.sw)
    try:
        yield lab
    finally:
        assert lab.daemon.stop() == 0, lab.daemon.log.read_text()[-2000:]


def _mpls_from_proxy(frame: bytes) -> bool:
    return frame[:6] == bytes.fromhex(SW_MAC.replace(":", "")) and frame[12:14] == b"\x88\x47"


def exchange(lab, frames: list[bytes], expect: int, timeout: float = 3.0) -> list[bytes]:
    for frame in frames:
        lab.sw.send(frame)
    return recv_frames(lab.sw, expect, timeout, accept=_mpls_from_proxy)


def test_static_round_trip_through_udp_service(proxy):
    request = udp4(src="10.80.0.5", dst="10.70.0.9", sport=5555, dport=7000, payload=b"hello chain")
    got = exchange(proxy, [mpls_frame([16001, 16099], request, ttls=[10, 9])], 1)
    assert len(got) == 1, proxy.api.ok("GET", "/v1/counters")
    reply = Ether(got[0])
    assert (reply.dst, reply.src) == (SW_MAC, SR_MAC)
    assert labels_of(got[0]) == [(16002, 0, 0, 64), (16004, 0, 0, 64), (16005, 0, 1, 64)]
    udp = Ether(got[0]).getlayer(UDP)
    assert bytes(udp.payload) == b"HELLO CHAIN" and (udp.sport, udp.dport) == (7000, 5555)
    counters = proxy.api.ok("GET", "/v1/counters")
    assert counters["sids"]["16001"]["rx_packets"] == 1 and counters["sids"]["16001"]["tx_packets"] == 1


def test_dynamic_round_trip_bit_exact_ipv4_ipv6(proxy):
    sent = [mpls_frame([16003, 16004, 16005], udp4(sport=40000 + i), ttls=[30, 29, 28], tcs=[3, 5, 6])
            for i in range(20)]
    sent.append(mpls_frame([16003, 16007], udp6(), ttls=[12, 11], tcs=[0, 7]))
    got = exchange(proxy, sent, len(sent))
    assert len(got) == len(sent)
    by_inner = {inner_bytes(f): f for f in got}
    for frame in sent:
        inner = frame[18 + (8 if len(labels_of(frame)) == 3 else 4):]
        back = by_inner[inner]  # the VNF passed it unchanged: same inner bytes
        assert back[14:14 + len(frame) - 18 - len(inner)] == frame[18:len(frame) - len(inner)]
    assert labels_of(by_inner[bytes(udp6())]) == [(16007, 7, 1, 11)]
    flows = proxy.api.ok("GET", "/v1/flows")["sids"]["16003"]
    assert flows["entries"] == 21


def test_static_ipv6_inner_and_compiled_loop_in_use(proxy):
    """Inner IPv6 through a static SID (the dynamic SID of the same VNF misses, the static one answers)."""
    proxy.api.ok("PUT", "/v1/sids/16041", {**STATIC, "sid": 16041, "vnf": "fw", "restore": [[16042, 16043]],
                                           "ttl": 20})
    inner = udp6(sport=6006, payload=b"six")
    got = exchange(proxy, [mpls_frame([16041, 16099], inner, ttls=[9, 8])], 1)
    assert labels_of(got[0]) == [(16042, 0, 0, 20), (16043, 0, 1, 20)]
    assert inner_bytes(got[0]) == bytes(inner)
    rows = proxy.api.ok("GET", "/v1/counters")["sids"]
    assert (rows["16041"]["rx_packets"], rows["16041"]["tx_packets"]) == (1, 1)
    assert rows["16003"]["cache"]["misses"] == 1  # the dynamic SID of that VNF was asked first
    # the daemon runs the compiled SR loop (fast_path: auto, the extension built at install) and says so
    health = proxy.api.ok("GET", "/v1/health")
    module = compiled.load()
    assert module is not None, compiled.unavailable()
    detail = f"srchain_proxy._fastsr from {module.__file__}"
    assert (health["sr_loop"], health["sr_loop_detail"]) == ("compiled", detail)
    assert f'srchain_proxy_fast_path_info{{detail="{detail}",path="compiled"}} 1.0' in proxy.api.ok("GET", "/metrics")


def test_reverse_five_tuple_and_fallback_policy_with_a_real_udp_service(proxy):
    """The UDP service answers with the reverse 5-tuple: `reverse` restores the learned stack; `same` misses,
    and the miss policy decides (fallback stack, or drop), counted either way. L3 next hop resolved by ARP."""
    api = proxy.api
    dyn = {**DYNAMIC, "sid": 16051, "vnf": "fmt", "return_match": "reverse"}
    api.ok("POST", "/v1/batch", {"put": [dyn], "delete": [16001]})  # no static SID left on this VNF
    assert api.ok("GET", "/v1/attachments/fmt")["resolved_mac"] == A_MAC
    request = udp4(src="10.80.0.5", dst="10.70.0.9", sport=5151, dport=7000, payload=b"rev")
    got = exchange(proxy, [mpls_frame([16051, 16061, 16062], request, ttls=[40, 39, 38], tcs=[0, 1, 2])], 1)
    assert got, api.ok("GET", "/v1/counters")
    assert labels_of(got[0]) == [(16061, 1, 0, 39), (16062, 2, 1, 38)]
    assert bytes(Ether(got[0]).getlayer(UDP).payload) == b"REV"

    api.ok("PUT", "/v1/sids/16051", {**dyn, "return_match": "same", "miss_policy": "fallback",
                                     "fallback": [16070, 16071], "ttl": 33})
    got = exchange(proxy, [mpls_frame([16051, 16061], udp4(sport=5252, payload=b"fb"))], 1)
    assert labels_of(got[0]) == [(16070, 0, 0, 33), (16071, 0, 1, 33)]
    assert bytes(Ether(got[0]).getlayer(UDP).payload) == b"FB"

    api.ok("PUT", "/v1/sids/16051", {**dyn, "return_match": "same", "miss_policy": "drop"})
    assert exchange(proxy, [mpls_frame([16051, 16061], udp4(sport=5353))], 1, timeout=0.7) == []
    counters = wait_until(lambda: (c := api.ok("GET", "/v1/counters"))["drops"]["flow_miss"] == 1 and c, 5,
                          what="the dropped miss counted under flow_miss")
    row = counters["sids"]["16051"]
    assert (row["rx_packets"], row["tx_packets"], row["cache"]["hits"], row["cache"]["misses"]) == (3, 2, 1, 2)


def test_one_interface_per_direction(proxy):
    """Attachment with iface_out/iface_in and a fixed MAC: out through one port, back through the other."""
    proxy.api.ok("PUT", "/v1/sids/16005", {**DYNAMIC, "sid": 16005, "vnf": "ids", "return_match": "either"})
    sent = mpls_frame([16005, 16006, 16007], udp4(sport=5050), ttls=[9, 8, 7], tcs=[1, 2, 3])
    got = exchange(proxy, [sent], 1)
    assert labels_of(got[0]) == [(16006, 2, 0, 8), (16007, 3, 1, 7)]
    assert inner_bytes(got[0]) == bytes(udp4(sport=5050))
    assert proxy.api.ok("GET", "/v1/attachments/ids")["ready"] is True


def test_chains_and_versions_share_one_vnf_via_api(proxy):
    # version 2 of the chain arrives through the API while version 1 flows are still cached
    proxy.api.ok("PUT", "/v1/sids/16013", {**DYNAMIC, "sid": 16013, "version": 2})
    v1 = mpls_frame([16003, 16004, 16005], udp4(sport=1111))
    v2 = mpls_frame([16013, 16005, 16004], udp4(sport=2222))
    got = exchange(proxy, [v1, v2], 2)
    stacks = {Ether(f).getlayer(UDP).sport: [x[0] for x in labels_of(f)] for f in got}
    assert stacks == {1111: [16004, 16005], 2222: [16005, 16004]}
    rows = proxy.api.ok("GET", "/v1/counters")["sids"]
    assert (rows["16003"]["tx_packets"], rows["16013"]["tx_packets"]) == (1, 1)


def test_lru_bound_and_idle_expiry_in_daemon(proxy):
    proxy.api.ok("PUT", "/v1/sids/16003", {**DYNAMIC, "cache_size": 4, "idle_timeout_s": 1})
    for i in range(6):  # one at a time: each flow is back before the next one can evict it
        assert len(exchange(proxy, [mpls_frame([16003, 16004], udp4(sport=3000 + i))], 1)) == 1
    flows = proxy.api.ok("GET", "/v1/flows")["sids"]["16003"]
    assert (flows["entries"], flows["evictions"]) == (4, 2)
    wait_until(lambda: proxy.api.ok("GET", "/v1/flows")["sids"]["16003"]["entries"] == 0, 5,
               what="the idle flows expire")
    assert proxy.api.ok("GET", "/v1/flows")["sids"]["16003"]["expired"] == 4


def test_api_auth_validation_and_atomic_batch(proxy):
    api = proxy.api
    assert api.call("GET", "/v1/sids", token="")[0] == 401
    assert api.call("GET", "/v1/sids", token="wrong-token-wrong-token")[0] == 401
    status, body = api.call("PUT", "/v1/sids/16020", {**STATIC, "sid": 16020, "restore": [[5]]})
    assert status == 400 and "sids[16020].restore.0.0" in body["error"]
    assert "greater than or equal to 16" in body["error"]
    before = api.ok("GET", "/v1/sids")
    status, body = api.call("POST", "/v1/batch", {"put": [{**STATIC, "sid": 16021},
                                                          {**DYNAMIC, "sid": 16022, "miss_policy": "fallback"}],
                                                  "delete": [16001]})
    assert status == 400 and body["error"].startswith("put[1]") and "fallback" in body["error"]
    assert api.ok("GET", "/v1/sids") == before  # nothing applied
    api.ok("POST", "/v1/batch", {"put": [{**STATIC, "sid": 16021}], "delete": [16001]})
    assert [s["sid"] for s in api.ok("GET", "/v1/sids")["sids"]] == [16003, 16021]
    status, body = api.call("PUT", "/v1/attachments/bad", {"iface": "nosuch0"})
    assert status == 400 and "attachments[bad].iface" in body["error"] and "nosuch0" in body["error"]
    assert "bad" not in [a["vnf"] for a in api.ok("GET", "/v1/attachments")["attachments"]]
    assert os.stat(proxy.sock_path).st_mode & 0o777 == 0o600  # control socket: owner only
    metrics = api.ok("GET", "/metrics")
    assert 'srchain_proxy_drops_total{reason="unknown_sid"}' in metrics
    assert 'srchain_proxy_sid_rx_packets_total{behaviour="static"' in metrics


def test_restart_keeps_api_changes(proxy):
    proxy.api.ok("PUT", "/v1/sids/16031", {**STATIC, "sid": 16031, "restore": [[16040]], "ttl": 7})
    proxy.api.ok("DELETE", "/v1/sids/16001")
    assert proxy.daemon.stop() == 0
    proxy.daemon.start(wait_ready=("fmt",))
    assert [s["sid"] for s in proxy.api.ok("GET", "/v1/sids")["sids"]] == [16003, 16031]
    drain(proxy.sw)
    got = exchange(proxy, [mpls_frame([16031, 16099], udp4(payload=b"again"))], 1)
    assert labels_of(got[0]) == [(16040, 0, 1, 7)]


def test_malformed_flood_is_counted_and_daemon_keeps_forwarding(proxy):
    """100,000 malformed frames through the real socket: no crash, every frame counted once, still forwarding."""
    import random

    rng = random.Random(66)
    good = mpls_frame([16001, 16099], udp4(payload=b"still here"))
    head = bytes.fromhex(SR_MAC.replace(":", "") + SW_MAC.replace(":", ""))
    n = 100_000
    fixed = {
        "unknown_sid": mpls_frame([17999, 16002], udp4()),
        "stack_too_deep": mpls_frame([16001, *range(100, 110)], udp4()),  # msd is 8
        "not_ip": mpls_frame([16001], b"\x00" * 40),
        "ttl_expired": mpls_frame([16003, 16004], udp4(), ttls=[1, 64]),
    }
    frames, expected = [], dict.fromkeys(INBOUND_DROPS, 0)
    for i in range(n):
        k = i % 6
        if k < 4:
            reason = list(fixed)[k]
            frames.append(fixed[reason])
            expected[reason] += 1
        elif k == 4:
            frames.append(good[:rng.randrange(14, len(good) - 20)])  # cut anywhere in the stack or IP header
            expected["truncated"] += 1
        else:  # random ethertype and bytes: dropped under some reason, never forwarded by chance
            frames.append(head + rng.randbytes(rng.randrange(2, 100)))  # >= 14 bytes: the kernel refuses less
    for start in range(0, n, 500):  # paced: the point is accounting, not overload
        for frame in frames[start:start + 500]:
            proxy.sw.send(frame)
        time.sleep(0.004)

    def settled():
        c = proxy.api.ok("GET", "/v1/counters")
        return c if sum(c["drops"][r] for r in INBOUND_DROPS) + c["kernel_drops"] >= n else None

    counters = wait_until(settled, 30, interval=0.2, what=f"all {n} malformed frames counted")
    drops = counters["drops"]
    assert counters["kernel_drops"] == 0 and drops["internal_error"] == 0
    for reason in ("unknown_sid", "stack_too_deep", "not_ip", "ttl_expired"):
        assert drops[reason] == expected[reason], reason
    assert drops["truncated"] >= expected["truncated"]
    # every malformed frame from the SR side is counted under exactly one inbound reason, none forwarded
    assert sum(drops[r] for r in INBOUND_DROPS) == n
    assert all(row["rx_packets"] == 0 for row in counters["sids"].values())
    got = exchange(proxy, [good], 1)
    assert bytes(Ether(got[0]).getlayer(UDP).payload) == b"STILL HERE"


def test_socket_io_fallback_round_trips(lab):
    """io: socket (one system call per frame, no PACKET_MMAP ring) forwards the same way."""
    lab.write_config([STATIC, DYNAMIC], io="socket")
    lab.daemon.start(wait_ready=("fmt", "fw"))
    drain(lab.sw)
    try:
        got = exchange(lab, [mpls_frame([16001, 16099], udp4(payload=b"plain")),
                             mpls_frame([16003, 16004, 16005], udp4(sport=4242), tcs=[0, 2, 3])], 2)
        stacks = sorted(tuple(labels_of(f)) for f in got)
        assert stacks == sorted([((16002, 0, 0, 64), (16004, 0, 0, 64), (16005, 0, 1, 64)),
                                 ((16004, 2, 0, 64), (16005, 3, 1, 64))])
    finally:
        assert lab.daemon.stop() == 0


def test_sched_fifo_puts_only_the_data_path_thread_on_real_time_priority(lab):
    lab.write_config([STATIC], sched_fifo=10)
    lab.daemon.start(wait_ready=("fmt",))
    drain(lab.sw)
    try:
        policies = []
        for task in Path(f"/proc/{lab.daemon.proc.pid}/task").iterdir():
            try:  # request threads of the control server come and go
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            policies.append((int(fields[38]), int(fields[37])))  # (policy, rt_priority): stat fields 41, 40
        # exactly one thread (the data path) on SCHED_FIFO (policy 1) priority 10
        assert sorted(policies)[-1] == (1, 10) and [p for p, _ in policies].count(1) == 1, policies
        got = exchange(lab, [mpls_frame([16001, 16099], udp4(payload=b"rt"))], 1)
        assert got, (lab.api.ok("GET", "/v1/counters"), lab.daemon.log.read_text()[-2000:])
        assert bytes(Ether(got[0]).getlayer(UDP).payload) == b"RT"
    finally:
        assert lab.daemon.stop() == 0


def test_two_workers_forward_and_count_exactly(lab):
    """workers: 2 -- flows spread over both, each returning packet meets the flow cache that learned it."""
    lab.write_config([STATIC, DYNAMIC], workers=2)
    lab.daemon.start(wait_ready=("fmt", "fw"))
    drain(lab.sw)
    try:
        health = lab.api.ok("GET", "/v1/health")
        assert [w["alive"] for w in health["workers"]] == [True]  # the children; this process is worker 0
        dyn = [mpls_frame([16003, 16004, 16005], udp4(sport=41000 + i), ttls=[30, 29, 28], tcs=[3, 5, 6])
               for i in range(64)]
        static = [mpls_frame([16001, 16099], udp4(sport=42000 + i, payload=b"w%d" % i)) for i in range(64)]
        got = exchange(lab, dyn + static, 128, timeout=5)
        assert len(got) == 128, lab.api.ok("GET", "/v1/counters")
        by_inner = {inner_bytes(f): f for f in got}
        for frame in dyn:  # the reflector passes it unchanged: the learned stack comes back bit-exact
            assert labels_of(by_inner[frame[26:]]) == [(16004, 5, 0, 29), (16005, 6, 1, 28)]
        counters = lab.api.ok("GET", "/v1/counters")
        rows = counters["sids"]
        assert (rows["16003"]["rx_packets"], rows["16003"]["tx_packets"]) == (64, 64)
        assert (rows["16001"]["rx_packets"], rows["16001"]["tx_packets"]) == (64, 64)
        assert (rows["16003"]["cache"]["hits"], rows["16003"]["cache"]["misses"]) == (64, 0)
        assert rows["16003"]["cache"]["entries"] == 64
        drops = {k: v for k, v in counters["drops"].items() if v and k != "return_not_ip"}  # the VNFs' ARP
        assert drops == {} and counters["drops_total"] == sum(counters["drops"].values())
        per_worker = [w["rx_packets"] for w in counters["workers"]]
        assert len(per_worker) == 2 and min(per_worker) > 0 and sum(per_worker) == 128, per_worker
        assert lab.api.ok("GET", "/v1/flows")["sids"]["16003"]["entries"] == 64
        status, text = lab.api.call("GET", "/metrics")
        assert status == 200
        assert 'srchain_proxy_sid_rx_packets_total{behaviour="dynamic",sid="16003",version="1",vnf="fw"} 64.0' in text
        # a change through the API reaches every worker
        lab.api.ok("PUT", "/v1/sids/16041", {**STATIC, "sid": 16041, "vnf": "fw", "restore": [[16042]]})
        got = exchange(lab, [mpls_frame([16041, 16099], udp4(sport=43000 + i)) for i in range(32)], 32)
        assert len(got) == 32 and all(labels_of(f) == [(16042, 0, 1, 64)] for f in got)
        assert lab.api.ok("GET", "/v1/counters")["sids"]["16041"]["tx_packets"] == 32
    finally:
        assert lab.daemon.stop() == 0, lab.daemon.log.read_text()[-2000:]


def _comm(task: Path) -> str | None:
    try:
        return (task / "comm").read_text().strip()
    except FileNotFoundError:  # a short-lived thread (the control API's) ended between listing and reading
        return None


def _datapath_task(pid: int) -> Path:
    tasks = [t for t in Path(f"/proc/{pid}/task").iterdir() if _comm(t) == "srchain-dp"]
    assert len(tasks) == 1, "exactly one thread is named srchain-dp"
    return tasks[0]


@pytest.mark.parametrize("fast_path", ["compiled", "python"])
def test_data_path_thread_spins_bounded_and_takes_nice_and_cpus(lab, fast_path):
    cpu = max(os.sched_getaffinity(0))
    lab.write_config([STATIC], spin_us=2000, nice=-5, cpus=[cpu], fast_path=fast_path)
    lab.daemon.start(wait_ready=("fmt",))
    drain(lab.sw)
    try:
        task = _datapath_task(lab.daemon.proc.pid)
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == -5  # stat field 19: nice, of the data-path thread only
        allowed = [ln for ln in (task / "status").read_text().splitlines() if ln.startswith("Cpus_allowed_list")]
        assert allowed == [f"Cpus_allowed_list:\t{cpu}"]
        got = exchange(lab, [mpls_frame([16001, 16099], udp4(payload=b"spin"))], 1)
        assert got and bytes(Ether(got[0]).getlayer(UDP).payload) == b"SPIN"
        # idle: the spin is bounded (2 ms after the last frame, then epoll sleeps): little CPU over 1 s
        time.sleep(0.3)
        before = int((task / "schedstat").read_text().split()[0])
        time.sleep(1.0)
        busy_s = (int((task / "schedstat").read_text().split()[0]) - before) / 1e9
        assert busy_s < 0.2, f"data path used {busy_s:.3f} s of CPU in 1 s while idle"
    finally:
        assert lab.daemon.stop() == 0


def test_cpus_outside_the_allowed_set_refuse_to_start(lab):
    lab.write_config([STATIC], cpus=[4095])
    refused = r"(?s)proxy exited 1: .*Error: cpus: cannot run on \[4095\] \(allowed here: \["
    with pytest.raises(RuntimeError, match=refused):
        lab.daemon.start()
    lab.daemon.proc = None


@pytest.fixture
def quiet_ring():
    """An RxRing on an interface nobody sends to (a veth left down) in a namespace of its own."""
    from netlab import add_netns, call_in_netns, del_netns, nsx

    from srchain_net.rings import RxRing

    ns = f"sph{os.getpid()}"
    add_netns(ns)
    ring = None
    try:
        nsx(ns, "ip", "link", "add", "q0", "type", "veth", "peer", "name", "q1")
        ring = call_in_netns(ns, lambda: RxRing("q0", reserve=64, frames=64))
        yield ring
    finally:
        if ring is not None:
            ring.close()
        del_netns(ns)


def _fake_frame(ring, slot: int, length: int = 60, mac: int = 100) -> None:
    """Write a tpacket2 header by hand: status USER, tp_len = tp_snaplen = length, tp_mac = mac."""
    from srchain_net.rings import FRAME_SIZE, TP_STATUS_USER

    off = slot * FRAME_SIZE
    ring.map[off:off + 14] = (TP_STATUS_USER.to_bytes(4, "little") + length.to_bytes(4, "little")
                              + length.to_bytes(4, "little") + mac.to_bytes(2, "little"))


def test_rx_ring_skips_a_slot_the_kernel_never_hands_over(quiet_ring):
    """Under overload the kernel can move past a ring slot without ever marking it ready; the reader must
    not wait for it (that stalled the whole proxy until the ring wrapped). Simulated by hand."""
    from srchain_net.rings import FRAME_SIZE

    ring, seen = quiet_ring, []
    _fake_frame(ring, 1)  # slot 0 stays the kernel's, slot 1 is ready
    assert ring.drain(lambda m, s, e: seen.append((s, e)), 10) is True  # suspected hole: keep polling
    assert seen == [] and ring.holes == 0
    time.sleep(0.002)
    assert ring.drain(lambda m, s, e: seen.append((s, e)), 10) is False
    assert ring.holes == 1 and seen == [(FRAME_SIZE + 100, FRAME_SIZE + 160)] and ring.i == 2


def test_rx_ring_skips_a_run_of_slots_the_kernel_never_hands_over(quiet_ring):
    """Three empty slots, then frames, the rest of the ring full: the bench's overload stalled the proxy
    for good this way (the ring never wrapped, the kernel dropped every new frame). Skipped after 1 ms."""
    from srchain_net.rings import FRAME_SIZE

    ring, seen = quiet_ring, []
    for slot in range(3, ring.nr):
        _fake_frame(ring, slot)
    handle = lambda m, s, e: seen.append(s // FRAME_SIZE)  # noqa: E731
    assert ring.drain(handle, 10) is False and seen == []  # no frame right behind: wait (epoll calls again)

    def drained() -> list[int]:  # the loop keeps calling while frames are waiting
        ring.drain(handle, 10)
        return seen

    wait_until(drained, 1.0, interval=0, what="frames past the holes")
    assert seen == list(range(3, 13)) and ring.holes == 3 and ring.i == 13


def test_rx_ring_survives_a_failing_handler(quiet_ring):
    from srchain_net.rings import FRAME_SIZE

    ring, seen = quiet_ring, []
    _fake_frame(ring, 0)
    _fake_frame(ring, 1)

    def handler(m, s, e):
        if s < FRAME_SIZE:
            raise RuntimeError("boom")
        seen.append(s)

    assert ring.drain(handler, 10) is False
    assert ring.errors == 1 and seen == [FRAME_SIZE + 100] and ring.i == 2
    assert ring.map[0] == 0 and ring.map[FRAME_SIZE] == 0  # both slots handed back to the kernel


def test_change_that_cannot_be_persisted_is_not_applied(lab):
    blocker = lab.tmp / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    lab.write_config([STATIC], state_file=str(blocker / "state.json"))
    lab.daemon.start(wait_ready=("fmt",))
    drain(lab.sw)
    try:
        status, body = lab.api.call("PUT", "/v1/sids/16003", DYNAMIC)
        assert status == 500 and body["error"].startswith("state_file: cannot persist the change")
        assert [s["sid"] for s in lab.api.ok("GET", "/v1/sids")["sids"]] == [16001]
        assert exchange(lab, [mpls_frame([16003, 16004], udp4())], 1, timeout=0.5) == []
        assert lab.api.ok("GET", "/v1/counters")["drops"]["unknown_sid"] == 1  # the old tables still rule
    finally:
        assert lab.daemon.stop() == 0


def test_vlan_attachment_uses_the_sub_interface_by_name(proxy):
    """`vlan: N` on `iface: X` makes the proxy send and receive on the kernel sub-interface `X.N`. This
    kernel has no 8021q module, so the sub-interface here is a veth named like one: what is exercised is
    the proxy's side (naming, rings, both directions, counters); tagging is the kernel's."""
    add_veth(proxy.p, "vnfv.100", VNFV_MAC, proxy.c, "eth2", V_MAC)
    try:
        with spawn_in(proxy.c, sys.executable, str(HERE / "vnf_reflect.py"), "eth2", "60"):
            proxy.api.ok("PUT", "/v1/attachments/vl", {"vnf": "vl", "iface": "vnfv", "vlan": 100, "mac": V_MAC})
            proxy.api.ok("PUT", "/v1/sids/16071", {**STATIC, "sid": 16071, "vnf": "vl", "restore": [[16072]]})
            assert proxy.api.ok("GET", "/v1/attachments/vl")["ready"] is True
            got = exchange(proxy, [mpls_frame([16071, 16099], udp4(sport=7100 + i)) for i in range(3)], 3)
            assert sorted(Ether(f).getlayer(UDP).sport for f in got) == [7100, 7101, 7102]
            assert all(labels_of(f) == [(16072, 0, 1, 64)] for f in got)
            row = proxy.api.ok("GET", "/v1/counters")["sids"]["16071"]
            assert (row["rx_packets"], row["tx_packets"]) == (3, 3)
    finally:
        nsx(proxy.p, "ip", "link", "del", "vnfv.100", check=False)


def test_ipv6_next_hop_resolved_by_our_own_neighbor_solicitation(proxy):
    """An IPv6 next hop that is in no neighbour table (the proxy's interface has IPv6 off): the proxy's
    Neighbor Solicitation finds the VNF's MAC, then frames flow both ways."""
    nsx(proxy.b, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0")
    nsx(proxy.b, "ip", "-6", "addr", "add", "fd61::2/64", "dev", "eth0", "nodad")
    try:
        proxy.api.ok("PUT", "/v1/attachments/fw", {"vnf": "fw", "iface": "vnfb", "next_hop": "fd61::2"})
        wait_until(lambda: proxy.api.ok("GET", "/v1/attachments/fw")["ready"], 5, what="attachment fw ready")
        assert proxy.api.ok("GET", "/v1/attachments/fw")["resolved_mac"] == B_MAC
        proxy.api.ok("PUT", "/v1/sids/16081", {**STATIC, "sid": 16081, "vnf": "fw", "restore": [[16082]]})
        got = exchange(proxy, [mpls_frame([16081, 16099], udp4(sport=8100))], 1)
        assert labels_of(got[0]) == [(16082, 0, 1, 64)] and Ether(got[0]).getlayer(UDP).sport == 8100
    finally:
        nsx(proxy.b, "ip", "-6", "addr", "del", "fd61::2/64", "dev", "eth0", check=False)
        nsx(proxy.b, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1")
