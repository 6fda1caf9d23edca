"""Prometheus metrics read from the engine's plain counters at scrape time (nothing in the hot path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric


class ProxyCollector:
    """Reads the daemon's /v1/counters view at scrape time (summed over the workers when there are several)."""

    def __init__(self, counters: Callable[[], dict], sr_loop: tuple[str, str]) -> None:
        self.counters = counters
        self.sr_loop = sr_loop  # (loop, why): DataPath.variant, DataPath.variant_detail

    def collect(self) -> Iterator[Metric]:
        now = self.counters()
        labels = ["sid", "vnf", "version", "behaviour"]
        fams = {name: CounterMetricFamily(f"srchain_proxy_sid_{name}", help_, labels=labels) for name, help_ in (
            ("rx_packets", "Packets received from the SR side for this SID"),
            ("rx_bytes", "Bytes received from the SR side for this SID"),
            ("tx_packets", "Packets sent back to the SR side for this SID"),
            ("tx_bytes", "Bytes sent back to the SR side for this SID"))}
        cache = {name: CounterMetricFamily(f"srchain_proxy_cache_{name}", help_, labels=["sid"]) for name, help_ in (
            ("hits", "Return packets that found their flow"),
            ("misses", "Return packets with no cached flow"),
            ("evictions", "Flows evicted because the cache was full (LRU)"),
            ("expired", "Flows removed after their idle timeout"))}
        entries = GaugeMetricFamily("srchain_proxy_cache_entries", "Flows in the cache", labels=["sid"])
        full = GaugeMetricFamily("srchain_proxy_cache_full", "1 when the flow cache is at capacity", labels=["sid"])
        for sid, row in [*now["sids"].items(), *now.get("srv6_sids", {}).items()]:  # labels, then SRv6 SIDs
            values = [sid, row["vnf"], str(row["version"]), row["behaviour"]]
            for name, fam in fams.items():
                fam.add_metric(values, row[name])
            if "cache" in row:
                c = row["cache"]
                for name in ("hits", "misses", "evictions", "expired"):
                    cache[name].add_metric([sid], c[name])
                entries.add_metric([sid], c["entries"])
                full.add_metric([sid], float(c["full"]))
        drops = CounterMetricFamily("srchain_proxy_drops", "Frames dropped, by reason", labels=["reason"])
        for reason, count in now["drops"].items():
            drops.add_metric([reason], count)
        events = CounterMetricFamily("srchain_proxy_srv6_events", "SRv6 frames with something noted but not "
                                     "dropped for it (HMAC TLV carried, extension headers walked)", labels=["event"])
        for event, count in now.get("srv6_events", {}).items():
            events.add_metric([event], count)
        kern = CounterMetricFamily("srchain_proxy_kernel_drops", "Frames the kernel dropped (socket full)")
        kern.add_metric([], now["kernel_drops"])
        yield from fams.values()
        yield from cache.values()
        yield entries
        yield full
        yield drops
        yield events
        yield kern
        loop, why = self.sr_loop
        info = InfoMetricFamily("srchain_proxy_fast_path", "The SR-side loop in use: compiled (C) or python, and why")
        info.add_metric([], {"path": loop, "detail": why})
        yield info


def metrics_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def make_registry(counters: Callable[[], dict], sr_loop: tuple[str, str]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProxyCollector(counters, sr_loop))
    return registry
