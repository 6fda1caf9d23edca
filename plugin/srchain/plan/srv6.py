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
  main table);
- switches (the P4 srv6 profile, srchain.plan.srv6switch) where the chain has a P4 segment, a switch head end,
  or passes through one: a module SID (End + the module, on the switch's locator; the module's key is the SID's
  function) in `srv6.local_sid`, `srv6.sid_forward` rows by locator along every segment list's way (unversioned:
  a locator's route is the same for every chain), the head end's `classifier.rules` H.Encaps (`encaps_<n>`,
  source = the locator's first address), the priority module's queue map, decision group and TM rows, the
  flow-features module's report rows (the report path H.Encaps'd in egress). The profile runs one local SID per
  pass and parses at most MAX_SEGMENTS segments: a list that breaks either is refused by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pydantic import ValidationError

from srchain.model.inventory import Srv6Node
from srchain.model.load import ChainModel, ResolvedSegment
from srchain.model.modules import FlowFeaturesParams, PriorityParams
from srchain.model.spec import SRV6_BEHAVIOURS, Match, NodeSegment, P4Segment, Ternary, VnfSegment
from srchain.plan import srv6switch as S6
from srchain.plan import tables as T
from srchain.plan import tm as TM
from srchain.plan.errors import PlanError
from srchain.plan.match import match_key
from srchain.plan.model import Entry, Key, Params, Plan, SidInfo, Stack, TargetKind
from srchain.plan.model import Ternary as TernaryKey
from srchain.plan.p4rows import decision_group, report_group
from srchain.plan.topology import Hop, Topology, Unreachable
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
        self.topo = Topology(model.inventory)
        self.owner: dict[str, tuple[str, str]] = {}  # SID -> (target kind, name): where it is processed
        self.locator: dict[str, str] = {}  # SID -> its node's locator

    def refuse(self, reason: str) -> PlanError:
        return PlanError(f"chain '{self.spec.chain}': {reason}")

    # -- SIDs -------------------------------------------------------------------------------------
    def _node(self, name: str) -> Srv6Node:
        node = self.inv.srv6_node(name)
        assert node is not None  # load._node_segment
        return node

    def _switch_locator(self, name: str) -> str:
        sw = self.inv.switch(name)
        assert sw is not None and sw.locator is not None  # load._p4_dataplane / check_dataplane
        return sw.locator

    def _paths_behind(self, seg: ResolvedSegment, instance: str) -> list[list[tuple[str, str]]]:
        """Distinct (segment, instance) paths after this instance over the buckets that reach it (the
        tail's SID ends each; builder._restore_paths for SR-MPLS)."""
        out: list[list[tuple[str, str]]] = []
        for b in range(self.buckets):
            if seg.instances[b % len(seg.instances)] != instance:
                continue
            path = "reports" if seg.traffic == "reports" else "data"  # the path this segment sits on
            rest = [(later.name, later.instances[b % len(later.instances)]) for later in self.m.segments
                    if later.index > seg.index and later.takes(path)]
            if rest not in out:
                out.append(rest)
        return out

    def allocate(self) -> None:
        assert self.spec.srv6 is not None  # load.check_dataplane
        tail = self.inv.srv6_node(self.spec.srv6.tail)
        assert tail is not None
        tail_ctx = f"srv6/node/{tail.name}/{tail.locator}/{self.spec.srv6.decap}/{self.spec.srv6.next_hop}"
        t = self.tx.srv6_sid(self.spec.chain, TAIL_SEGMENT, tail.name, tail_ctx, self.version, tail.locator)
        self.tail_sid = t.sid
        self.since[t.sid] = t.since
        self.owner[t.sid] = ("node", tail.name)
        self.locator[t.sid] = tail.locator
        context: dict[tuple[str, str], str] = {}
        for seg in reversed(self.m.segments):
            spec = seg.spec
            if isinstance(spec, P4Segment):  # a module SID depends on (switch, module) only, as a label does
                context[(seg.name, seg.name)] = (f"srv6/p4/{spec.switch}/{self._switch_locator(spec.switch)}/"
                                                 f"{spec.module}")
                continue
            if isinstance(spec, NodeSegment):  # an End does the same whatever follows it
                context[(seg.name, seg.name)] = f"srv6/node/{spec.node}/{self._node(spec.node).locator}/end"
                continue
            proxy = self.inv.proxy(spec.proxy)
            assert proxy is not None and proxy.locator is not None  # load._vnf_dataplane
            for inst in seg.instances:
                behind = [[[*o, context[o]] for o in path] + [[TAIL_SEGMENT, tail_ctx]]
                          for path in self._paths_behind(seg, inst)]
                digest = hashlib.sha256(json.dumps(behind).encode()).hexdigest()[:16]
                context[(seg.name, inst)] = (f"srv6/proxy/{proxy.name}/{proxy.locator}/"
                                             f"{SRV6_BEHAVIOURS[spec.behaviour]}/{seg.traffic}/behind={digest}")
        for seg in self.m.segments:
            spec = seg.spec
            where: TargetKind
            if isinstance(spec, P4Segment):
                where, name, locator = "switch", spec.switch, self._switch_locator(spec.switch)
                kind = f"p4:{spec.module}"
            elif isinstance(spec, NodeSegment):
                where, name, locator, kind = "node", spec.node, self._node(spec.node).locator, "node:end"
            else:
                proxy = self.inv.proxy(spec.proxy)
                assert proxy is not None and proxy.locator is not None
                where, name, locator = "proxy", proxy.name, proxy.locator
                kind = f"proxy:{SRV6_BEHAVIOURS[spec.behaviour]}"
            for inst in seg.instances:
                s = self.tx.srv6_sid(self.spec.chain, seg.name, inst, context[(seg.name, inst)], self.version,
                                     locator)
                self.sid[(seg.name, inst)] = s.sid
                self.since[s.sid] = s.since
                self.owner[s.sid] = (where, name)
                self.locator[s.sid] = locator
                self.sids.append(SidInfo(seg.name, inst, s.sid, where, name, kind, s.since))
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

    def report_lists(self, emitter: ResolvedSegment) -> dict[int, list[str]]:
        """The report path of a flow-features segment per bucket: the later segments that take reports, then the
        tail's SID (a module SID is an End: it needs a segment after it, and so does a report's last consumer)."""
        return {b: [self.sid[(s.name, s.instances[b % len(s.instances)])] for s in self.m.segments
                    if s.index > emitter.index and s.takes("reports")] + [self.tail_sid] for b in range(self.buckets)}

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
            spec = seg.spec
            if not isinstance(spec, VnfSegment):
                continue
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
        assert self.spec.srv6 is not None
        tail = self.inv.srv6_node(self.spec.srv6.tail)
        assert tail is not None
        head = self.inv.srv6_node(self.spec.classifier.node) if self.spec.classifier.node is not None else None
        for rule in self.spec.classifier.rules:
            if head is None:  # a switch head end: switch_head_entries
                break
            for buckets, segments in self.groups(lists):
                key: Key = {"rule": rule.name, "lb_bucket": self.bucket_key(buckets)}
                encap: Params = {"match": _match(rule.match), "priority": rule.priority, "source": head.address,
                                 "segments": segments}
                if self.spec.srv6.encap != "encap":
                    encap["mode"] = self.spec.srv6.encap
                if head.interface is not None:
                    encap["dev"] = head.interface
                self.add(Entry("node", head.name, NODE_ENCAP, key, "h.encaps", encap, "classifier", self.version))
        for seg in self.m.segments:  # a Linux End in the middle of the chain
            if isinstance(seg.spec, NodeSegment):
                node, sid = self._node(seg.spec.node), self.sid[(seg.name, seg.name)]
                end: Params = {"dev": node.interface} if node.interface is not None else {}
                self.add(Entry("node", node.name, NODE_LOCAL, {"sid": sid}, "end", end, "end_sid", self.since[sid]))
        local: Params = {"nh4": self.spec.srv6.next_hop} if self.spec.srv6.decap == "end.dx4" else {"table": MAIN_TABLE}
        if tail.interface is not None:
            local["dev"] = tail.interface
        self.add(Entry("node", tail.name, NODE_LOCAL, {"sid": self.tail_sid}, self.spec.srv6.decap, local,
                       "decap_sid", self.since[self.tail_sid]))

    # -- switches (the P4 srv6 profile) -----------------------------------------------------------
    def head_switch(self) -> str | None:
        """Where the data path's packets first meet a switch: the switch head end, or the switch a Linux head
        end is wired to (`peer: {srv6_node}`); None when the head end reaches the first SID without one."""
        if self.spec.classifier.switch is not None:
            return self.spec.classifier.switch
        at = self.topo.node_at.get(self.spec.classifier.node or "")
        return at.switch if at is not None else None

    def _route(self, what: str, sid: str, hop: Hop) -> None:
        """The locator of `sid`'s node routed out of hop.switch by `hop`: a sid_forward row (LPM)."""
        self.add(Entry("switch", hop.switch, S6.SID_FORWARD, {"dst_addr": S6.locator_key(self.locator[sid])},
                       S6.SID_FORWARD_ACTION, {"port": hop.port, "dst_mac": hop.dst_mac}, S6.LOCATOR_ROUTE))

    def _unreachable(self, what: str, sid: str, reason: str) -> PlanError:
        kind, name = self.owner[sid]
        seg = next((s.segment for s in self.sids if s.sid == sid), TAIL_SEGMENT)
        who = f"the tail '{name}'" if seg == TAIL_SEGMENT else f"segment '{seg}' ({kind} '{name}')"
        return self.refuse(f"the {what} cannot reach {who}: {reason}")

    def is_end_as(self, sid: str) -> bool:
        return any(s.sid == sid and s.behaviour == "proxy:end.as" for s in self.sids)

    def pushed(self, segs: list[str]) -> list[str]:
        """What a switch head end (classifier or report encap) pushes for the segment list `segs`: all of it when a
        P4 switch parses that many, else only up to the first End.AS SID and the segment after it (End.AS needs
        Segments Left ≥ 1). End.AS removes the outer header with its SRH and writes the lists behind its instance
        itself, so the segments after it in the pushed SRH are never read; the walk checks each leg's own list."""
        if len(segs) <= S6.MAX_SEGMENTS:
            return segs
        cut = next((i for i, sid in enumerate(segs[:-1]) if self.is_end_as(sid)), None)
        return segs if cut is None else segs[:cut + 2]

    def walk(self, what: str, start: str | None, segs: list[str],
             first_hop: Callable[[Hop], None] | None = None, wire: int | None = None) -> None:
        """Follow a segment list from where its packets first meet a switch (`start`; None: outside any
        switch, IPv6 routing beyond the inventory's switches): a switch's own module SID runs there (one per
        pass: the next SID is looked up in sid_forward); any other SID is forwarded hop by hop toward its
        node's locator. A proxy returns the packet to the switch it is wired to (if any); the tail is the end.
        With `first_hop`, the first hop out of `start` is handed to it (the report leaves by its report port).
        `wire`: the segments the head end pushes (`pushed`; default all); after an End.AS SID the SRH on the wire is
        the one the proxy rebuilds, the segments after it."""
        loc, ran_here = start, False
        wire = len(segs) if wire is None else wire
        for i, sid in enumerate(segs):
            kind, name = self.owner[sid]
            if loc is not None and wire > S6.MAX_SEGMENTS:
                raise self.refuse(f"the {what} has a segment list of {wire} segments and crosses switch "
                                  f"'{loc}', whose P4 srv6 profile parses at most {S6.MAX_SEGMENTS} "
                                  f"(SRV6_MAX_SEGS); shorten the chain")
            if kind == "switch":
                if loc == name:
                    if i == 0 and first_hop is not None:
                        raise self.refuse(f"the {what} starts with a segment on the same switch '{name}' that "
                                          "emits it; the report must leave the switch first (reorder the segments)")
                    if ran_here:
                        raise self.refuse(f"the {what} runs two SIDs in a row on switch '{name}' "
                                          f"({segs[i - 1]} then {sid}); the P4 srv6 profile runs one local SID "
                                          "per pass (reorder the segments, or put another node between them)")
                    ran_here = True
                    continue
                if loc is not None:
                    self._toward(what, sid, loc, name, start, i, first_hop)
                loc, ran_here = name, True
                continue
            at = self.topo.proxy_at.get(name) if kind == "proxy" else self.topo.node_at.get(name)
            if loc is not None:
                if at is None:
                    raise self._unreachable(what, sid, f"no switch port leads to {kind} '{name}' from switch "
                                            f"'{loc}' (a port with peer {{{'proxy' if kind == 'proxy' else 'srv6_node'}"
                                            f": {name}}})")
                if at.switch != loc:
                    self._toward(what, sid, loc, at.switch, start, i, first_hop)
                if first_hop is not None and at.switch == start and i == 0:
                    first_hop(at)
                else:
                    self._route(what, sid, at)
            elif at is not None:  # from outside the switches to a node behind one: its last switch routes it
                self._route(what, sid, at)
            loc = at.switch if at is not None else None  # a proxy (a Linux End) sends back through its switch
            ran_here = False
            if self.is_end_as(sid):  # the proxy sends the VNF's packet on with the rest of the list, rebuilt
                wire = len(segs) - i - 1

    def _toward(self, what: str, sid: str, loc: str, target: str, start: str | None, i: int,
                first_hop: Callable[[Hop], None] | None) -> None:
        """sid_forward rows for `sid`'s locator on every switch from `loc` up to (not including) `target`."""
        while loc != target:
            try:
                hop = self.topo.next_hop(loc, target)
            except Unreachable as exc:
                raise self._unreachable(what, sid, str(exc)) from None
            if hop.wan is not None:
                raise self._unreachable(what, sid, f"it lies across WAN link '{hop.wan}' (an srv6 chain across "
                                        "sites is not planned yet)")
            if first_hop is not None and loc == start and i == 0:
                first_hop(hop)
            else:
                self._route(what, sid, hop)
            assert hop.peer_switch is not None
            loc = hop.peer_switch

    def route_entries(self) -> None:
        """Plain IPv4 forwarding on the srv6 switches (those with a locator), as on SR-MPLS: a /32 route to every
        inventory host of the switch's site, toward its port (traffic no rule classifies, and replies)."""
        for sw in self.inv.switches:
            if sw.locator is None:
                continue
            for host in self.inv.hosts:
                at = self.topo.host_at.get(host.name)
                if at is None or self.inv.site_of("switches", sw.name) != self.inv.site_of("hosts", host.name):
                    continue
                try:
                    hop = at if at.switch == sw.name else self.topo.next_hop(sw.name, at.switch)
                except Unreachable:
                    continue
                self.add(Entry("switch", sw.name, T.ROUTES, {"dst_addr": {"value": host.ipv4, "prefix_len": 32}},
                               T.ROUTE_ACTION, {"port": hop.port, "dst_mac": hop.dst_mac}, "route"))

    def module_key(self, seg: ResolvedSegment) -> int:
        sid = self.sid[(seg.name, seg.name)]
        return S6.function_of(sid, self.locator[sid])

    def switch_head_entries(self, lists: dict[int, list[str]]) -> None:
        """A switch head end's classifier rows: per rule and bucket group, H.Encaps of the segment list."""
        sw = self.spec.classifier.switch
        if sw is None:
            return
        source = S6.source_address(self._switch_locator(sw))
        for rule in self.spec.classifier.rules:
            for buckets, full in self.groups(lists):
                segs = self.pushed(full)
                self.add(Entry("switch", sw, S6.CLASSIFIER,
                               {**match_key(rule.match), "lb_bucket": self.bucket_key(buckets),
                                "$MATCH_PRIORITY": T.MATCH_PRIORITY_MAX - rule.priority},
                               (S6.CLASSIFIER_ENCAPS_RED if self.reduced else S6.CLASSIFIER_ENCAPS).format(n=len(segs)),
                               {"hop_limit": self.spec.ttl, "src_addr": source,
                                **{f"sid_{i}": s for i, s in enumerate(segs)}},
                               "classifier", self.version))

    def module_entries(self, seg: ResolvedSegment) -> None:
        """The module SID's local_sid row; priority: its queue map, the decision group and the TM rows of the
        ports its switch sends the chain by (planned before this)."""
        assert isinstance(seg.spec, P4Segment)
        sw, sid = seg.spec.switch, self.sid[(seg.name, seg.name)]
        key, since = self.module_key(seg), self.since[sid]
        params: Params = {"sid": key}
        if isinstance(seg.params, FlowFeaturesParams):
            params["report_every"] = seg.params.report_every
        self.add(Entry("switch", sw, S6.LOCAL_SID, {"dst_addr": sid}, S6.LOCAL_SID_ACTIONS[seg.spec.module], params,
                       "local_sid", since))
        if not isinstance(seg.params, PriorityParams):
            return
        for e in decision_group(self.topo, sw):
            self.add(e)
        for cls, qid in sorted(seg.params.queues.items()):
            self.add(Entry("switch", sw, T.QUEUE_MAP, {"sid": key, "class_id": cls}, T.QUEUE_MAP_ACTION,
                           {"qid": qid}, "queue_map", since))
        ports = sorted({p for e in self.entries.values() if e.target == sw and e.target_kind == "switch"
                        and e.table == S6.SID_FORWARD and isinstance(p := e.params.get("port"), int)})
        for port in ports:
            for qid in sorted({q for q in seg.params.queues.values() if q != 0}):
                self.add(Entry("switch", sw, TM.QUEUE_SCHED, TM.queue_key(port, qid), "",
                               {**TM.QUEUE_SCHED_DEFAULTS, "max_priority": TM.priority_name(qid)}, "tm_queue"))

    def report_entries(self, emitter: ResolvedSegment, lists: dict[int, list[str]]) -> None:
        """A flow-features segment's report path: the report port's group and mirror session, per bucket group
        the H.Encaps of the report (report.encap) and its session, and the report's addresses."""
        assert isinstance(emitter.spec, P4Segment) and isinstance(emitter.params, FlowFeaturesParams)
        sw, key = emitter.spec.switch, self.module_key(emitter)
        source = S6.source_address(self._switch_locator(sw))
        for buckets, full in self.groups(lists):
            first: list[Hop] = []
            segs = self.pushed(full)
            self.walk(f"report path of '{emitter.name}'", sw, full, first_hop=first.append, wire=len(segs))
            hop = first[0]  # the walk starts on the emitter's switch and its first SID is elsewhere
            group, rows = report_group(sw, hop.port, S6.REPORT_TRUNCATE)
            for e in rows:
                self.add(e)
            self.add(Entry("switch", sw, S6.REPORT_ENCAP, {"sid": key, "lb_bucket": self.bucket_key(buckets)},
                           S6.REPORT_ENCAPS.format(n=len(segs)),
                           {"hop_limit": self.spec.ttl, "src_mac": self.topo.port_mac(sw, hop.port),
                            "dst_mac": hop.dst_mac, "src_addr": source, **{f"sid_{i}": s for i, s in enumerate(segs)}},
                           "report_encap", self.version))
            self.add(Entry("switch", sw, T.REPORT_SESSION, {"sid": key, "lb_bucket": self.bucket_key(buckets)},
                           T.REPORT_SESSION_ACTION, {"group": group}, "report_session", self.version))
        self.add(Entry("switch", sw, T.REPORT_ADDRESSES, {"sid": key}, T.REPORT_ADDRESSES_ACTION,
                       {"switch_id": self.topo.switch_id(sw), "src_addr": str(emitter.params.report_src),
                        "dst_addr": str(emitter.params.report_dst)}, "report_addresses", self.version))

    @property
    def reduced(self) -> bool:
        return self.spec.srv6 is not None and self.spec.srv6.encap == "encap.red"

    def check_reduced(self, lists: dict[int, list[str]]) -> None:
        """H.Encaps.Red leaves the first segment out of the SRH: it arrives with Segments Left = Last Entry + 1
        (RFC 8754 §4.3.1.1 allows it). The proxy's End.AS and End.AD take it (End: DA = Segment List[Last
        Entry]); End.AM refuses it (srv6_am_reduced_srh): masquerading overwrites the DA, the only place the
        SID is, so the packet back from the VNF would name no SID."""
        for segs in lists.values():
            info = next((s for s in self.sids if s.sid == segs[0]), None)
            if info is not None and info.behaviour == "proxy:end.am":
                raise self.refuse(f"srv6.encap encap.red: the first segment '{info.segment}' is an End.AM SID of "
                                  f"proxy '{info.target}', which refuses a reduced SRH (Segments Left = Last Entry + 1 "
                                  "on arrival: srv6_am_reduced_srh); put another segment first, or use encap")

    def build(self) -> Plan:
        self.allocate()
        lists = self.segment_lists()
        if self.reduced:
            self.check_reduced(lists)
        stacks = [Stack("data", b, segs) for b, segs in self.groups(lists)]
        reports = [(seg, self.report_lists(seg)) for seg in self.m.segments if seg.emits_reports]
        for seg, rl in reports:
            stacks += [Stack(f"reports:{seg.name}", b, segs) for b, segs in self.groups(rl)]
        start = self.head_switch()
        for buckets, segs in self.groups(lists):
            wire = len(self.pushed(segs)) if self.spec.classifier.switch is not None else None
            self.walk("data path" + (f" (bucket {buckets[0]})" if len(buckets) < self.buckets else ""), start, segs,
                      wire=wire)
        self.switch_head_entries(lists)
        self.route_entries()
        for seg, rl in reports:
            self.report_entries(seg, rl)
        for seg in self.m.segments:
            if isinstance(seg.spec, P4Segment):
                self.module_entries(seg)
        self.proxy_entries()
        self.node_entries(lists)
        entries = sorted(self.entries.values(), key=lambda e: e.identity)
        return Plan(self.spec.chain, self.version, self.digest, self.buckets, self.sids, stacks, entries)
