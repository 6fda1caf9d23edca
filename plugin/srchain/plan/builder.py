"""Chain model -> plan: SIDs, label stacks, and the exact entries of every switch and proxy.

Order of work:
1. the chain version (a new one when the spec's content changed) and the P4 module SIDs;
2. VNF SIDs from the tail of the chain to its head, because a proxy SID's context is the stack it
   restores, made of the SIDs after it: an unchanged tail keeps its SIDs, a changed one gets new
   ones and the old ones stay installed until the old version drains (hitless change);
3. the stacks: the data path pushed by the classifier, and one report path per report-emitting
   module, each per load-balancing bucket; depth checked against the MSD;
4. a walk of every stack hop by hop through the topology, which yields local_sid entries where a
   label is this switch's own and sid_forward entries where it must travel on;
5. classifier, report (with its PRE node and group and truncating mirror), queue-map, route, TM queue, proxy
   SID and attachment entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from srchain.errors import SrchainError
from srchain.model.load import ChainModel, ResolvedSegment
from srchain.model.modules import FlowFeaturesParams, L4sParams, PriorityParams
from srchain.model.spec import Match, NodeSegment, P4Segment, VnfSegment
from srchain.model.yamlsource import load_yaml
from srchain.plan import l4s as L4S
from srchain.plan import tables as T
from srchain.plan import tm as TM
from srchain.plan import wan as W
from srchain.plan.errors import PlanError
from srchain.plan.match import bucket_key, match_key, ternary_int, ternary_ip
from srchain.plan.model import Entry, Key, Params, Plan, SidInfo, Stack, TargetKind
from srchain.plan.p4rows import decision_group
from srchain.plan.srv6 import Srv6Builder
from srchain.plan.topology import Hop, Topology, Unreachable
from srchain.sidstore import Allocation, SidStore
from srchain_contracts import proxy_api as px


def spec_digest(model: ChainModel) -> str:
    body = model.spec.model_dump(mode="json", exclude={"description"})
    if model.spec.dataplane == "sr-mpls":  # fields SRv6 added: an SR-MPLS spec keeps its digest (and version)
        del body["dataplane"], body["srv6"], body["classifier"]["node"]
    elif body["srv6"] is not None and body["srv6"]["encap"] == "encap":  # added later: the default keeps digests
        del body["srv6"]["encap"]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def lb_buckets(segments: list[ResolvedSegment]) -> int:
    """Buckets the classifier spreads flows over: 1 without load balancing, else a power of two
    that every instance count divides, or all 16 buckets (fair to within 1/16) when none does."""
    counts = {len(s.instances) for s in segments}
    top = max(counts)
    if top == 1:
        return 1
    pow2 = 1 << (top - 1).bit_length()
    if all(pow2 % c == 0 for c in counts):
        return pow2
    return 1 << T.LB_BUCKET_BITS


# The report's IP packet under its labels: IPv4, UDP and the record (what REPORT_TRUNCATE keeps of it).
REPORT_INNER = T.REPORT_TRUNCATE - 1 - 14 - 4 * T.MAX_PUSH


def instance_for(seg: ResolvedSegment, bucket: int) -> str:
    return seg.instances[bucket % len(seg.instances)]


@dataclass(frozen=True)
class Owner:
    """Who processes a label: a P4 module on a switch, or a VNF instance behind a proxy."""

    seg: ResolvedSegment
    instance: str

    @property
    def switch(self) -> str | None:
        return self.seg.spec.switch if isinstance(self.seg.spec, P4Segment) else None

    @property
    def proxy(self) -> str | None:
        return self.seg.spec.proxy if isinstance(self.seg.spec, VnfSegment) else None


_ternary_ip, _ternary_int, _bucket_key = ternary_ip, ternary_int, bucket_key  # srchain.plan.match


def _push_params(ttl: int, labels: list[int]) -> Params:
    return {"ttl": ttl, **{f"label_{i}": label for i, label in enumerate(labels)}}


def _group(stacks: dict[int, list[int]], total: int) -> list[tuple[list[int], list[int]]]:
    """[(buckets, labels)]: one group when every bucket has the same stack, else one per bucket."""
    distinct = {tuple(v) for v in stacks.values()}
    if len(distinct) == 1:
        return [(list(range(total)), stacks[0])]
    return [([b], stacks[b]) for b in range(total)]


class _Builder:
    def __init__(self, model: ChainModel, tx: Allocation, version: int) -> None:
        self.m = model
        self.spec = model.spec
        if model.spec.classifier.switch is None:  # load.check_dataplane: an sr-mpls chain has one
            raise PlanError(f"chain '{model.spec.chain}': an sr-mpls chain needs classifier.switch")
        self.classifier_switch = model.spec.classifier.switch
        self.tx = tx
        self.version = version
        self.topo = Topology(model.inventory)
        self.segments = model.segments
        self.buckets = lb_buckets(self.segments)
        self.sid: dict[tuple[str, str], int] = {}
        self.sids: list[SidInfo] = []
        self.owner: dict[int, Owner] = {}
        self.since: dict[int, int] = {}  # label -> chain version that first used it
        self.entries: dict[tuple[str, str, str, str], Entry] = {}
        self.crossings: dict[tuple[str, str, int, str], W.Crossing] = {}  # (link, border, label, path)
        site = model.inventory.site_of("switches", self.classifier_switch)
        self.inner = site.mtu if site else 1500  # the IP packets the classifier's site sends into the chain

    # -- SIDs ---------------------------------------------------------------------------------
    def _allocate(
        self, seg: ResolvedSegment, instance: str, context: str, where: tuple[TargetKind, str], behaviour: str
    ) -> None:
        s = self.tx.sid(self.spec.chain, seg.name, instance, context, self.version, self.spec.sr_block)
        self.sid[(seg.name, instance)] = s.label
        self.owner[s.label] = Owner(seg, instance)
        self.since[s.label] = s.since
        self.sids.append(SidInfo(seg.name, instance, s.label, *where, behaviour, s.since))

    def _remaining(self, seg: ResolvedSegment, path: str, bucket: int) -> list[tuple[str, str]]:
        """(segment, instance) of every later segment on `path` that a flow in `bucket` visits."""
        return [
            (later.name, instance_for(later, bucket))
            for later in self.segments
            if later.index > seg.index and later.takes(path)
        ]

    def _restore_paths(self, seg: ResolvedSegment, instance: str) -> list[list[tuple[str, str]]]:
        """Distinct paths behind this instance, over the buckets that reach it (the proxy picks one per flow)."""
        out: list[list[tuple[str, str]]] = []
        for b in range(self.buckets):
            rest = self._remaining(seg, seg.traffic, b)
            if instance_for(seg, b) == instance and rest not in out:
                out.append(rest)
        return out

    def restore_stacks(self, seg: ResolvedSegment, instance: str) -> list[list[int]]:
        return [[self.sid[o] for o in path] for path in self._restore_paths(seg, instance)]

    def allocate_sids(self) -> None:
        """Contexts from the tail (a proxy SID's context names the contexts of what follows it), then
        labels from the head, so a fresh chain reads in order."""
        context: dict[tuple[str, str], str] = {}
        for seg in reversed(self.segments):
            spec = seg.spec
            for inst in seg.instances:
                if isinstance(spec, P4Segment):
                    context[(seg.name, inst)] = f"p4/{spec.switch}/{spec.module}"
                    continue
                assert isinstance(spec, VnfSegment)  # load._node_segment: a node segment is srv6 only
                behind = [[[*o, context[o]] for o in path] for path in self._restore_paths(seg, inst)]
                digest = hashlib.sha256(json.dumps(behind).encode()).hexdigest()[:16]
                context[(seg.name, inst)] = f"proxy/{spec.proxy}/{spec.behaviour}/{seg.traffic}/restore={digest}"
        for seg in self.segments:
            spec = seg.spec
            assert not isinstance(spec, NodeSegment)  # load._node_segment: srv6 only
            where: tuple[TargetKind, str] = (
                ("switch", spec.switch) if isinstance(spec, P4Segment) else ("proxy", spec.proxy)
            )
            behaviour = f"p4:{spec.module}" if isinstance(spec, P4Segment) else f"proxy:{spec.behaviour}"
            for inst in seg.instances:
                self._allocate(seg, inst, context[(seg.name, inst)], where, behaviour)

    # -- stacks -------------------------------------------------------------------------------
    def data_stacks(self) -> dict[int, list[int]]:
        return {
            b: [self.sid[(s.name, instance_for(s, b))] for s in self.segments if s.takes("data")]
            for b in range(self.buckets)
        }

    def report_stacks(self, emitter: ResolvedSegment) -> dict[int, list[int]]:
        return {b: [self.sid[o] for o in self._remaining(emitter, "reports", b)] for b in range(self.buckets)}

    def check_depth(self, what: str, stacks: dict[int, list[int]]) -> None:
        depth = max(len(v) for v in stacks.values())
        if depth == 0:
            raise PlanError(f"chain '{self.spec.chain}': the {what} has no segment")
        if depth > self.spec.msd:
            raise PlanError(
                f"chain '{self.spec.chain}': the {what} needs a label stack of depth {depth}, "
                f"more than the MSD {self.spec.msd}; shorten the chain or raise msd if every "
                "switch parses that deep"
            )
        if depth > T.MAX_PUSH:
            raise PlanError(
                f"chain '{self.spec.chain}': the {what} needs a label stack of depth {depth}, "
                f"more than the {T.MAX_PUSH} labels the P4 program pushes (push_1 .. push_{T.MAX_PUSH})"
            )

    # -- entries ------------------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        old = self.entries.get(entry.identity)
        if old is not None and old.content != entry.content:
            raise PlanError(
                f"conflicting entries on {entry.target_kind} '{entry.target}' table {entry.table} "
                f"key {entry.key}: {old.action}{old.params} vs {entry.action}{entry.params}"
            )
        self.entries[entry.identity] = entry

    def _forward(self, hop: Hop, label: int) -> None:
        self.add(
            Entry(
                "switch",
                hop.switch,
                T.SID_FORWARD,
                {"label": label},
                T.SID_FORWARD_ACTION,
                {"port": hop.port, "dst_mac": hop.dst_mac},
                "sid_forward",
                self.since[label],
            )
        )

    def _local(self, switch: str, label: int, seg: ResolvedSegment) -> None:
        assert isinstance(seg.spec, P4Segment)
        params: Params = {"sid": label}  # the module's key: both lookups of a pass carry the SID as data
        if isinstance(seg.params, FlowFeaturesParams):
            params["report_every"] = seg.params.report_every
        for table in T.LOCAL_SID_TABLES:
            self.add(
                Entry(
                    "switch",
                    switch,
                    table,
                    {"label": label},
                    T.LOCAL_SID_ACTIONS[table][seg.spec.module],
                    params,
                    "local_sid",
                    self.since[label],
                )
            )

    def walk(
        self, what: str, start: str, labels: list[int], inner: int,
        first_hop: Callable[[Hop, int], None] | None = None,
    ) -> None:
        """Follow a stack from switch `start`: pop local labels, forward the others toward their owner.
        With `first_hop`, the first forward out of `start` is handed to it (the report group is made there).
        `inner`: bytes of the IP packet under the labels, for the MTU of the WAN links the stack crosses."""
        loc, local_run = start, 0
        for i, label in enumerate(labels):
            owner = self.owner[label]
            while True:
                if owner.switch == loc:
                    if i == 0 and first_hop is not None:
                        raise PlanError(
                            f"chain '{self.spec.chain}': the {what} starts with '{owner.seg.name}' "
                            f"on the same switch '{loc}' that emits it; the report must leave the "
                            "switch first (reorder the segments)"
                        )
                    local_run += 1
                    if local_run > T.MAX_LOCAL_POPS:
                        raise PlanError(
                            f"chain '{self.spec.chain}': the {what} pops {local_run} consecutive "
                            f"local SIDs on switch '{loc}', more than the {T.MAX_LOCAL_POPS} a switch "
                            "pops in one pass"
                        )
                    self._local(loc, label, owner.seg)
                    break
                target = owner.switch or self.topo.proxy_at[owner.proxy or ""].switch
                try:
                    hop = self.topo.proxy_at[owner.proxy or ""] if target == loc else self.topo.next_hop(loc, target)
                except Unreachable as exc:
                    raise PlanError(
                        f"chain '{self.spec.chain}': the {what} cannot reach segment '{owner.seg.name}': {exc}"
                    ) from None
                if hop.wan is not None:
                    self._cross(what, hop, label, len(labels) - i, inner)
                if first_hop is not None and loc == start and i == 0:
                    first_hop(hop, label)
                elif hop.wan is None:
                    self._forward(hop, label)
                local_run = 0
                if hop.peer_switch is None:  # delivered to the proxy, which returns to this same switch
                    break
                loc = hop.peer_switch

    def _cross(self, what: str, hop: Hop, label: int, depth: int, inner: int) -> None:
        """A label leaving its site: encapsulate at this border (instead of sid_forward), strip at the far one."""
        inv = self.m.inventory
        index, link = next((i, w) for i, w in enumerate(inv.wan) if w.name == hop.wan)
        if link.encapsulation not in W.ENCAP_ACTION:
            raise PlanError(self._inventory_issue(("wan", index, "encapsulation"), (
                f"chain '{self.spec.chain}': the {what} cannot cross WAN link '{link.name}': encapsulation "
                f"{link.encapsulation} carries SRv6 chains only (an sr-mpls chain needs mpls-in-udp or mpls-in-gre)")))
        near, far = link.end_at(hop.switch)
        c = W.Crossing(what, label, link, near, far, inner, depth)
        if c.total > link.mtu:
            raise PlanError(self._inventory_issue(("wan", index, "mtu"), f"chain '{self.spec.chain}': {c.describe()}"))
        self.add(W.encap_entry(c, self.topo.port_mac(near.switch, near.port), hop.dst_mac, self.since[label]))
        self.add(W.decap_entry(c))
        self.crossings.setdefault((link.name, near.switch, label, what), c)

    def _inventory_issue(self, loc: tuple[str | int, ...], message: str) -> str:
        """`file:line: path: reason` of a field of the inventory (re-read for its lines, only on error)."""
        try:
            return str(load_yaml(self.m.inventory_file).issue(loc, message))
        except SrchainError:  # an inventory built in memory: no lines to name
            return f"{self.m.inventory_file}: {'.'.join(str(p) for p in loc)}: {message}"

    def site_placement(self) -> dict[str, object] | None:
        """Which site each segment instance runs in, and where the chain's stacks cross the WAN."""
        inv = self.m.inventory
        if not inv.sites:
            return None

        def site(kind: str, name: str) -> dict[str, str]:
            s = inv.site_of(kind, name)
            assert s is not None  # srchain.model.sites: with sites, every node is in one
            return {"site": s.name, "vim_account": s.vim_account}

        return {
            "classifier": {"switch": self.classifier_switch, **site("switches", self.classifier_switch)},
            "segments": [{"segment": i.segment, "instance": i.instance, "target_kind": i.target_kind,
                          "target": i.target, **site("switches" if i.target_kind == "switch" else "proxies",
                                                     i.target)} for i in self.sids],
            "crossings": [self.crossings[k].to_json(self.topo.site) for k in sorted(self.crossings)],
        }

    def classifier_entries(self, stacks: dict[int, list[int]]) -> None:
        sw = self.classifier_switch
        for rule in self.spec.classifier.rules:
            for buckets, labels in _group(stacks, self.buckets):
                self.add(
                    Entry(
                        "switch",
                        sw,
                        T.CLASSIFIER,
                        {
                            **self._match_key(rule.match),
                            "lb_bucket": _bucket_key(buckets, self.buckets),
                            "$MATCH_PRIORITY": T.MATCH_PRIORITY_MAX - rule.priority,
                        },
                        T.CLASSIFIER_PUSH.format(n=len(labels)),
                        _push_params(self.spec.ttl, labels),
                        "classifier",
                        self.version,
                    )
                )

    @staticmethod
    def _match_key(m: Match) -> Key:
        return match_key(m)

    def report_entries(self, emitter: ResolvedSegment, stacks: dict[int, list[int]]) -> None:
        assert isinstance(emitter.spec, P4Segment) and isinstance(emitter.params, FlowFeaturesParams)
        sw, ff_sid = emitter.spec.switch, self.sid[(emitter.name, emitter.name)]
        group_of: dict[int, list[int]] = {}
        for buckets, labels in _group(stacks, self.buckets):
            first: list[Hop] = []

            def report_group(hop: Hop, _label: int, buckets: list[int] = buckets, first: list[Hop] = first) -> None:
                first.append(hop)
                group = T.REPORT_GROUP_BASE + hop.port  # one group (and node) per report port, shared
                self.add(
                    Entry(
                        "switch",
                        sw,
                        T.PRE_NODE,
                        {"$MULTICAST_NODE_ID": group},
                        T.PRE_ACTION,
                        {"$MULTICAST_RID": T.REPORT_RID, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [hop.port]},
                        "report_node",
                    )
                )
                self.add(
                    Entry(
                        "switch",
                        sw,
                        T.PRE_MGID,
                        {"$MGID": group},
                        T.PRE_ACTION,
                        {
                            "$MULTICAST_NODE_ID": [group],
                            "$MULTICAST_NODE_L1_XID_VALID": [False],
                            "$MULTICAST_NODE_L1_XID": [0],
                            # read back with the group: no ECMP members (bf_rt_pre_tf1.json fields 4-6)
                            "$MULTICAST_ECMP_ID": [],
                            "$MULTICAST_ECMP_L1_XID_VALID": [],
                            "$MULTICAST_ECMP_L1_XID": [],
                        },
                        "report_group",
                    )
                )
                self.add(
                    Entry(
                        "switch",
                        sw,
                        T.MIRROR_CFG,
                        {"$sid": T.REPORT_SESSION_BASE + hop.port},
                        T.MIRROR_ACTION,
                        {
                            "$direction": "EGRESS",
                            "$ucast_egress_port": hop.port,
                            "$ucast_egress_port_valid": True,
                            "$session_enable": True,
                            "$max_pkt_len": T.REPORT_TRUNCATE,
                        },
                        "report_truncate",
                    )
                )
                group_of.update({b: [group] for b in buckets})

            self.walk(f"report path of '{emitter.name}'", sw, labels, REPORT_INNER, first_hop=report_group)
            self.add(
                Entry(
                    "switch",
                    sw,
                    T.REPORT_ENCAP,
                    {"sid": ff_sid, "lb_bucket": _bucket_key(buckets, self.buckets)},
                    T.REPORT_PUSH.format(n=len(labels)),
                    {
                        "ttl": self.spec.ttl,
                        "src_mac": self.topo.port_mac(sw, first[0].port),
                        "dst_mac": first[0].dst_mac,
                        **{f"label_{i}": label for i, label in enumerate(labels)},
                    },
                    "report_encap",
                    self.version,
                )
            )
        self.add(
            Entry(
                "switch",
                sw,
                T.REPORT_ADDRESSES,
                {"sid": ff_sid},
                T.REPORT_ADDRESSES_ACTION,
                {
                    "switch_id": self.topo.switch_id(sw),
                    "src_addr": str(emitter.params.report_src),
                    "dst_addr": str(emitter.params.report_dst),
                },
                "report_addresses",
                self.version,
            )
        )
        for buckets, (group,) in _group(group_of, self.buckets):
            self.add(
                Entry(
                    "switch",
                    sw,
                    T.REPORT_SESSION,
                    {"sid": ff_sid, "lb_bucket": _bucket_key(buckets, self.buckets)},
                    T.REPORT_SESSION_ACTION,
                    {"group": group},
                    "report_session",
                    self.version,
                )
            )

    def decision_fanout_entries(self, sw: str) -> None:
        """The priority module's decision group on switch `sw` (srchain.plan.p4rows.decision_group)."""
        for e in decision_group(self.topo, sw):
            self.add(e)

    def queue_entries(self, seg: ResolvedSegment) -> None:
        assert isinstance(seg.spec, P4Segment) and isinstance(seg.params, PriorityParams)
        label = self.sid[(seg.name, seg.name)]
        self.decision_fanout_entries(seg.spec.switch)
        for cls, qid in sorted(seg.params.queues.items()):
            self.add(
                Entry(
                    "switch",
                    seg.spec.switch,
                    T.QUEUE_MAP,
                    {"sid": label, "class_id": cls},
                    T.QUEUE_MAP_ACTION,
                    {"qid": qid},
                    "queue_map",
                    self.since[label],
                )
            )

    def l4s_entries(self, seg: ResolvedSegment) -> None:
        """The l4s module's tables (srchain.plan.l4s): the queue of each ECN codepoint, the AQM's parameters and
        the PI2 terms of every queue-delay bucket, all keyed by the segment's SID."""
        assert isinstance(seg.spec, P4Segment) and isinstance(seg.params, L4sParams)
        sw, label, p = seg.spec.switch, self.sid[(seg.name, seg.name)], seg.params
        since = self.since[label]
        for ecn in range(4):
            self.add(Entry("switch", sw, T.L4S_QUEUE_MAP, {"sid": label, "ecn": ecn}, T.L4S_QUEUE_MAP_ACTION,
                           {"qid": L4S.queue_of(p, ecn)}, "l4s_queue_map", since))
        self.add(Entry("switch", sw, T.L4S_CONFIG, {"sid": label}, T.L4S_CONFIG_ACTION, L4S.config_data(p),
                       "l4s_config", since))
        for row in L4S.pi_rows(p):
            self.add(Entry("switch", sw, T.L4S_PI, {"sid": label, "bucket": row.bucket}, T.L4S_PI_ACTION,
                           {"now": row.now_term, "prev": row.prev_term}, "l4s_pi", since))

    def tm_entries(self, seg: ResolvedSegment) -> None:
        """The TM scheduling the priority module relies on (srchain.plan.tm): on every port its switch sends
        the chain's packets by (SID forwarding and routes, planned before this), each queue its `queues:`
        map uses gets strict priority over queue 0, at a level equal to the queue number (queue 7 first).
        Infrastructure entries (no version): chains that share a port and a queue share the row."""
        assert isinstance(seg.spec, P4Segment) and isinstance(seg.params, PriorityParams)
        sw = seg.spec.switch
        qids = sorted({q for q in seg.params.queues.values() if q != 0})
        for port in self._sending_ports(sw):
            for qid in qids:
                self.add(Entry("switch", sw, TM.QUEUE_SCHED, TM.queue_key(port, qid), "",
                               {**TM.QUEUE_SCHED_DEFAULTS, "max_priority": TM.priority_name(qid)}, "tm_queue"))

    def l4s_tm_entries(self, seg: ResolvedSegment) -> None:
        """The l4s module's bottleneck (srchain.plan.tm): on every port its switch sends the chain's packets by,
        the classic queue's DWRR weight and, with `port_rate_kbps`, the port's shaper."""
        assert isinstance(seg.spec, P4Segment) and isinstance(seg.params, L4sParams)
        sw, p = seg.spec.switch, seg.params
        for port in self._sending_ports(sw):
            # the L4S queue keeps the SDE's default weight (1023): a row equal to the defaults is no row
            self.add(Entry("switch", sw, TM.QUEUE_SCHED, TM.queue_key(port, p.classic_queue), "",
                           {**TM.QUEUE_SCHED_DEFAULTS, "dwrr_weight": TM.CLASSIC_WEIGHT}, "tm_queue"))
            if p.port_rate_kbps is not None:
                self.add(Entry("switch", sw, TM.PORT_SHAPING, TM.port_key(port), "",
                               {**TM.PORT_SHAPING_DEFAULTS, "max_rate": p.port_rate_kbps,
                                "max_burst_size": TM.shaping_burst(p.port_rate_kbps)}, "tm_port"))
                self.add(Entry("switch", sw, TM.PORT_SCHED, TM.port_key(port), "", {"max_rate_enable": True},
                               "tm_port"))

    def _sending_ports(self, sw: str) -> list[int]:
        """The ports switch `sw` sends by in this plan (SID forwarding, WAN encapsulation and routes, planned
        before this)."""
        return sorted({p for e in self.entries.values() if e.target == sw and e.target_kind == "switch"
                       and e.table in (T.SID_FORWARD, W.WAN_ENCAP, T.ROUTES)
                       and isinstance(p := e.params.get("port"), int)})

    def route_entries(self) -> None:
        """Plain IPv4 forwarding after the bottom label: a /32 route to every host on every switch of its site
        (between sites, plain IPv4 is the WAN's routing, not the chain's)."""
        inv = self.m.inventory
        for sw in inv.switches:
            for host in inv.hosts:
                at = self.topo.host_at.get(host.name)
                if at is None or inv.site_of("switches", sw.name) != inv.site_of("hosts", host.name):
                    continue
                try:
                    hop = at if at.switch == sw.name else self.topo.next_hop(sw.name, at.switch)
                except Unreachable:
                    continue
                self.add(
                    Entry(
                        "switch",
                        sw.name,
                        T.ROUTES,
                        {"dst_addr": {"value": host.ipv4, "prefix_len": 32}},
                        T.ROUTE_ACTION,
                        {"port": hop.port, "dst_mac": hop.dst_mac},
                        "route",
                    )
                )

    def proxy_entries(self) -> None:
        for seg in self.segments:
            spec = seg.spec
            if not isinstance(spec, VnfSegment):
                continue
            proxy = self.m.inventory.proxy(spec.proxy)
            assert proxy is not None
            for inst in seg.instances:
                label = self.sid[(seg.name, inst)]
                restore = self.restore_stacks(seg, inst)
                # through the proxy's own model: an entry the proxy would refuse fails here, at plan time
                if spec.behaviour == "static":
                    wire = px.SidEntry(sid=label, behaviour="static", vnf=inst, restore=restore, ttl=self.spec.ttl)
                else:
                    fallback = restore[0] if spec.miss_policy == "fallback" else None
                    wire = px.SidEntry(sid=label, behaviour="dynamic", vnf=inst, return_match=spec.return_match,
                                       miss_policy=spec.miss_policy, cache_size=spec.cache_size,
                                       idle_timeout_s=spec.idle_timeout_s, fallback=fallback)
                self.add(
                    Entry(
                        "proxy",
                        proxy.name,
                        T.PROXY_SID,
                        {"sid": label},
                        spec.behaviour,
                        wire.params(),
                        "proxy_sid",
                        self.since[label],
                    )
                )
                att = proxy.attachment(inst)
                assert att is not None
                self.add(
                    Entry(
                        "proxy",
                        proxy.name,
                        T.PROXY_ATTACHMENT,
                        {"vnf": inst},
                        "attach",
                        att.params(),
                        "attachment",
                    )
                )

    def build(self) -> Plan:
        self.allocate_sids()
        data = self.data_stacks()
        self.check_depth("data path", data)
        stacks = [Stack("data", b, labels) for b, labels in _group(data, self.buckets)]
        reports: list[tuple[ResolvedSegment, dict[int, list[int]]]] = []
        for seg in self.segments:
            if seg.emits_reports:
                rs = self.report_stacks(seg)
                self.check_depth(f"report path of '{seg.name}'", rs)
                reports.append((seg, rs))
                stacks += [Stack(f"reports:{seg.name}", b, labels) for b, labels in _group(rs, self.buckets)]
        for buckets, labels in _group(data, self.buckets):
            self.walk(
                "data path" + (f" (bucket {buckets[0]})" if len(buckets) < self.buckets else ""),
                self.classifier_switch,
                labels,
                self.inner,
            )
        self.classifier_entries(data)
        for seg, rs in reports:
            self.report_entries(seg, rs)
        for seg in self.segments:
            if isinstance(seg.params, PriorityParams):
                self.queue_entries(seg)
            elif isinstance(seg.params, L4sParams):
                self.l4s_entries(seg)
        self.route_entries()
        for seg in self.segments:
            if isinstance(seg.params, PriorityParams):
                self.tm_entries(seg)
            elif isinstance(seg.params, L4sParams):
                self.l4s_tm_entries(seg)
        self.proxy_entries()
        entries = sorted(self.entries.values(), key=lambda e: e.identity)
        return Plan(self.spec.chain, self.version, spec_digest(self.m), self.buckets, self.sids, stacks, entries,
                    sites=self.site_placement())


def build_plan(model: ChainModel, store: SidStore) -> Plan:
    """Allocate (or reuse) SIDs and compute every entry; all allocations commit together or not at all."""
    with store.transaction() as tx:
        return plan_in(model, tx)


def _srv6_in_one_site(model: ChainModel) -> None:
    """An SRv6 chain over several sites is not planned yet (docs/multisite.md): refused by name."""
    inv, spec = model.inventory, model.spec
    if not inv.sites:
        return
    nodes = [("srv6_nodes", n) for n in (spec.classifier.node, spec.srv6.tail if spec.srv6 else None) if n]
    nodes += [("proxies", s.spec.proxy) for s in model.segments if isinstance(s.spec, VnfSegment)]
    nodes += [("switches", s.spec.switch) for s in model.segments if isinstance(s.spec, P4Segment)]
    nodes += [("srv6_nodes", s.spec.node) for s in model.segments if isinstance(s.spec, NodeSegment)]
    nodes += [("switches", spec.classifier.switch)] if spec.classifier.switch else []
    where = {name: site.name for kind, name in nodes if (site := inv.site_of(kind, name)) is not None}
    if len(set(where.values())) > 1:
        spread = ", ".join(f"{n} in {s}" for n, s in sorted(where.items()))
        raise PlanError(f"chain '{spec.chain}': an srv6 chain across sites is not planned yet ({spread}); "
                        "SR-MPLS chains cross sites (docs/multisite.md)")


def plan_in(model: ChainModel, tx: Allocation) -> Plan:
    """The plan, allocating inside the caller's transaction (which then knows what it added)."""
    digest = spec_digest(model)
    version = tx.version_for(model.spec.chain, digest)
    if model.spec.dataplane == "srv6":
        _srv6_in_one_site(model)
        return Srv6Builder(model, tx, version, digest, lb_buckets(model.segments)).build()
    return _Builder(model, tx, version).build()
