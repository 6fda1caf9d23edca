"""/v1/flows for one engine: per dynamic SID the cache summary and the most recent flows (the daemon's and
each worker's answer; the daemon merges them)."""

from __future__ import annotations

import ipaddress
import time

from .engine import Engine, split_key


def engine_flows(engine: Engine, sample: int = 20) -> dict:
    """/v1/flows for one engine: per dynamic SID the cache summary and the most recent flows."""
    now = time.monotonic()
    out = {}
    for sid, st in list(engine.sids.items()):
        if st.cache is None:
            continue
        for _ in range(3):  # the data path may touch the cache while we copy it
            try:
                items = list(st.cache.od.items())[-sample:]
                break
            except RuntimeError:
                items = []
        out[str(sid)] = {
            "entries": len(st.cache), "size": st.cache.size, "idle_timeout_s": st.cache.idle,
            "learned": st.cache.learned, "evictions": st.cache.evictions, "expired": st.cache.expired,
            "recent": [{"flow": _flow_text(key), "stack": _stack_text(ent[0]),
                        "idle_s": round(now - ent[1], 3)} for key, ent in reversed(items)],
        }
    return {"sids": out}


def _flow_text(key: tuple) -> str:
    proto, src, dst, sport, dport = split_key(key)
    a = ipaddress.ip_address(src)
    b = ipaddress.ip_address(dst)
    return f"{proto} {a}:{sport} -> {b}:{dport}"


def _stack_text(stack: bytes) -> list[list[int]]:
    return [[(w >> 12), (w >> 9) & 7, (w >> 8) & 1, w & 0xFF]
            for w in (int.from_bytes(stack[i:i + 4], "big") for i in range(0, len(stack), 4))]
