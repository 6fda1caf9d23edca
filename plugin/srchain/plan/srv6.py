"""An SRv6 chain's plan: SIDs on the proxies' and the tail's locators, the segment lists, the proxies'
`Srv6SidEntry`s, and what the Linux head end and tail are to do.

Order of work, as for SR-MPLS (builder.py): the tail's decapsulating SID, then the VNF SIDs' contexts from
the tail back to the head (an SID's context names the path behind it, so a changed path gets a new SID and
the old one serves until cleanup) and their SIDs from the head; the segment list per load-balancing bucket
(the VNF SIDs, then the tail's), checked against the MSD; then the entries:

- proxy `srv6_sid` (key `sid`, the address; action the behaviour): End.AS with the segment lists behind it
  (one per distinct downstream path; the proxy picks one per flow), End.AD per flow, End.AM; each built
  through the proxy's own `Srv6SidEntry`, so what plans, the proxy accepts; `attachment` as for SR-MPLS;
- node `seg6.encap` on the head end (role `classifier`: it flips): per rule and bucket, H.Encaps with the
  node's address as outer source and the segment list;
- node `seg6local` on the tail: its SID decapsulates (End.DX4 to the spec's next hop, or End.DT6 into the
  main table).

No P4 SRv6 variant exists yet: a P4 segment or a switch head end in an SRv6 chain is refused.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import ValidationError

from srchain.model.load import ChainModel, ResolvedSegment
from srchain.model.spec import SRV6_BEHAVIOURS, Match, P4Segment, Ternary, VnfSegment
from srchain.plan import tables as T
from srchain.plan.errors import PlanError
from srchain.plan.model import Entry, Key, Params, Plan, SidInfo, Stack
from srchain.plan.model import Ternary as TernaryKey
from srchain.sidstore import Allocation
from srchain_contracts import proxy_api as px

PROXY_SRV6_SID = "srv6_sid"  # the proxy's /v1/srv6/sids: key sid (address); action end.as | end.ad | end.am
NODE_ENCAP = "seg6.encap"  # head end: key rule + lb_bucket; action h.encaps (ip route ... encap seg6 mode encap)
NODE_LOCAL = "seg6local"  # tail: key sid; action end.dx4 | end.dt6 (ip -6 route SID encap seg6local action ...)
TAIL_SEGMENT = "@tail"  # the tail SID's segment name in the SID store (no spec segment can be named so)
MAIN_TABLE = 254  # End.DT6 looks the inner packet up in the main routing table


def _match(m: Match) -> Params:
    """The rule's match as the head end takes it: omitted fields are wildcards and stay out."""
    out: Params = {}
    for name in ("src", "dst", "protocol", "ingress_port"):
        if (value := getattr(m, name)) is not None:
            out[name] = value
    for name in ("src_port", "dst_port"):
        port = getattr(m, name)
        if isinstance(port, Ternary):
            out[name] = {"value": port.value, "mask": port.mask}
        elif port is not None:
            out[name] = port
    return out


class Srv6Builder:
    def __init__(self, model: ChainModel, tx: Allocation, version: int, digest: str, buckets: int) -> None:
        self.m = model
        self.spec = model.spec
        self.inv = model.inventory
        self.tx = tx
        self.version = version
        self.digest = digest
        self.buckets = buckets
        self.sid: dict[tuple[str, str], str] = {}
        self.since: dict[str, int] = {}
        self.sids: list[SidInfo] = []
        self.entries: dict[tuple[str, str, str, str], Entry] = {}

    def refuse(self, reason: str) -> PlanError:
        return PlanError(f"chain '{self.spec.chain}': {reason}")

    def check_supported(self) -> None:
        """What the SRv6 data plane has no component for yet, refused by name before anything is allocated."""
        if self.spec.classifier.switch is not None:
            raise self.refuse(f"classifier.switch '{self.spec.classifier.switch}': a switch head end needs the P4 "
                              "SRv6 variant, which does not exist yet (issue 19); classify on an SRv6 node "
                              "(classifier.node)")
        for seg in self.m.segments:
            if isinstance(seg.spec, P4Segment):
                raise self.refuse(f"segment '{seg.name}' is the P4 module '{seg.spec.module}' on switch "
                                  f"'{seg.spec.switch}': a switch segment in an srv6 chain needs the P4 SRv6 "
                                  "variant, which does not exist yet (issue 19); use an sr-mpls chain for it")

    # -- SIDs -------------------------------------------------------------------------------------
    def _vnf(self, seg: ResolvedSegment) -> VnfSegment:
        assert isinstance(seg.spec, VnfSegment)  # check_supported refused the others
        return seg.spec

    def _paths_behind(self, seg: ResolvedSegment, instance: str) -> list[list[tuple[str, str]]]:
        """Distinct (segment, instance) paths after this instance over the buckets that reach it (the
        tail's SID ends each; builder._restore_paths for SR-MPLS)."""
        out: list[list[tuple[str, str]]] = []
        for b in range(self.buckets):
            if seg.instances[b % len(seg.instances)] != instance:
                continue
            rest = [(later.name, later.instances[b % len(later.instances)]) for later in self.m.segments
                    if later.index > seg.index and later.takes("data")]
            if rest not in out:
                out.append(rest)
        return out

    def allocate(self) -> None:
        assert self.spec.srv6 is not None and self.spec.classifier.node is not None  # load.check_dataplane
        tail = self.inv.srv6_node(self.spec.srv6.tail)
        assert tail is not None
        tail_ctx = f"srv6/node/{tail.name}/{tail.locator}/{self.spec.srv6.decap}/{self.spec.srv6.next_hop}"
        t = self.tx.srv6_sid(self.spec.chain, TAIL_SEGMENT, tail.name, tail_ctx, self.version, tail.locator)
        self.tail_sid = t.sid
        self.since[t.sid] = t.since
        context: dict[tuple[str, str], str] = {}
        for seg in reversed(self.m.segments):
            spec = self._vnf(seg)
            proxy = self.inv.proxy(spec.proxy)
            assert proxy is not None and proxy.locator is not None  # load._vnf_dataplane
            for inst in seg.instances:
                behind = [[[*o, context[o]] for o in path] + [[TAIL_SEGMENT, tail_ctx]]
                          for path in self._paths_behind(seg, inst)]
                digest = hashlib.sha256(json.dumps(behind).encode()).hexdigest()[:16]
                behaviour = SRV6_BEHAVIOURS[spec.behaviour]
                context[(seg.name, inst)] = (f"srv6/proxy/{proxy.name}/{proxy.locator}/{behaviour}/{seg.traffic}"
                                             f"/behind={digest}")
        for seg in self.m.segments:
            spec = self._vnf(seg)
            proxy = self.inv.proxy(spec.proxy)
            assert proxy is not None and proxy.locator is not None
            for inst in seg.instances:
                s = self.tx.srv6_sid(self.spec.chain, seg.name, inst, context[(seg.name, inst)], self.version,
                                     proxy.locator)
                self.sid[(seg.name, inst)] = s.sid
                self.since[s.sid] = s.since
                self.sids.append(SidInfo(seg.name, inst, s.sid, "proxy", proxy.name,
                                         f"proxy:{SRV6_BEHAVIOURS[spec.behaviour]}", s.since))
        self.sids.append(SidInfo(TAIL_SEGMENT, tail.name, t.sid, "node", tail.name, f"node:{self.spec.srv6.decap}",
                                 t.since))

    # -- segment lists ----------------------------------------------------------------------------
    def segment_lists(self) -> dict[int, list[str]]:
        lists = {b: [self.sid[(s.name, s.instances[b % len(s.instances)])] for s in self.m.segments
                     if s.takes("data")] + [self.tail_sid] for b in range(self.buckets)}
        depth = max(len(v) for v in lists.values())
        if depth > self.spec.msd:
            raise self.refuse(f"the data path needs a segment list of {depth} segments (the VNFs' SIDs and the "
                              f"tail's), more than the MSD {self.spec.msd}; shorten the chain or raise msd if "
                              "the head end and every node on the path take that many")
        return lists

    def groups(self, lists: dict[int, list[str]]) -> list[tuple[list[int], list[str]]]:
        """[(buckets, segment list)]: one group when every bucket has the same list, else one per bucket."""
        if len({tuple(v) for v in lists.values()}) == 1:
            return [(list(range(self.buckets)), lists[0])]
        return [([b], lists[b]) for b in range(self.buckets)]

    def bucket_key(self, buckets: list[int]) -> TernaryKey:
        """Ternary on the bucket, or a wildcard when all buckets agree (builder._bucket_key's rule)."""
        if len(buckets) == self.buckets:
            return {"value": 0, "mask": 0}
        return {"value": buckets[0], "mask": self.buckets - 1}

    # -- entries ----------------------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        old = self.entries.get(entry.identity)
        if old is not None and old.content != entry.content:
            raise self.refuse(f"conflicting entries on {entry.target_kind} '{entry.target}' table {entry.table} "
                              f"key {entry.key}: {old.action}{old.params} vs {entry.action}{entry.params}")
        self.entries[entry.identity] = entry

    def proxy_entries(self) -> None:
        for seg in self.m.segments:
            spec = self._vnf(seg)
            proxy = self.inv.proxy(spec.proxy)
            assert proxy is not None
            behaviour = SRV6_BEHAVIOURS[spec.behaviour]
            for inst in seg.instances:
                sid = self.sid[(seg.name, inst)]
                try:  # through the proxy's own model: an entry the proxy would refuse fails here, at plan time
                    if behaviour == "end.as":
                        lists = [[self.sid[o] for o in path] + [self.tail_sid]
                                 for path in self._paths_behind(seg, inst)]
                        # the outer source of the rebuilt header: the proxy SID itself, an address of the proxy
                        wire = px.Srv6SidEntry(sid=sid, behaviour="end.as", vnf=inst, source=sid, segments=lists,
                                               hop_limit=self.spec.ttl)
                    elif behaviour == "end.ad":  # per flow, as SR-MPLS dynamic SIDs learn
                        wire = px.Srv6SidEntry(sid=sid, behaviour="end.ad", vnf=inst, cache_key="flow",
                                               return_match=spec.return_match, cache_size=spec.cache_size,
                                               idle_timeout_s=spec.idle_timeout_s)
                    else:
                        wire = px.Srv6SidEntry(sid=sid, behaviour="end.am", vnf=inst)
                except ValidationError as exc:
                    reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                    raise self.refuse(f"segment '{seg.name}' (instance '{inst}'): the proxy would refuse its "
                                      f"{behaviour} SID: {reasons}") from None
                self.add(Entry("proxy", proxy.name, PROXY_SRV6_SID, {"sid": sid}, behaviour, wire.params(),
                               "proxy_sid", self.since[sid]))
                att = proxy.attachment(inst)
                assert att is not None
                self.add(Entry("proxy", proxy.name, T.PROXY_ATTACHMENT, {"vnf": inst}, "attach", att.params(),
                               "attachment"))

    def node_entries(self, lists: dict[int, list[str]]) -> None:
        assert self.spec.srv6 is not None and self.spec.classifier.node is not None
        head = self.inv.srv6_node(self.spec.classifier.node)
        tail = self.inv.srv6_node(self.spec.srv6.tail)
        assert head is not None and tail is not None
        for rule in self.spec.classifier.rules:
            for buckets, segments in self.groups(lists):
                key: Key = {"rule": rule.name, "lb_bucket": self.bucket_key(buckets)}
                encap: Params = {"match": _match(rule.match), "priority": rule.priority, "source": head.address,
                                 "segments": segments}
                if head.interface is not None:
                    encap["dev"] = head.interface
                self.add(Entry("node", head.name, NODE_ENCAP, key, "h.encaps", encap, "classifier", self.version))
        local: Params = {"nh4": self.spec.srv6.next_hop} if self.spec.srv6.decap == "end.dx4" else {"table": MAIN_TABLE}
        if tail.interface is not None:
            local["dev"] = tail.interface
        self.add(Entry("node", tail.name, NODE_LOCAL, {"sid": self.tail_sid}, self.spec.srv6.decap, local,
                       "decap_sid", self.since[self.tail_sid]))

    def build(self) -> Plan:
        self.check_supported()
        self.allocate()
        lists = self.segment_lists()
        stacks = [Stack("data", b, segs) for b, segs in self.groups(lists)]
        self.proxy_entries()
        self.node_entries(lists)
        entries = sorted(self.entries.values(), key=lambda e: e.identity)
        return Plan(self.spec.chain, self.version, self.digest, self.buckets, self.sids, stacks, entries)
