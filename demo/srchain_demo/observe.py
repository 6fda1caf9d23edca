"""Reading the chain while it runs: switch counters and registers (BF Runtime), proxy SID counters
(control API) and VNF counters (health endpoints), gathered into one per-hop view."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from srchain.bfrt.client import BfrtClient
from srchain_contracts.records import FLOW_SLOTS, SESSION_SLOTS, FlowKey, flow_slot, session_slot

from .testbed import Testbed

DROP_REASONS = {1: "stack_too_deep", 2: "ttl_expired", 3: "unknown_label", 4: "no_route", 5: "ip_ttl",
                6: "bad_checksum", 7: "not_ipv4", 8: "decision", 9: "bad_decision",
                10: "srh_invalid", 11: "segments_left", 12: "wan_malformed", 13: "link_local"}
# p4/include/defines.p4 DROP_*: 10, 11 and 13 are the srv6 profile's, 12 the wan profile's
DELAY_UNIT_US = 1.024  # queue_stats.delay_sum_us counts 1.024 us units (docs/p4.md)


@dataclass(frozen=True)
class QueueSample:
    packets: int
    delay_sum_us: float
    delay_max_ns: int


class SwitchReader:
    """A read-only BF Runtime session on the emulated switch (its own client id)."""

    def __init__(self, address: str, client_id: int = 11) -> None:
        self.client = BfrtClient.connect(address, client_id=client_id, timeout=5, attempts=3)
        self.client.bind("srchain_node")

    def close(self) -> None:
        self.client.close()

    def _counter(self, table: str) -> dict[int, int]:
        return {e.key_int("$COUNTER_INDEX"): e.data_int("$COUNTER_SPEC_PKTS") for e in self.client.entries(table)}

    def _reg(self, name: str, index: int) -> int:
        return int(self.client.register_read(name, index)["f1"][0])

    def counters(self) -> dict[str, Any]:
        drops = self._counter("SwitchIngress.drops")
        reports = self._counter("SwitchIngress.flow_features.reports")
        events = self._counter("SwitchIngress.priority.events")
        unconf = self._counter("SwitchEgress.report.unconfigured")
        return {
            "reports_sent": reports.get(0, 0), "reports_no_group": reports.get(1, 0),
            "reports_unconfigured": unconf.get(0, 0),
            "decisions_accepted": events.get(0, 0), "packets_prioritised": events.get(1, 0),
            "drops": {DROP_REASONS.get(i, str(i)): n for i, n in drops.items() if n},
        }

    def queue(self, port: int, qid: int) -> QueueSample:
        index = (port << 5) | qid  # p4/control/queue_stats.p4: egress_port ++ qid
        return QueueSample(
            self._reg("SwitchEgress.queue_stats.packets", index),
            self._reg("SwitchEgress.queue_stats.delay_sum_us", index) * DELAY_UNIT_US,
            self._reg("SwitchEgress.queue_stats.delay_max", index),
        )

    def reset_delay_sum(self, port: int, qid: int) -> None:
        """The delay sum saturates at 2^32 units (~73 min of summed waiting: ~10 s of a full best-effort
        queue at a few kpps), so the demo zeroes it whenever it has read a large value."""
        self.client.register_write("SwitchEgress.queue_stats.delay_sum_us", (port << 5) | qid, {"f1": 0})

    def session_class(self, key: FlowKey) -> int:
        return self._reg("SwitchIngress.priority.session_class", session_slot(key, SESSION_SLOTS))

    def flow_packets(self, key: FlowKey, direction: int) -> int:
        return self._reg("SwitchIngress.flow_features.pkt_count", flow_slot(key, direction, FLOW_SLOTS))


def udp_key(src: str, sport: int, dst: str, dport: int) -> tuple[FlowKey, int]:
    return FlowKey.from_packet(src, sport, dst, dport, 17)


def proxy_counters(tb: Testbed) -> dict[str, Any]:
    """Per SID rx/tx (with the VNF it serves; SIDs are unique across proxies) and drops by reason, over every
    proxy of the testbed: labels (SR-MPLS) by number, SRv6 SIDs by address."""
    per_sid: dict[int | str, dict[str, Any]] = {}
    drops: Counter[str] = Counter()
    kernel_drops = 0
    for px in tb.layout.proxies:
        api = tb.proxy_api(px.name)
        sids = {s["sid"]: s for s in api.call("GET", "/v1/sids")["sids"]}
        raw = api.call("GET", "/v1/counters")
        for sid, c in raw.get("sids", {}).items():
            entry = sids.get(int(sid), {})
            per_sid[int(sid)] = {"vnf": entry.get("vnf"), "version": entry.get("version"),
                                 "rx": c.get("rx_packets", 0), "tx": c.get("tx_packets", 0)}
        for address, c in raw.get("srv6_sids", {}).items():
            per_sid[address] = {"vnf": c.get("vnf"), "version": c.get("version"), "rx": c.get("rx_packets", 0),
                                "tx": c.get("tx_packets", 0)}
        drops.update({k: v for k, v in raw.get("drops", {}).items() if v})
        kernel_drops += raw.get("kernel_drops", 0)
    return {"sids": per_sid, "drops": dict(drops), "kernel_drops": kernel_drops}


def vnf_counters(tb: Testbed) -> dict[str, dict[str, int]]:
    return {v.name: tb.vnf_health(v.role)["counters"] for v in tb.layout.vnfs}


def hops(tb: Testbed, sw: SwitchReader) -> list[dict[str, Any]]:
    """The report path, hop by hop, in chain order: what each hop received and passed on."""
    s = sw.counters()
    px = proxy_counters(tb)
    vc = vnf_counters(tb)
    by_vnf: dict[str, dict[str, int]] = {}
    for c in px["sids"].values():
        agg = by_vnf.setdefault(c["vnf"], {"rx": 0, "tx": 0})
        agg["rx"] += c["rx"]
        agg["tx"] += c["tx"]

    edge = tb.layout.edge.name

    def vnf_row(name: str) -> list[dict[str, Any]]:
        px_name = tb.layout.proxy_of(name).name
        proxy = by_vnf.get(name, {"rx": 0, "tx": 0})
        counts = vc.get(name, {})
        drops = sum(v for k, v in counts.items() if k.startswith("dropped:"))
        return [
            {"hop": f"proxy {px_name} → {name}", "in": proxy["rx"], "out": proxy["rx"]},
            {"hop": name, "in": counts.get("received", 0), "out": counts.get("sent", 0), "dropped": drops},
            {"hop": f"proxy {px_name} ← {name}", "in": proxy["tx"], "out": proxy["tx"]},
        ]

    rows: list[dict[str, Any]] = [
        {"hop": f"{edge} flow-features (reports)", "in": s["reports_sent"], "out": s["reports_sent"]},
    ]
    rows += vnf_row("formatter")
    rows += vnf_row("classifier-a") + vnf_row("classifier-b")
    rows += vnf_row("aggregator")
    rows.append({"hop": f"{edge} priority (decisions)", "in": s["decisions_accepted"], "out": s["decisions_accepted"]})
    return rows
