"""The demo testbed's layouts: namespaces, interfaces, addresses and MACs, as data the testbed builds from.

One namespace per box (prefix `sd<pid>` + role, all torn down by the testbed). The single-site layout
(`SINGLE_SITE`, what `srchain demo` runs):

    gs  gaming server 10.0.1.10 ─┐                      ┌─ px: srchain-proxy px1 ─┬─ fm: formatter  10.255.0.2
    gc  gaming client 10.0.2.10 ─┼─ sw: emulated s1 ────┘   (px1-sr on port 4)   ├─ ca: classifier-a 10.255.0.3
    bg  background    10.0.3.10 ─┘   ports 1..4,             attachments          ├─ cb: classifier-b 10.255.0.3
        (+ 10.0.4.10, not chained)   port 2 shaped                                └─ ag: aggregator 10.255.0.4

Interface names inside the switch and proxy namespaces are the ones `examples/inventory.yaml` uses, so
the generated inventory differs from the example only in addresses of control endpoints and next hops.
The two-site layout (`two_site()`, `srchain demo --sites 2`) is `examples/inventory-two-site.yaml`'s:
site A the hosts, edge a1 and border a2; site B border b1 and proxy pxb with the VNFs; a2 and b1 joined
over the `wan` namespace by the link emulator (multisite.md). The three-site layout (`three_site()`) is
`examples/inventory-three-site.yaml`'s: site C (c1, proxy pxc with classifier-b and the mitigation) behind
site B, which it reaches over a second, MPLS-in-GRE link; site B is transit between A and C. `SINGLE_SITE_SRV6`
(`srchain demo --dataplane srv6`) is the single site over SRv6: `examples/inventory-demo-srv6.yaml`'s shape, s1
on the P4 srv6 profile, the gaming client behind the Linux tail t, the Linux End m on s1's port 5 (`srv6bed.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Switch ports of the single-site switch s1: device port -> (interface in the switch namespace, its MAC, the peer
# namespace role)
SWITCH_PORTS = {
    1: ("s1p1", "02:00:00:00:01:01", "gs"),
    2: ("s1p2", "02:00:00:00:01:02", "gc"),
    3: ("s1p3", "02:00:00:00:01:03", "bg"),
    4: ("s1p4", "02:00:00:00:01:04", "px"),
}
SHAPED_PORT = 2  # toward the gaming client: the congested egress


@dataclass(frozen=True)
class Host:
    name: str  # inventory name
    role: str  # namespace suffix
    ipv4: str
    mac: str
    port: int
    extra: tuple[str, ...] = ()  # more addresses on the same interface (not in the inventory)


HOSTS = (
    Host("gaming-server", "gs", "10.0.1.10", "02:00:00:00:10:01", 1),
    Host("gaming-client", "gc", "10.0.2.10", "02:00:00:00:20:01", 2),
    Host("background", "bg", "10.0.3.10", "02:00:00:00:30:01", 3, extra=("10.0.4.10",)),
)
BLASTER_SRC = "10.0.4.10"  # background blaster source: matches no classifier rule, so plain IPv4
HOST_GATEWAY = "10.0.0.1"  # a next hop that exists only as a static neighbour entry (the switch port)

PROXY_NAME = "px1"
PROXY_SR_IF = "px1-sr"
PROXY_MAC = "02:00:00:00:40:01"


@dataclass(frozen=True)
class Vnf:
    name: str  # inventory / proxy attachment name
    kind: str  # srchain_vnfs service
    role: str  # namespace suffix
    ipv4: str
    mac: str  # the VNF's interface
    proxy_if: str  # the proxy's end of the attachment
    proxy_mac: str
    listen_port: int
    next_hop: tuple[str, int]


VNF_GATEWAY = "10.255.0.254"  # the VNFs' default route: the proxy attachment (static neighbour)
REPORT_DST = "10.255.0.2"  # flow-features reports are addressed to the formatter (module default)


def vnfs_for(proxy: str) -> tuple[Vnf, ...]:
    """The report path's VNFs behind proxy `proxy` (its attachment interfaces are named after it)."""
    return (
        Vnf("formatter", "formatter", "fm", REPORT_DST, "02:00:00:00:50:01", f"{proxy}-fmt", "02:00:00:00:41:01",
            47001, ("10.255.0.3", 47003)),
        # Both classifier instances answer at the same address: the proxy picks one per flow (lb bucket).
        Vnf("classifier-a", "classifier", "ca", "10.255.0.3", "02:00:00:00:50:02", f"{proxy}-cla",
            "02:00:00:00:41:02", 47003, ("10.255.0.4", 47004)),
        Vnf("classifier-b", "classifier", "cb", "10.255.0.3", "02:00:00:00:50:03", f"{proxy}-clb",
            "02:00:00:00:41:03", 47003, ("10.255.0.4", 47004)),
        # Decision records: any destination works, the priority SID below them is what matters.
        Vnf("aggregator", "aggregator", "ag", "10.255.0.4", "02:00:00:00:50:04", f"{proxy}-agg", "02:00:00:00:41:04",
            47004, ("10.255.0.1", 47002)),
    )


VNFS = vnfs_for(PROXY_NAME)

# The attack-mitigation VNF (day 2): a bump in the wire with one interface per direction. The proxy sends
# to it on <proxy>-mit-o (broadcast MAC: no next hop, the VNF reads promiscuously) and takes frames back on
# <proxy>-mit-i (ProxyBox.mitigation_ifs); the VNF filters mit-in -> mit-out and forwards frames byte for byte.
MITIGATION_NAME = "mitigation"
MITIGATION_ROLE = "mi"
MITIGATION_PROXY_MACS = ("02:00:00:00:41:05", "02:00:00:00:41:06")  # proxy side: toward the VNF, back
MITIGATION_VNF_IFS = ("mit-in", "mit-out")  # VNF side
MITIGATION_VNF_MACS = ("02:00:00:00:50:05", "02:00:00:00:50:06")
MITIGATION_A = "mitigation-a"  # the two-site layout's second one, in site A (day 2 moves the segment there)

# Traffic ports on the hosts (UDP).
GAMING_PORT = 5000
VOIP_PORT = 5001
WEB_PORT = 5002
BLAST_PORT = 5003


# ---------------------------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class Peer:
    """What a switch port is wired to: a host or proxy (by namespace role), another switch's port, or a WAN link."""

    kind: str  # "host" | "proxy" | "switch" | "wan" | "srv6_node"
    name: str  # host role, proxy name, switch name, WAN link name or Linux SRv6 node name
    port: int = 0  # the other switch's device port (kind "switch")


@dataclass(frozen=True)
class Port:
    dev: int  # device port
    ifname: str  # interface in the switch namespace
    mac: str
    peer: Peer


@dataclass(frozen=True)
class SwitchBox:
    name: str  # inventory name
    role: str  # namespace suffix
    profile: str  # P4 profile it runs (shipped.P4_PROFILES): "full" for the modules, "wan" at a border, "srv6"
    ports: tuple[Port, ...]
    shaped_port: int | None = None  # a port shaped to the testbed's port rate
    locator: str | None = None  # its SRv6 locator (profile srv6)

    def port(self, dev: int) -> Port:
        return next(p for p in self.ports if p.dev == dev)

    def toward(self, kind: str, name: str) -> Port:
        return next(p for p in self.ports if p.peer.kind == kind and p.peer.name == name)


@dataclass(frozen=True)
class ProxyBox:
    name: str
    role: str
    sr_if: str
    mac: str
    switch: str  # the switch its SR interface is wired to
    vnfs: tuple[Vnf, ...]
    mitigation: str | None = MITIGATION_NAME  # the attack-mitigation VNF attached here (day 2), if any
    mitigation_role: str = MITIGATION_ROLE  # its namespace
    locator: str | None = None  # its SRv6 locator (a layout over SRv6)

    @property
    def mitigation_ifs(self) -> tuple[str, str]:
        return f"{self.name}-mit-o", f"{self.name}-mit-i"


@dataclass(frozen=True)
class WanEnd:
    switch: str
    port: int
    address: str  # the border's outer IPv4 address
    wan_if: str  # its peer interface in the WAN namespace (the link emulator's side)


@dataclass(frozen=True)
class WanLink:
    """Two border ports joined through the link emulator (`srchain_net.linkem`) in namespace `role`."""

    name: str
    a: WanEnd
    b: WanEnd
    delay_ms: float
    role: str = "wan"
    mtu: int = 1600
    encapsulation: str = "mpls-in-udp"


@dataclass(frozen=True)
class Site:
    name: str
    vim_account: str
    switches: tuple[str, ...]
    hosts: tuple[str, ...] = ()  # inventory names
    proxies: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Specs:
    """The chain specs a layout runs (shipped data): the reference chain and its day-2 variants."""

    chain: str  # the chain's name in them
    inventory: str  # file names under shipped.EXAMPLES: the example inventory of this shape (`--plan-only`),
    reference: str  # the reference chain, the mitigation inserted on the data path, and moved in front of features
    mitigation: str
    mitigation_first: str | None = None
    mitigation_moved: str | None = None  # the mitigation moved to another site (its second instance)


@dataclass(frozen=True)
class Srv6Node:
    """A Linux SRv6 node beside a switch (`srv6bed.py`): its SIDs are the controller's, its wiring the testbed's."""

    name: str  # inventory name
    role: str  # namespace suffix
    locator: str
    address: str
    ifname: str  # its interface toward the switch
    mac: str


@dataclass(frozen=True)
class Layout:
    switches: tuple[SwitchBox, ...]  # the first one classifies (hosts attach to it)
    proxies: tuple[ProxyBox, ...]  # together they serve the report path; one of them the mitigation
    specs: Specs
    hosts: tuple[Host, ...] = HOSTS
    wan: tuple[WanLink, ...] = ()
    sites: tuple[Site, ...] = ()
    srv6_nodes: tuple[Srv6Node, ...] = ()  # Linux SRv6 nodes on switch ports (the SRv6 layout's tail and End)

    @property
    def edge(self) -> SwitchBox:
        return self.switches[0]

    @property
    def dataplane(self) -> str:
        """"srv6" when the edge switch runs the P4 srv6 profile (`SINGLE_SITE_SRV6`), else "sr-mpls"."""
        return "srv6" if self.edge.profile == "srv6" else "sr-mpls"

    @property
    def proxy(self) -> ProxyBox:
        """The proxy the mitigation VNF `mitigation` is attached to (day 2's insert)."""
        return next(p for p in self.proxies if p.mitigation == MITIGATION_NAME)

    @property
    def mitigations(self) -> dict[str, ProxyBox]:
        """Every attack-mitigation VNF (a second one in another site is where day 2 moves it) -> its proxy."""
        return {p.mitigation: p for p in self.proxies if p.mitigation}

    @property
    def vnfs(self) -> tuple[Vnf, ...]:
        """The report path's VNFs behind every proxy."""
        return tuple(v for p in self.proxies for v in p.vnfs)

    def proxy_of(self, vnf: str) -> ProxyBox:
        return next(p for p in self.proxies if any(v.name == vnf for v in p.vnfs))

    def switch(self, name: str) -> SwitchBox:
        return next(s for s in self.switches if s.name == name)

    def proxy_wire(self, proxy: ProxyBox) -> tuple[str, str]:
        """(switch role, its interface) of the port wired to `proxy`: where frames the proxy sends to the switch
        can be captured (the proxy sends bypassing its qdisc, so not on its own side)."""
        sw = self.switch(proxy.switch)
        return sw.role, sw.toward("proxy", proxy.name).ifname

    def with_wan_delay(self, delay_ms: float) -> Layout:
        return replace(self, wan=tuple(replace(w, delay_ms=delay_ms) for w in self.wan))


SINGLE_SITE = Layout(
    switches=(SwitchBox("s1", "sw", "full", tuple(
        Port(dev, ifname, mac, Peer("proxy", PROXY_NAME) if peer == "px" else Peer("host", peer))
        for dev, (ifname, mac, peer) in SWITCH_PORTS.items()), shaped_port=SHAPED_PORT),),
    proxies=(ProxyBox(PROXY_NAME, "px", PROXY_SR_IF, PROXY_MAC, "s1", VNFS),),
    specs=Specs("cloud-gaming", "inventory.yaml", "cloud-gaming.yaml", "cloud-gaming-mitigation.yaml",
                "cloud-gaming-mitigation-first.yaml"),
)

# ---- `--dataplane srv6` (srv6bed.py): the same boxes, with the gaming client behind the Linux tail t -----------
#   gs ─ s1 port 1, bg ─ port 3, px ─ port 4 (as above); port 2 (shaped) ─ t (End.DX4) ─ gc; port 5 ─ m (a Linux End
#   between s1's flow-features and priority SIDs: the srv6 profile runs one local SID per pass). s1 runs the P4 srv6
#   profile; examples/inventory-demo-srv6.yaml's shape (the client is not in it: no host behind a Linux node).
SRV6_TAIL_ROLE, SRV6_MID_ROLE = "t", "m"
SRV6_TAIL = Srv6Node("tail", SRV6_TAIL_ROLE, "fcbb:bb00:9::/48", "fcbb:bb00:9::1", "t-s1", "02:00:00:00:70:09")
SRV6_MID = Srv6Node("mid", SRV6_MID_ROLE, "fcbb:bb00:4::/48", "fcbb:bb00:4::1", "m-s1", "02:00:00:00:70:04")
SRV6_SWITCH_LOCATOR = "fcbb:bb00:10::/48"
SRV6_PROXY_LOCATOR = "fcbb:bb00:2::/48"
SRV6_TAIL_CLIENT_IF, SRV6_TAIL_CLIENT_MAC = "t-gc", "02:00:00:00:70:0a"  # t's side of the client's link
SRV6_MTU = 9000  # s1 <-> t and s1 <-> m carry the 1400-byte packets with 40 + 8 + 64 bytes of IPv6 + SRH
SRV6_CLIENT = next(h for h in HOSTS if h.port == SHAPED_PORT)  # behind t

SINGLE_SITE_SRV6 = replace(
    SINGLE_SITE,
    switches=(replace(SINGLE_SITE.edge, profile="srv6", locator=SRV6_SWITCH_LOCATOR, ports=(
        *(replace(p, peer=Peer("srv6_node", SRV6_TAIL.name)) if p.dev == SHAPED_PORT else p
          for p in SINGLE_SITE.edge.ports),
        Port(5, "s1p5", "02:00:00:00:01:05", Peer("srv6_node", SRV6_MID.name)))),),
    proxies=(replace(SINGLE_SITE.proxy, locator=SRV6_PROXY_LOCATOR),),
    hosts=tuple(h for h in HOSTS if h is not SRV6_CLIENT),
    srv6_nodes=(SRV6_TAIL, SRV6_MID),
    specs=Specs("cloud-gaming-srv6", "inventory-demo-srv6.yaml", "cloud-gaming-srv6.yaml",
                "cloud-gaming-srv6-mitigation.yaml"),
)

WAN_DELAY_MS = 10.0  # the two-site testbed's default one-way WAN delay


def two_site(delay_ms: float = WAN_DELAY_MS) -> Layout:
    """`examples/inventory-two-site.yaml` as a testbed: the hosts on a1 (site A, with border a2), the VNFs behind
    pxb on b1 (site B), a2 port 9 <-> b1 port 9 over the link emulator, `delay_ms` each way."""
    host_ports = tuple(Port(h.port, f"a1p{h.port}", f"02:00:00:00:01:0{h.port}", Peer("host", h.role))
                       for h in HOSTS)
    a1 = SwitchBox("a1", "a1", "full", (*host_ports, Port(4, "a1p4", "02:00:00:00:01:04", Peer("proxy", "pxa")),
                                        Port(8, "a1p8", "02:00:00:00:01:08", Peer("switch", "a2", 8))),
                   shaped_port=SHAPED_PORT)
    a2 = SwitchBox("a2", "a2", "wan", (Port(8, "a2p8", "02:00:00:00:02:08", Peer("switch", "a1", 8)),
                                       Port(9, "a2p9", "02:00:00:00:02:09", Peer("wan", "ab"))))
    b1 = SwitchBox("b1", "b1", "wan", (Port(9, "b1p9", "02:00:00:00:0b:09", Peer("wan", "ab")),
                                       Port(4, "b1p4", "02:00:00:00:0b:04", Peer("proxy", "pxb"))))
    pxb = ProxyBox("pxb", "px", "pxb-sr", "02:00:00:00:4b:01", "b1", vnfs_for("pxb"))
    # site A's VNF host: a second attack mitigation, where day 2 moves the segment (make-before-break across sites)
    pxa = ProxyBox("pxa", "pxa", "pxa-sr", "02:00:00:00:4a:01", "a1", (), MITIGATION_A, "mia")
    ab = WanLink("ab", WanEnd("a2", 9, "198.51.100.1", "wan-a"), WanEnd("b1", 9, "198.51.100.2", "wan-b"), delay_ms)
    return Layout(
        switches=(a1, a2, b1), proxies=(pxb, pxa), wan=(ab,),
        sites=(Site("site-a", "vim-a", ("a1", "a2"), tuple(h.name for h in HOSTS), ("pxa",), ("10.0.0.0/16",)),
               Site("site-b", "vim-b", ("b1",), (), ("pxb",), ("10.1.0.0/16",))),
        specs=Specs("cloud-gaming-two-site", "inventory-two-site.yaml", "two-site.yaml", "two-site-mitigation.yaml",
                    mitigation_moved="two-site-mitigation-moved.yaml"),
    )


def three_site(delays_ms: tuple[float, float] = (WAN_DELAY_MS, 40.0)) -> Layout:
    """`examples/inventory-three-site.yaml` as a testbed: two_site()'s sites A and B, and site C (c1, proxy pxc with
    classifier-b and the mitigation) joined to b1 by MPLS-in-GRE; `delays_ms` = one-way delays of links ab and bc."""
    two = two_site(delays_ms[0])
    a1, a2, b1 = two.switches
    a1 = replace(a1, ports=tuple(p for p in a1.ports if p.peer.kind != "proxy"))  # no VNF host in site A here
    b1 = replace(b1, ports=(*b1.ports, Port(10, "b1p10", "02:00:00:00:0b:0a", Peer("wan", "bc"))))
    c1 = SwitchBox("c1", "c1", "wan", (Port(10, "c1p10", "02:00:00:00:0c:0a", Peer("wan", "bc")),
                                       Port(4, "c1p4", "02:00:00:00:0c:04", Peer("proxy", "pxc"))))
    pxb = replace(two.proxy, vnfs=tuple(v for v in vnfs_for("pxb") if v.name != "classifier-b"), mitigation=None)
    pxc = ProxyBox("pxc", "pxc", "pxc-sr", "02:00:00:00:4c:01", "c1",
                   tuple(v for v in vnfs_for("pxc") if v.name == "classifier-b"))
    ab = replace(two.wan[0], role="wab")
    bc = WanLink("bc", WanEnd("b1", 10, "198.51.100.5", "wan-b"), WanEnd("c1", 10, "198.51.100.6", "wan-c"),
                 delays_ms[1], role="wbc", encapsulation="mpls-in-gre")
    return Layout(
        switches=(a1, a2, b1, c1), proxies=(pxb, pxc), wan=(ab, bc),
        sites=(replace(two.sites[0], proxies=()), two.sites[1], Site("site-c", "vim-c", ("c1",), (), ("pxc",),
                                                                       ("10.2.0.0/16",))),
        specs=Specs("cloud-gaming-three-site", "inventory-three-site.yaml", "three-site.yaml",
                    "three-site-mitigation.yaml"),
    )


LAYOUTS = {1: SINGLE_SITE, 2: two_site(), 3: three_site()}  # `srchain demo --sites N`
