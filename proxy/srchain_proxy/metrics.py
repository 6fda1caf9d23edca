"""Prometheus metrics read from the engine's plain counters at scrape time (nothing in the hot path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .engine import Engine


class ProxyCollector:
    def __init__(self, engine: Engine, kernel_drops: Callable[[], int]) -> None:
        self.engine = engine
        self.kernel_drops = kernel_drops

    def collect(self) -> Iterator[Metric]:
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
        for sid, st in list(self.engine.sids.items()):
            values = [str(sid), st.entry.vnf, str(st.entry.version), st.entry.behaviour]
            for name, fam in fams.items():
                fam.add_metric(values, getattr(st, name.replace("packets", "pkts")))
            if st.cache is not None:
                cache["hits"].add_metric([str(sid)], st.hits)
                cache["misses"].add_metric([str(sid)], st.misses)
                cache["evictions"].add_metric([str(sid)], st.cache.evictions)
                cache["expired"].add_metric([str(sid)], st.cache.expired)
                entries.add_metric([str(sid)], len(st.cache))
                full.add_metric([str(sid)], float(len(st.cache) >= st.cache.size))
        drops = CounterMetricFamily("srchain_proxy_drops", "Frames dropped, by reason", labels=["reason"])
        for reason, count in self.engine.drops.items():
            drops.add_metric([reason], count)
        kern = CounterMetricFamily("srchain_proxy_kernel_drops", "Frames the kernel dropped (socket full)")
        kern.add_metric([], self.kernel_drops())
        yield from fams.values()
        yield from cache.values()
        yield entries
        yield full
        yield drops
        yield kern


def metrics_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def make_registry(engine: Engine, kernel_drops: Callable[[], int]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProxyCollector(engine, kernel_drops))  # type: ignore[arg-type]
    return registry
