"""SRv6 proxy behaviours on frames in place (draft-ietf-spring-sr-service-programming §6): the Python path.

    End.AS (static)   SR side: outer IPv6 + extension headers + SRH off, the inner IPv4/IPv6 packet to the VNF.
                      VNF side: a configured outer IPv6 header + SRH (source, segment list, SL) in front of it.
    End.AD (dynamic)  SR side: as End.AS, and the outer headers are learned after End is applied to them
                      (hop limit - 1, SL - 1, DA = Segment List[SL]); VNF side: the learned headers back in
                      front. Keyed by attachment (`cache_key: iface`, the draft's C(IFACE-IN)) or by inner
                      5-tuple (`flow`, VPP's End.AD.Flow, the SR-MPLS dynamic SID's cache).
    End.AM (masq.)    SR side: DA = Segment List[0] (the last segment), SRH kept, the IPv6 packet to the VNF.
                      VNF side: End (hop limit - 1, SL - 1, DA = Segment List[SL]), back to the SR side.

Extension headers are walked as RFC 8200 orders them: a hop-by-hop header only right after the IPv6 header,
destination options before the routing header, then the SRH (routing type 4, RFC 8754); a fragment header,
any other header, or an SRH whose lengths disagree is refused and counted. Every frame the SR side hands
over is counted once: in a SID's rx counters or in one drop reason. An HMAC TLV is not checked: it is
carried untouched (End.AD, End.AM) or left with the outer header (End.AS), and counted in `srv6_events`.

engine.py never imports this module: `build` hangs an `Srv6` object on the tables, Engine.from_sr hands it
IPv6 frames from the SR side, the data path hands it frames from attachments that serve SRv6 SIDs.

Compiled: when the engine runs the compiled fast path (`Engine.srv6_c`, set by the data path), `build` makes
an `Srv6Compiled`: the per-frame work above is done by _fastsr.c's srv6_in / srv6_out (same bytes, same
counters, same learned headers; tests/proxy/test_srv6_compiled.py compares them frame by frame), and this
module stays the reference and handles what C leaves to it (several SRv6 SIDs on one attachment, an expired
End.AD flow, a link-rule refusal, a learned header longer than the headroom).
"""

from __future__ import annotations

import ipaddress
import struct
from array import array
from collections.abc import Iterable
from typing import Any

from srchain_contracts.proxy_api import Srv6SidEntry

from .engine import (
    BROADCAST_META,
    HEADROOM,
    SRV6_EVENTS,
    AttState,
    Engine,
    Tables,
    flow_key,
    ip_end,
    link_drop,
    return_refusal,
    reverse_key,
    stable_hash,
)
from .flowcache import FlowCache

NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT, NH_DEST_OPTS = 0, 43, 44, 60
NH_IPV4, NH_IPV6 = 4, 41
SRH_TYPE = 4
TLV_PAD1, TLV_HMAC = 0, 5
MAX_EXT_HEADERS = 8  # extension headers walked before giving up (RFC 8200 orders at most ~6 kinds)

_U16 = struct.Struct("!H")


def addr(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def encap_header(source: str, segments: list[str], segments_left: int | None, hop_limit: int, nh: int) -> bytes:
    """Outer IPv6 header + SRH (payload length 0: patched per packet). segments in travel order: the SRH
    holds them reversed (Segment List[0] = the last), DA = Segment List[SL]."""
    n = len(segments)
    sl = n - 1 if segments_left is None else segments_left
    seglist = [addr(s) for s in reversed(segments)]
    srh = bytes((nh, 2 * n, SRH_TYPE, sl, n - 1, 0, 0, 0)) + b"".join(seglist)
    ip6 = struct.pack("!IHBB", 6 << 28, 0, NH_ROUTING, hop_limit) + addr(source) + seglist[sl]
    return ip6 + srh


class Srv6State:
    """A SRv6 SID's compiled form: its encapsulation templates or cache, and its counters."""

    __slots__ = ("att", "behaviour", "cache", "entry", "key", "lookups", "ntemplates", "return_match", "rx",
                 "sid", "slot", "templates", "txc")

    def __init__(self, entry: Srv6SidEntry, cache: FlowCache | None) -> None:
        self.entry = entry
        self.sid = entry.sid
        self.key = addr(entry.sid)
        self.behaviour = entry.behaviour
        self.att: AttState | None = None
        # end.as: per segment list, the header for an inner IPv4 and for an inner IPv6 packet
        self.templates = [(encap_header(entry.source or "::", s, entry.segments_left, entry.hop_limit, NH_IPV4),
                           encap_header(entry.source or "::", s, entry.segments_left, entry.hop_limit, NH_IPV6))
                          for s in entry.segments or []]
        self.ntemplates = len(self.templates)
        self.cache = cache  # end.ad, cache_key flow: inner 5-tuple -> (header, next-header offset)
        self.slot: tuple[bytes, int, float] | None = None  # end.ad, cache_key iface: (header, offset, learned)
        self.return_match = entry.return_match
        self.rx = array("Q", (0, 0))
        self.txc = array("Q", (0, 0))
        self.lookups = array("Q", (0, 0))

    def take_counters(self, old: Srv6State) -> None:
        self.rx, self.txc, self.lookups = old.rx, old.txc, old.lookups
        if self.behaviour == "end.ad" and old.behaviour == "end.ad" and old.entry.vnf == self.entry.vnf:
            self.slot = old.slot


class Srv6:
    """The SRv6 SIDs of one set of tables, and both directions of their data path."""

    def __init__(self, sids: dict[bytes, Srv6State], events: dict[str, int]) -> None:
        self.sids = sids
        self.events = events  # the engine's srv6_events: shared across table rebuilds, like its drops

    # ---- parsing -------------------------------------------------------------------------------------

    def find_srh(self, buf: bytearray, p: int, end: int) -> tuple[int, int] | str:
        """Walk the extension headers of the IPv6 packet at p to its SRH: (SRH offset, SRH length), or the
        drop reason (without the `srv6_`/`srv6_return_` prefix)."""
        nh = buf[p + 6]
        q = p + 40
        walked = 0
        while nh != NH_ROUTING:
            if nh == NH_FRAGMENT:
                return "fragment"
            if nh not in (NH_HOP_BY_HOP, NH_DEST_OPTS):
                return "no_srh"
            if (nh == NH_HOP_BY_HOP and walked) or walked >= MAX_EXT_HEADERS:
                return "ext_header"  # RFC 8200 §4.1: hop-by-hop only right after the IPv6 header
            if q + 2 > end:
                return "truncated"
            nh = buf[q]
            q += (buf[q + 1] + 1) * 8
            if q > end:
                return "truncated"
            walked += 1
        if walked:
            self.events["ext_headers_before_srh"] += 1
        if q + 8 > end:
            return "truncated"
        if buf[q + 2] != SRH_TYPE:
            return "no_srh"  # another routing type (RFC 8200 §4.4: not ours to process)
        length = (buf[q + 1] + 1) * 8
        if q + length > end:
            return "truncated"
        last_entry, sl = buf[q + 4], buf[q + 3]
        tlv = q + 8 + 16 * (last_entry + 1)
        # RFC 8754 §4.3.1.1 S10-S11: the segment list within the header, SL <= Last Entry + 1. SL = Last Entry + 1
        # is a reduced SRH (RFC 8986 §5.2 H.Encaps.Red: the first segment only in the DA); End then takes
        # Segment List[SL - 1] = Segment List[Last Entry], inside the list (Linux: seg6_validate_srh reduced)
        if tlv > q + length or sl > last_entry + 1:
            return "bad_srh"
        hmac = False
        while tlv < q + length:  # RFC 8754 §2.1: TLVs after the segment list, Pad1 is one byte
            if buf[tlv] == TLV_PAD1:
                tlv += 1
                continue
            if tlv + 2 > q + length or tlv + 2 + buf[tlv + 1] > q + length:
                return "bad_srh"
            hmac |= buf[tlv] == TLV_HMAC
            tlv += 2 + buf[tlv + 1]
        if hmac:
            self.events["hmac_tlv"] += 1
        return q, length

    def inner(self, buf: bytearray, q: int, end: int) -> tuple[int, int, int] | str:
        """After the SRH at q: destination options, then the inner IPv4/IPv6 packet: (its offset, its end,
        offset of the next-header byte that names it), or the drop reason."""
        nh_at = q
        r = q + (buf[q + 1] + 1) * 8
        nh = buf[q]
        walked = 0
        while nh == NH_DEST_OPTS:
            if walked >= MAX_EXT_HEADERS or r + 2 > end:
                return "truncated" if walked < MAX_EXT_HEADERS else "ext_header"
            nh_at = r
            nh = buf[r]
            r += (buf[r + 1] + 1) * 8
            walked += 1
        if walked:
            self.events["dest_opts_after_srh"] += 1
        if nh == NH_FRAGMENT:
            return "fragment"
        if nh not in (NH_IPV4, NH_IPV6):
            return "inner_type"
        iend = ip_end(buf, r, end)
        if iend < 0 or buf[r] >> 4 != (4 if nh == NH_IPV4 else 6):
            return "truncated"
        return r, iend, nh_at

    # ---- SR side -------------------------------------------------------------------------------------

    def from_sr(self, eng: Engine, buf: bytearray, s: int, e: int, now: float) -> AttState | None:
        """An IPv6 frame from the SR side (link rules already passed). Returns the attachment to send
        buf[eng.ostart:eng.oend] to, or None (counted in one drop reason)."""
        drops = eng.drops
        p = s + 14
        end = ip_end(buf, p, e)
        if end < 0 or buf[p] >> 4 != 6:
            drops["srv6_truncated"] += 1
            return None
        st = self.sids.get(bytes(buf[p + 24:p + 40]))
        if st is None:
            drops["srv6_unknown_sid"] += 1
            return None
        if buf[p + 7] <= 1:
            drops["srv6_hop_limit"] += 1
            return None
        found = self.find_srh(buf, p, end)
        if isinstance(found, str):
            drops["srv6_" + found] += 1
            return None
        q = found[0]
        sl = buf[q + 3]
        if sl == 0:  # the proxy SID is the last segment: there is no next segment to send the VNF's packet to
            drops["srv6_sl_zero"] += 1
            return None
        att = st.att
        if st.behaviour == "end.am":
            if sl > buf[q + 4]:  # reduced SRH: our SID only in the DA, which masquerading overwrites with
                drops["srv6_am_reduced_srh"] += 1  # Segment List[0]; the packet back could not name its SID
                return None
            if att is None or att.dmac is None:
                drops["no_attachment" if att is None else "no_neighbour"] += 1
                return None
            buf[p + 24:p + 40] = buf[q + 8:q + 24]  # DA = Segment List[0]; SL and the SRH stay as they are
            buf[p - 14:p] = att.hdr6
            start, stop = p - 14, end
        else:
            got = self.inner(buf, q, end)
            if isinstance(got, str):
                drops["srv6_" + got] += 1
                return None
            r, iend, nh_at = got
            if att is None or att.dmac is None:
                drops["no_attachment" if att is None else "no_neighbour"] += 1
                return None
            if st.behaviour == "end.ad":
                hdr = bytearray(buf[p:r])  # End on the copy: hop limit - 1, SL - 1, DA = Segment List[SL]
                hdr[7] -= 1
                hdr[q - p + 3] = sl - 1
                seg = q - p + 8 + 16 * (sl - 1)
                hdr[24:40] = hdr[seg:seg + 16]
                learned = (bytes(hdr), nh_at - p)
                if st.cache is not None:
                    st.cache.learn(flow_key(buf, r, iend), learned, now)
                else:
                    st.slot = (learned[0], learned[1], now)
            buf[r - 14:r] = att.hdr4 if buf[r] >> 4 == 4 else att.hdr6
            start, stop = r - 14, iend
        st.rx[0] += 1
        st.rx[1] += e - s
        eng.ostart, eng.oend = start, stop
        return att

    # ---- VNF side ------------------------------------------------------------------------------------

    def from_vnf(self, eng: Engine, att: AttState, buf: bytearray, s: int, e: int, now: float,
                 meta: int = 0) -> bool | bytes:
        """A frame from an attachment that serves SRv6 SIDs, HEADROOM free bytes before s. True: send
        buf[eng.ostart:eng.oend]; bytes: send these (the header did not fit in the headroom); False: dropped
        (counted)."""
        drops = eng.drops
        if meta and not (meta == BROADCAST_META and att.takes_broadcast):
            drops["return_" + link_drop(meta, 0)] += 1
            return False
        if e - s < 14:
            drops["return_truncated"] += 1
            return False
        et = buf[s + 12] << 8 | buf[s + 13]
        p = s + 14
        want = 4 if et == 0x0800 else 6 if et == 0x86DD else 0
        if not want or (p < e and buf[p] >> 4 != want):
            drops[return_refusal(et)] += 1
            return False
        end = ip_end(buf, p, e)
        if end < 0:
            drops["return_truncated"] += 1
            return False
        am = [st for st in att.srv6 if st.behaviour == "end.am"]
        if am and want == 6:
            found = self.find_srh(buf, p, end)
            if not isinstance(found, str):
                return self._demasquerade(eng, buf, p, end, found, am)
            if len(am) == len(att.srv6):  # only End.AM here: a packet without a usable SRH is nobody's
                drops["srv6_return_" + ("bad_srh" if found in ("truncated", "bad_srh") else found)] += 1
                return False
        hdr = b""
        nh_off = 0
        chosen: Srv6State | None = None
        key = None
        best = -1.0
        for st in att.srv6:
            if st.behaviour != "end.ad":
                continue
            if st.cache is None:
                ent = st.slot
                if ent is not None:
                    st.lookups[0] += 1
                    if ent[2] > best:
                        chosen, hdr, nh_off, best = st, ent[0], ent[1], ent[2]
                else:
                    st.lookups[1] += 1
                continue
            key = key or flow_key(buf, p, end)
            hit = st.cache.lookup(key, now) if st.return_match != "reverse" else None
            if hit is None and st.return_match != "same":
                hit = st.cache.lookup(reverse_key(key), now)
            if hit is not None:
                st.lookups[0] += 1
                if hit[1] > best:
                    chosen, (hdr, nh_off), best = st, hit[0], hit[1]
            else:
                st.lookups[1] += 1
        if chosen is None:
            static = [st for st in att.srv6 if st.behaviour == "end.as"]
            if not static:
                drops["srv6_flow_miss" if any(st.behaviour == "end.ad" for st in att.srv6) else "no_sid"] += 1
                return False
            chosen = max(static, key=lambda st: (st.entry.version, st.key))  # the newest version
            n = chosen.ntemplates
            pair = chosen.templates[0 if n == 1 else stable_hash(key or flow_key(buf, p, end)) % n]
            hdr = pair[0] if want == 4 else pair[1]
        else:
            head = bytearray(hdr)  # the learned header names the inner type it saw: name this one's
            head[nh_off] = NH_IPV4 if want == 4 else NH_IPV6
            hdr = bytes(head)
        return self._send(eng, chosen, buf, p, end, hdr)

    def _demasquerade(self, eng: Engine, buf: bytearray, p: int, end: int, found: tuple[int, int],
                      am: list[Srv6State]) -> bool | bytes:
        """End on a packet back from an End.AM VNF: hop limit - 1, SL - 1, DA = Segment List[SL]."""
        drops = eng.drops
        q, _length = found
        sl = buf[q + 3]
        if sl == 0:
            drops["srv6_return_sl_zero"] += 1
            return False
        # Segment List[SL]: the SID that masqueraded it; a reduced SRH (SL = Last Entry + 1) names none
        mine = bytes(buf[q + 8 + 16 * sl:q + 24 + 16 * sl]) if sl <= buf[q + 4] else b""
        st = next((st for st in am if st.key == mine), None)
        if st is None:
            drops["srv6_return_unknown_sid"] += 1
            return False
        if buf[p + 7] <= 1:
            drops["srv6_return_hop_limit"] += 1
            return False
        buf[p + 7] -= 1
        buf[q + 3] = sl - 1
        buf[p + 24:p + 40] = buf[q + 8 + 16 * (sl - 1):q + 24 + 16 * (sl - 1)]
        head = eng.sr_ip6
        h = p - len(head)
        buf[h:p] = head
        st.txc[0] += 1
        st.txc[1] += end - h
        eng.ostart, eng.oend = h, end
        return True

    def _send(self, eng: Engine, st: Srv6State, buf: bytearray, p: int, end: int, hdr: bytes) -> bool | bytes:
        head = eng.sr_ip6
        plen = _U16.pack(len(hdr) - 40 + end - p)
        n = len(head) + len(hdr)
        st.txc[0] += 1
        st.txc[1] += n + end - p
        if n > 14 + HEADROOM:  # longer than the ring's headroom: a copy (learned headers with many TLVs)
            return head + hdr[:4] + plen + hdr[6:] + bytes(buf[p:end])
        h = p - n
        buf[h:h + len(head)] = head
        buf[h + len(head):p] = hdr
        buf[h + len(head) + 4:h + len(head) + 6] = plen
        eng.ostart, eng.oend = h, end
        return True

    # ---- reporting -----------------------------------------------------------------------------------

    def counters(self) -> dict:
        rows: dict[str, dict[str, Any]] = {}
        for st in sorted(self.sids.values(), key=lambda st: st.key):
            row = {"vnf": st.entry.vnf, "version": st.entry.version, "behaviour": st.behaviour,
                   "rx_packets": st.rx[0], "rx_bytes": st.rx[1], "tx_packets": st.txc[0], "tx_bytes": st.txc[1]}
            if st.behaviour == "end.ad":
                cache = st.cache
                entries = len(cache) if cache is not None else int(st.slot is not None)
                size = cache.size if cache is not None else 1
                row["cache"] = {"key": st.entry.cache_key, "hits": st.lookups[0], "misses": st.lookups[1],
                                "entries": entries, "size": size, "full": entries >= size,
                                "evictions": cache.evictions if cache is not None else 0,
                                "expired": cache.expired if cache is not None else 0,
                                "learned": cache.learned if cache is not None else 0}
            rows[st.sid] = row
        return {"srv6_sids": rows, "srv6_events": dict(self.events)}

    def expire(self, now: float) -> None:
        for st in self.sids.values():
            if st.cache is not None:
                st.cache.expire(now)


_KIND = {"end.as": 0, "end.am": 3}  # _fastsr.c K6_*; end.ad: 1 per attachment, 2 per flow
_MATCH = {"same": 1, "reverse": 2, "either": 3}  # End.AD per flow's return_match, as _fastsr.c reads it


class Srv6Compiled(Srv6):
    """Srv6 with the per-frame work in C (_fastsr.c srv6_in / srv6_out); Srv6's methods are the reference
    and take the frames C leaves (srv6_out's 2: nothing touched, nothing counted)."""

    def __init__(self, sids: dict[bytes, Srv6State], events: dict[str, int], mod: Any, head: bytes) -> None:
        super().__init__(sids, events)
        self._in = mod.srv6_in
        self._out_c = mod.srv6_out
        self._reasons: tuple[str, ...] = tuple(mod.SRV6_REASONS)
        self._o = array("q", bytes(32))  # [ostart, oend, reason, event bits]
        self.table = {st.key: (_KIND.get(st.behaviour, 2 if st.cache is not None else 1), st, st.att, st.rx,
                               st.cache) for st in sids.values()}
        self.ret: dict[int, tuple] = {}  # id(AttState) -> srv6_out entry, for attachments with one SRv6 SID
        for st in sids.values():
            att = st.att
            if att is None or len(att.srv6) != 1 or (st.behaviour == "end.as" and st.ntemplates != 1):
                continue
            t4, t6 = st.templates[0] if st.behaviour == "end.as" else (b"", b"")
            kind = _KIND.get(st.behaviour, 2 if st.cache is not None else 1)
            flow = (st.cache, _MATCH[st.return_match]) if st.cache is not None else ()
            self.ret[id(att)] = (kind, st, st.txc, st.lookups, t4, t6, st.key, head, 14 + HEADROOM, *flow)

    def _events(self, bits: int) -> None:
        for i, name in enumerate(SRV6_EVENTS):
            if bits >> i & 1:
                self.events[name] += 1

    def from_sr(self, eng: Engine, buf: bytearray, s: int, e: int, now: float) -> AttState | None:
        o = self._o
        ent = self._in(buf, s, e, now, self.table, o)
        if o[3]:
            self._events(o[3])
        if ent is None:
            eng.drops[self._reasons[o[2]]] += 1
            return None
        eng.ostart, eng.oend = o[0], o[1]
        att: AttState = ent[2]
        return att

    def from_vnf(self, eng: Engine, att: AttState, buf: bytearray, s: int, e: int, now: float,
                 meta: int = 0) -> bool | bytes:
        ent = self.ret.get(id(att)) if not meta else None
        if ent is None or ent[1].att is not att:
            return super().from_vnf(eng, att, buf, s, e, now, meta)
        o = self._o
        rc = self._out_c(buf, s, e, now, ent, o)
        if o[3]:
            self._events(o[3])
        if rc == 1:
            eng.ostart, eng.oend = o[0], o[1]
            return True
        if rc == 0:
            eng.drops[self._reasons[o[2]]] += 1
            return False
        return super().from_vnf(eng, att, buf, s, e, now, meta)


def build(eng: Engine, tables: Tables, entries: Iterable[Srv6SidEntry]) -> None:
    """Compile SRv6 entries into `tables` (after Engine.build made its attachments); flow caches, learned
    headers and counters of unchanged SIDs carry over. Raises ValueError naming the SID and field."""
    old: Srv6 | None = eng.srv6
    old_sids = old.sids if old is not None else {}
    sids: dict[bytes, Srv6State] = {}
    for entry in entries:
        key = addr(entry.sid)
        if key in sids:
            raise ValueError(f"srv6_sids[{entry.sid}]: duplicate SID")
        prev = old_sids.get(key)
        cache = None
        if entry.behaviour == "end.ad" and entry.cache_key == "flow":
            keep = (prev is not None and prev.cache is not None and prev.entry.vnf == entry.vnf
                    and prev.entry.cache_size == entry.cache_size)
            cache = prev.cache if keep and prev is not None else None
            cache = cache if cache is not None else FlowCache(entry.cache_size, entry.idle_timeout_s)
            cache.idle = entry.idle_timeout_s
        st = Srv6State(entry, cache)
        if prev is not None:
            st.take_counters(prev)
        st.att = tables.atts.get(entry.vnf)
        if st.att is not None:
            if st.att.dyn or st.att.static:
                raise ValueError(f"srv6_sids[{entry.sid}].vnf: attachment {entry.vnf} already serves SR-MPLS "
                                 "SIDs (an attachment serves one data plane)")
            st.att.srv6.append(st)
        sids[key] = st
    mod = eng.srv6_c
    if not sids:
        tables.srv6 = None
    elif mod is not None and hasattr(mod, "srv6_in"):
        tables.srv6 = Srv6Compiled(sids, eng.srv6_events, mod, eng.sr_ip6)
    else:
        tables.srv6 = Srv6(sids, eng.srv6_events)
