"""Per-packet proxy logic over a receive buffer, rewriting frames in place.

`Engine.from_sr` handles a frame from the SR side (pop the stack, hand the inner IP packet to the VNF);
`Engine.from_vnf` handles a frame coming back from a VNF attachment (push the stack, back to the SR side).
Both work on a bytearray region [start, end), write the new headers in place (the return direction needs
HEADROOM bytes in front of `start` for the pushed stack) and leave the frame to send in [ostart, oend).
Malformed input is counted per reason in `drops` and never raises.

Link rules first (docs/proxy.md, "VLAN and MAC rules"): each frame comes with `meta`, what the kernel
reported about it (srchain_net.rings.link_meta: the outer VLAN tag it took off, whom the destination MAC
addressed). The SR side takes frames to its own MAC, untagged, or tagged with exactly `sr_vlan`;
attachments take untagged frames to their own MAC (and broadcast ones when the proxy sends that VNF
broadcast frames). Everything else is counted under `vlan`, `foreign_mac` or `multicast`.
"""

from __future__ import annotations

import struct
from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from srchain_net.packetsock import PACKET_BROADCAST, PACKET_MULTICAST

from .config import Attachment, SidEntry
from .flowcache import FlowCache
from .labels import ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS, encode_stack

HEADROOM = 4 * 32 + 4  # room for the largest stack we push (32 labels) and the SR side's 4-byte VLAN tag

INBOUND_DROPS = ("truncated", "not_mpls", "unknown_sid", "ttl_expired", "stack_too_deep", "not_ip",
                 "no_attachment", "no_neighbour", "vlan", "foreign_mac", "multicast")
RETURN_DROPS = ("return_truncated", "return_not_ip", "flow_miss", "no_sid", "return_vlan", "return_foreign_mac",
                "return_multicast")
# send failures; frames larger than a ring slot (2048 bytes); frames a bug made us drop (logged)
OTHER_DROPS = ("tx_error", "oversize", "internal_error")
# SRv6 SIDs (srv6.py): inbound IPv6 frames, and frames back from attachments that serve SRv6 SIDs (these also
# use return_truncated, return_not_ip, return_vlan, no_sid, no_attachment, no_neighbour and the link rules' reasons)
SRV6_INBOUND_DROPS = ("srv6_truncated", "srv6_unknown_sid", "srv6_hop_limit", "srv6_ext_header", "srv6_no_srh",
                      "srv6_bad_srh", "srv6_fragment", "srv6_sl_zero", "srv6_inner_type", "srv6_am_reduced_srh")
SRV6_RETURN_DROPS = ("srv6_flow_miss", "srv6_return_sl_zero", "srv6_return_unknown_sid", "srv6_return_hop_limit",
                     "srv6_return_bad_srh", "srv6_return_no_srh", "srv6_return_fragment", "srv6_return_ext_header")
SRV6_DROPS = SRV6_INBOUND_DROPS + SRV6_RETURN_DROPS
DROP_REASONS = INBOUND_DROPS + RETURN_DROPS + OTHER_DROPS + SRV6_DROPS
# things seen on SRv6 frames that are not drops: an HMAC TLV (carried, not checked), extension headers walked
SRV6_EVENTS = ("hmac_tlv", "ext_headers_before_srh", "dest_opts_after_srh")

_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")
_NO_PORTS = bytes(4)
RUN_RESIDENCE_S = 0.2  # how long a VNF may hold a pinned flow's frames before a newer version's run takes over
_PORT_PROTOS = frozenset((6, 17, 132))  # TCP, UDP, SCTP
ETHERTYPE_VLAN = 0x8100
# a VLAN tag still in the frame: the kernel takes the outer one off, so this is a second (inner) one
_VLAN_TPIDS = frozenset((ETHERTYPE_VLAN, 0x88A8, 0x9100))
# the part of a frame's meta the rules look at: pkttype, TPID and VLAN ID (priority and DEI bits do not count)
LINK_MASK = 0xFF_FFFF_0FFF
BROADCAST_META = PACKET_BROADCAST << 32  # untagged, to the broadcast MAC


def vlan_tag(vlan: int | None) -> int:
    """The masked meta of an accepted frame: 0 (untagged) or an 802.1Q tag with VLAN ID `vlan`."""
    return ETHERTYPE_VLAN << 16 | vlan if vlan else 0


def return_refusal(et: int) -> str:
    """Why a frame back from a VNF is not taken when its ethertype `et` (or the IP version nibble behind
    it) is not IPv4/IPv6: `return_vlan` for a tag still in the frame, `return_not_ip` for anything else.
    One rule for the SR-MPLS and the SRv6 return paths (_fastsr.c's srv6_out_frame mirrors it); called on
    refusals only, so the per-frame path stays inline."""
    return "return_vlan" if et in _VLAN_TPIDS else "return_not_ip"


def link_drop(meta: int, tag: int) -> str:
    """Why a frame whose meta broke the rules is dropped: its tag is not `tag`, else its destination MAC."""
    if meta & 0xFFFF0FFF != tag:
        return "vlan"
    return "multicast" if meta >> 32 in (PACKET_BROADCAST, PACKET_MULTICAST) else "foreign_mac"


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def eth_header(dst: str, src: str, ethertype: int, vlan: int | None = None) -> bytes:
    """Ethernet header; with `vlan`, an 802.1Q tag (priority 0) before the ethertype."""
    tag = _U16.pack(ETHERTYPE_VLAN) + _U16.pack(vlan) if vlan else b""
    return mac_bytes(dst) + mac_bytes(src) + tag + _U16.pack(ethertype)


def ip_end(buf: bytearray, p: int, e: int) -> int:
    """End of the IP packet at p (trims link padding), or -1 when it is truncated or not IP."""
    avail = e - p
    if avail < 1:
        return -1
    ver = buf[p] >> 4
    if ver == 4:
        if avail < 20 or buf[p] & 0x0F < 5:
            return -1
        total = _U16.unpack_from(buf, p + 2)[0]
        if total < (buf[p] & 0x0F) * 4 or total > avail:
            return -1
        return p + total
    if ver == 6:
        if avail < 40:
            return -1
        total = 40 + _U16.unpack_from(buf, p + 4)[0]
        if total > avail:
            return -1
        return p + total
    return -1


def flow_key(buf: Any, p: int, e: int) -> tuple[int, bytes]:
    """Flow key of a validated IP packet: (protocol, source address + destination address + source port +
    destination port as bytes). Ports are zero for protocols without them, later IPv4 fragments and after
    IPv6 extension headers. Bytes rather than five ints: one slice to build and hash (the hot path's cost).
    """
    b0 = buf[p]
    if b0 >> 4 == 4:
        proto = buf[p + 9]
        hl = (b0 & 0x0F) * 4
        if proto in _PORT_PROTOS and not (buf[p + 6] & 0x1F or buf[p + 7]) and p + hl + 4 <= e:
            if hl == 20:
                return (proto, bytes(buf[p + 12:p + 24]))
            return (proto, bytes(buf[p + 12:p + 20]) + bytes(buf[p + hl:p + hl + 4]))
        return (proto, bytes(buf[p + 12:p + 20]) + _NO_PORTS)
    proto = buf[p + 6]
    if proto in _PORT_PROTOS and p + 44 <= e:
        return (proto, bytes(buf[p + 8:p + 44]))
    return (proto, bytes(buf[p + 8:p + 40]) + _NO_PORTS)


def reverse_key(key: tuple[int, bytes]) -> tuple[int, bytes]:
    proto, k = key
    n = (len(k) - 4) // 2  # address length: 4 or 16
    return (proto, k[n:2 * n] + k[:n] + k[2 * n + 2:] + k[2 * n:2 * n + 2])


def split_key(key: tuple[int, bytes]) -> tuple[int, int, int, int, int]:
    """(protocol, source, destination, source port, destination port) as ints."""
    proto, k = key
    n = (len(k) - 4) // 2
    return (proto, int.from_bytes(k[:n], "big"), int.from_bytes(k[n:2 * n], "big"),
            k[2 * n] << 8 | k[2 * n + 1], k[2 * n + 2] << 8 | k[2 * n + 3])


def stable_hash(key: tuple[int, bytes]) -> int:
    """Process-independent hash (Python's bytes hash is randomised per process)."""
    proto, src, dst, sport, dport = split_key(key)
    h = (src * 0x9E3779B1 + dst * 0x85EBCA6B + (sport << 16 | dport) * 0xC2B2AE35 + proto) & 0xFFFFFFFF
    # murmur3 finaliser: spread every input bit over the low bits used by the modulo
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


class SidState:
    """A SID's compiled form: pre-encoded stacks, its flow cache and its counters."""

    __slots__ = ("att", "cache", "entry", "fallback", "lookups", "nstacks", "return_match",
                 "rx", "sid", "stacks", "txc")

    def __init__(self, entry: SidEntry, cache: FlowCache | None) -> None:
        self.entry = entry
        self.sid = entry.sid
        self.att: AttState | None = None
        self.stacks = [encode_stack(s, ttl=entry.ttl) for s in entry.restore or []]
        self.nstacks = len(self.stacks)
        self.fallback = encode_stack(entry.fallback, ttl=entry.ttl) if entry.fallback else None
        self.return_match = entry.return_match
        self.cache = cache
        # [packets, bytes] from the SR side: an array so the compiled fast path can count in place
        self.rx = array("Q", (0, 0))
        # [packets, bytes] back to the SR side and cache [hits, misses]: arrays too, so that a new version of
        # the tables shares them and a loop still holding the old tables never loses a count
        self.txc = array("Q", (0, 0))
        self.lookups = array("Q", (0, 0))

    @property
    def rx_pkts(self) -> int:
        return self.rx[0]

    @property
    def rx_bytes(self) -> int:
        return self.rx[1]

    @property
    def tx_pkts(self) -> int:
        return self.txc[0]

    @property
    def tx_bytes(self) -> int:
        return self.txc[1]

    @property
    def hits(self) -> int:
        return self.lookups[0]

    @property
    def misses(self) -> int:
        return self.lookups[1]

    def take_counters(self, old: SidState) -> None:
        # the same arrays: frames counted by a loop still holding the old tables are kept
        self.rx, self.txc, self.lookups = old.rx, old.txc, old.lookups


class VersionRuns:
    """A pinned flow's frames sent to the VNF, as runs of one static SID each, oldest first, with how many
    of each run have not come back yet. A VNF that keeps a flow's order returns them in that order, so a
    frame coming back takes the SID it left under, not the flow's newest: during a chain change a frame
    still inside the VNF (or still in our TX ring) when the flow's first new-version frame arrives keeps
    its old version's stack. A run the VNF dropped frames of would hold the head forever: after
    RUN_RESIDENCE_S without a frame sent on it, a newer run takes over."""

    __slots__ = ("runs",)

    def __init__(self, st: SidState, now: float) -> None:
        self.runs: deque[list[Any]] = deque([[st, 1, now]])  # [SidState, frames not back yet, last sent]

    def sent(self, st: SidState, now: float) -> None:
        last = self.runs[-1]
        if last[0].sid == st.sid:  # the same SID across table rebuilds (a rebuild makes new SidStates)
            last[0], last[2] = st, now
            last[1] += 1
        else:
            self.runs.append([st, 1, now])

    def returned(self, now: float) -> SidState:
        runs = self.runs
        while len(runs) > 1 and (runs[0][1] <= 0 or now - runs[0][2] > RUN_RESIDENCE_S):
            runs.popleft()
        head = runs[0]
        if head[1] > 0:  # frames the VNF makes itself count against nothing
            head[1] -= 1
        st: SidState = head[0]
        return st

    @property
    def latest(self) -> SidState:
        st: SidState = self.runs[-1][0]
        return st


class AttState:
    """A VNF attachment: headers toward the VNF, the SIDs that return through it, the socket slot."""

    __slots__ = ("att", "dmac", "dyn", "hdr4", "hdr6", "pins", "prepin", "prepin_end", "smac", "srv6", "static",
                 "takes_broadcast", "tx", "vnf")

    def __init__(self, att: Attachment, smac: str, dmac: str | None) -> None:
        self.att = att
        self.vnf = att.vnf
        self.smac = smac
        self.dyn: list[SidState] = []
        self.static: list[SidState] = []
        self.pins: FlowCache | None = None  # flow -> static SID, used when several static SIDs share the VNF
        # The attachment's only static SID before pins began: frames already inside the VNF then went in under
        # it, uncounted. Until prepin_end (RUN_RESIDENCE_S after the first frame seen with pins; 0: not yet)
        # a returning frame of a flow nobody pinned is one of them, not a frame of the newest version.
        self.prepin: SidState | None = None
        self.prepin_end = 0.0
        self.srv6: list[Any] = []  # SRv6 SIDs returning through it (srv6.Srv6State; never mixed with dyn/static)
        self.tx = None  # send socket, filled in by the data path
        # without next_hop or mac the proxy sends the VNF broadcast frames (L2 VNFs): a VNF that passes them
        # through sends them back to the broadcast MAC
        self.takes_broadcast = att.next_hop is None and att.mac is None
        self.dmac: str | None = None
        self.hdr4 = self.hdr6 = b""
        self.set_dmac(dmac)

    def set_dmac(self, dmac: str | None) -> None:
        if dmac is not None:
            self.hdr4 = eth_header(dmac, self.smac, ETHERTYPE_IPV4)
            self.hdr6 = eth_header(dmac, self.smac, ETHERTYPE_IPV6)
        self.dmac = dmac  # set last: a non-None dmac means the headers are ready


@dataclass
class Tables:
    sids: dict[int, SidState] = field(default_factory=dict)
    atts: dict[str, AttState] = field(default_factory=dict)
    srv6: Any = None  # srv6.Srv6 when there are SRv6 SIDs (filled in by srv6.build)


class Engine:
    def __init__(self, sr_mac: str, sr_next_hop_mac: str, msd: int = 8, sr_vlan: int | None = None) -> None:
        """sr_vlan: the SR side's VLAN (802.1Q ID): frames from the switch must carry it, frames to the
        switch get it; None: untagged."""
        self.msd = msd
        self.sr_tag = vlan_tag(sr_vlan)
        # headers of frames back to the switch: 14 bytes, or 18 with the VLAN tag
        self.sr_mpls = eth_header(sr_next_hop_mac, sr_mac, ETHERTYPE_MPLS, sr_vlan)
        self.sr_ip4 = eth_header(sr_next_hop_mac, sr_mac, ETHERTYPE_IPV4, sr_vlan)
        self.sr_ip6 = eth_header(sr_next_hop_mac, sr_mac, ETHERTYPE_IPV6, sr_vlan)
        self.drops: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.sids: dict[int, SidState] = {}
        self.atts: dict[str, AttState] = {}
        self.ostart = 0
        self.oend = 0
        self.fast: dict[int | bytes, tuple] = {}  # per-SID entries of the compiled loop (fastpath.fast_table)
        self.srv6: Any = None  # srv6.Srv6: the SRv6 SIDs (this module does not import srv6.py)
        self.srv6_events: dict[str, int] = dict.fromkeys(SRV6_EVENTS, 0)
        # the compiled module (_fastsr) when the data path runs it: srv6.build then does SRv6 frames in C
        self.srv6_c: Any = None

    # ---- configuration -------------------------------------------------------------------------------

    def build(self, sids: Iterable[SidEntry],
              attachments: Iterable[tuple[Attachment, str, str | None]]) -> Tables:
        """Compile entries into new tables; flow caches and counters of unchanged SIDs carry over.

        attachments: (attachment, source MAC of its out interface, destination MAC or None if unresolved).
        Raises ValueError naming the SID and field when an entry does not fit this proxy (e.g. > msd).
        """
        tables = Tables()
        for attachment, smac, dmac in attachments:
            old = self.atts.get(attachment.vnf)
            if dmac is None and old is not None and old.att == attachment:
                dmac = old.dmac  # keep a resolved neighbour across unrelated changes
            tables.atts[attachment.vnf] = AttState(attachment, smac, dmac)
        for entry in sids:
            lists = [(f"restore[{i}]", s) for i, s in enumerate(entry.restore or [])]
            lists += [("fallback", entry.fallback or [])]
            for name, stack in lists:
                if len(stack) > self.msd:
                    raise ValueError(f"sids[{entry.sid}].{name}: {len(stack)} labels exceed msd {self.msd}")
            old_st = self.sids.get(entry.sid)
            cache = None
            if entry.behaviour == "dynamic":
                keep = (old_st is not None and old_st.cache is not None and old_st.entry.vnf == entry.vnf
                        and old_st.entry.cache_size == entry.cache_size)
                reused = old_st.cache if keep and old_st is not None else None
                cache = reused if reused is not None else FlowCache(entry.cache_size, entry.idle_timeout_s)
                cache.idle = entry.idle_timeout_s
            st = SidState(entry, cache)
            if old_st is not None:
                st.take_counters(old_st)
            st.att = tables.atts.get(entry.vnf)
            tables.sids[entry.sid] = st
            if st.att is not None:
                (st.att.dyn if cache is not None else st.att.static).append(st)
        for att in tables.atts.values():
            # newest version first: it serves returning packets nobody pinned
            att.dyn.sort(key=lambda s: (s.entry.version, s.sid), reverse=True)
            att.static.sort(key=lambda s: (s.entry.version, s.sid), reverse=True)
            if len(att.static) > 1:
                old = self.atts.get(att.vnf)
                if old is not None and old.pins is not None:
                    att.pins, att.prepin_end = old.pins, old.prepin_end
                    before = old.prepin.sid if old.prepin is not None else None
                else:
                    att.pins = FlowCache(65536, 300.0)
                    before = old.static[0].sid if old is not None and len(old.static) == 1 else None
                att.prepin = next((st for st in att.static if st.sid == before), None)
        return tables

    def install(self, tables: Tables) -> None:
        # attachments first: a SID only points at attachments present in the same build
        self.atts = tables.atts
        self.sids = tables.sids
        self.srv6 = tables.srv6

    def expire(self, now: float) -> None:
        for st in self.sids.values():
            if st.cache is not None:
                st.cache.expire(now)
        for att in self.atts.values():
            if att.pins is not None:
                att.pins.expire(now)
        if self.srv6 is not None:
            self.srv6.expire(now)

    # ---- data path -----------------------------------------------------------------------------------

    def from_sr(self, buf: bytearray, s: int, e: int, now: float, meta: int = 0) -> AttState | None:
        """Frame from the SR side in buf[s:e], link facts `meta` (rings.link_meta; 0: untagged, to us).
        Returns the attachment to send buf[ostart:oend] to, or None."""
        drops = self.drops
        tag = self.sr_tag
        if meta != tag and meta & LINK_MASK != tag:  # the first compare settles the common case
            drops[link_drop(meta, tag)] += 1
            return None
        if e - s < 18:
            drops["truncated"] += 1
            return None
        if buf[s + 12] != 0x88 or buf[s + 13] != 0x47:
            if buf[s + 12] == 0x86 and buf[s + 13] == 0xDD and self.srv6 is not None:
                return self.srv6.from_sr(self, buf, s, e, now)  # srv6.Srv6.from_sr
            drops["vlan" if buf[s + 12] << 8 | buf[s + 13] in _VLAN_TPIDS else "not_mpls"] += 1
            return None
        top = _U32.unpack_from(buf, s + 14)[0]
        st = self.sids.get(top >> 12)
        if st is None:
            drops["unknown_sid"] += 1
            return None
        if top & 0xFF <= 1:
            drops["ttl_expired"] += 1
            return None
        p = s + 18  # just after the top label
        if not buf[s + 16] & 1:  # walk to the bottom of stack (S bit: lowest bit of an entry's third byte)
            limit = s + 14 + 4 * self.msd
            while True:
                if p >= limit:
                    drops["stack_too_deep"] += 1
                    return None
                if p + 4 > e:
                    drops["truncated"] += 1
                    return None
                p += 4
                if buf[p - 2] & 1:
                    break
        if e - p >= 20 and buf[p] == 0x45:  # the common case inline: IPv4 without options
            end = p + (buf[p + 2] << 8 | buf[p + 3])
            if end > e or end < p + 20:
                drops["truncated"] += 1
                return None
        else:
            end = ip_end(buf, p, e)
            if end < 0:
                drops["not_ip" if p < e and buf[p] >> 4 not in (4, 6) else "truncated"] += 1
                return None
        att = st.att
        if att is None:
            drops["no_attachment"] += 1
            return None
        if att.dmac is None:
            drops["no_neighbour"] += 1
            return None
        if st.cache is not None:
            st.cache.learn(flow_key(buf, p, end), bytes(buf[s + 18:p]), now)
        elif att.pins is not None:
            key = flow_key(buf, p, end)
            pinned = att.pins.lookup(key, now)
            if att.prepin is not None and not att.prepin_end:
                att.prepin_end = now + RUN_RESIDENCE_S
            if pinned is None:
                att.pins.learn(key, VersionRuns(st, now), now)
            else:
                pinned[0].sent(st, now)
        buf[p - 14:p] = att.hdr4 if buf[p] >> 4 == 4 else att.hdr6
        rx = st.rx
        rx[0] += 1
        rx[1] += e - s
        self.ostart = p - 14
        self.oend = end
        return att

    def from_vnf(self, att: AttState, buf: bytearray, s: int, e: int, now: float, meta: int = 0) -> bool:
        """Frame from a VNF attachment in buf[s:e], HEADROOM free bytes before s, link facts `meta` (as
        from_sr's). Attachments take no tag: a VLAN attachment's sub-interface has already consumed its own.

        Returns True when buf[ostart:oend] is to be sent to the SR side.
        """
        drops = self.drops
        if meta and not (meta == BROADCAST_META and att.takes_broadcast):
            drops["return_" + link_drop(meta, 0)] += 1
            return False
        if e - s < 14:
            drops["return_truncated"] += 1
            return False
        et = buf[s + 12] << 8 | buf[s + 13]
        p = s + 14
        want = 4 if et == ETHERTYPE_IPV4 else 6 if et == ETHERTYPE_IPV6 else 0
        if not want or (p < e and buf[p] >> 4 != want):
            drops[return_refusal(et)] += 1
            return False
        end = ip_end(buf, p, e)
        if end < 0:
            drops["return_truncated"] += 1
            return False
        st: SidState | None = None
        stack = b""
        key = None
        if att.dyn:
            key = flow_key(buf, p, end)
            best = None
            for d in att.dyn:
                # dyn holds dynamic SIDs only, which always have a cache (no check on the per-packet path)
                cache: FlowCache = d.cache  # type: ignore[assignment]
                match = d.return_match
                ent = cache.lookup(key, now) if match != "reverse" else None
                if ent is None and match != "same":
                    ent = cache.lookup(reverse_key(key), now)
                if ent is not None:
                    d.lookups[0] += 1
                    if best is None or ent[1] > best[1][1]:
                        best = (d, ent)
                else:
                    d.lookups[1] += 1
            if best is not None:
                st, stack = best[0], best[1][0]
        if st is None and att.static:
            st = att.static[0]
            if att.pins is not None:
                key = key or flow_key(buf, p, end)
                ent = att.pins.lookup(key, now)
                if ent is not None:  # the flow's own direction: in the order its frames went in
                    st = ent[0].returned(now)
                else:
                    ent = att.pins.lookup(reverse_key(key), now)
                    if ent is not None:  # its reverse direction, made by the VNF: the flow's newest version
                        st = ent[0].latest
                    elif att.prepin is not None:  # went in before pins began, under the SID there was then
                        if not att.prepin_end:
                            att.prepin_end = now + RUN_RESIDENCE_S
                        if now < att.prepin_end:
                            st = att.prepin
            if st.nstacks == 1:
                stack = st.stacks[0]
            else:
                key = key or flow_key(buf, p, end)
                stack = st.stacks[stable_hash(key) % st.nstacks]
        if st is None:
            if not att.dyn:
                drops["no_sid"] += 1
                return False
            d = att.dyn[0]
            if d.fallback is None:
                drops["flow_miss"] += 1
                return False
            st, stack = d, d.fallback
        head = self.sr_mpls
        h = p - len(stack) - len(head)
        if stack:
            buf[h:h + len(head)] = head
            buf[h + len(head):p] = stack
        else:  # the proxy SID was the bottom label: the packet leaves as plain IP
            buf[h:p] = self.sr_ip4 if buf[p] >> 4 == 4 else self.sr_ip6
        txc = st.txc
        txc[0] += 1
        txc[1] += end - h
        self.ostart = h
        self.oend = end
        return True

    # ---- reporting -----------------------------------------------------------------------------------

    def counters(self) -> dict:
        sids = {}
        for sid, st in sorted(self.sids.items()):
            row = {"vnf": st.entry.vnf, "version": st.entry.version, "behaviour": st.entry.behaviour,
                   "rx_packets": st.rx_pkts, "rx_bytes": st.rx_bytes,
                   "tx_packets": st.tx_pkts, "tx_bytes": st.tx_bytes}
            if st.cache is not None:
                row["cache"] = {"entries": len(st.cache), "size": st.cache.size, "hits": st.hits,
                                "misses": st.misses, "evictions": st.cache.evictions,
                                "expired": st.cache.expired, "learned": st.cache.learned,
                                "full": len(st.cache) >= st.cache.size}
            sids[str(sid)] = row
        out = {"sids": sids, "drops": dict(self.drops), "drops_total": sum(self.drops.values())}
        if self.srv6 is not None:
            out.update(self.srv6.counters())
        else:
            out.update({"srv6_sids": {}, "srv6_events": dict(self.srv6_events)})
        return out
