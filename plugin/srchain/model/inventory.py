"""The inventory: switches (with their ports and what each connects to), hosts, SR proxies, VNFs."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from srchain.hostkeys import host_key_fields
from srchain.model.spec import Name
from srchain_contracts import proxy_api as px

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _mac(v: str) -> str:
    v = v.lower()
    if not MAC_RE.match(v):
        raise ValueError(f"'{v}' is not a MAC address (aa:bb:cc:dd:ee:ff)")
    return v


Mac = Annotated[str, AfterValidator(_mac)]

# An SRv6 locator: the prefix a node's SIDs live in (RFC 8986 LOC:FUNCT:ARG). The SID store puts a 16-bit
# function right after it (srchain.sidstore), so the locator leaves at least those 16 bits.
LOCATOR_LEN_MIN = 16
FUNCTION_BITS = 16
LOCATOR_LEN_MAX = 128 - FUNCTION_BITS


def _locator(v: str) -> str:
    if "/" not in v:
        raise ValueError(f"'{v}' has no prefix length (a locator is a prefix, like fcbb:bb00:1::/48)")
    try:
        net = ipaddress.IPv6Network(v, strict=False)
    except ValueError:
        raise ValueError(f"'{v}' is not an IPv6 prefix (like fcbb:bb00:1::/48)") from None
    if not LOCATOR_LEN_MIN <= net.prefixlen <= LOCATOR_LEN_MAX:
        raise ValueError(f"prefix length /{net.prefixlen} is outside /{LOCATOR_LEN_MIN}../{LOCATOR_LEN_MAX} "
                         f"(the SIDs' {FUNCTION_BITS}-bit function follows the locator)")
    if ipaddress.IPv6Address(v.split("/")[0]) != net.network_address:
        raise ValueError(f"'{v}' has bits set after /{net.prefixlen} (the locator would be {net})")
    a = net.network_address
    if a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified or a.ipv4_mapped is not None:
        raise ValueError(f"'{v}' is not a unicast prefix SIDs can be routed to")
    return str(net)


Locator = Annotated[str, AfterValidator(_locator)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Peer(Strict):
    """What a switch port connects to: exactly one of switch (+ its port), proxy, host, a WAN link
    (`wan:` of the inventory, by name: the port is a site's border toward another site) or a Linux SRv6 node
    (`srv6_node:`, an srv6 chain's head end or tail behind the switch)."""

    switch: Name | None = None
    port: int | None = Field(None, ge=0, le=511)
    proxy: Name | None = None
    host: Name | None = None
    wan: Name | None = None
    srv6_node: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Peer:
        kinds = [k for k in ("switch", "proxy", "host", "wan", "srv6_node") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a peer is exactly one of 'switch' (with 'port'), 'proxy', 'host', 'wan' or 'srv6_node'")
        if self.switch is not None and self.port is None:
            raise ValueError(f"peer switch '{self.switch}' needs the 'port' it connects to")
        if self.switch is None and self.port is not None:
            raise ValueError("'port' is only for a peer switch")
        return self

    @property
    def kind(self) -> str:
        return ("switch" if self.switch else "proxy" if self.proxy else "wan" if self.wan
                else "srv6_node" if self.srv6_node else "host")

    @property
    def name(self) -> str:
        return self.switch or self.proxy or self.host or self.wan or self.srv6_node or ""


class Port(Strict):
    port: int = Field(ge=0, le=511, description="device port number")
    mac: Mac
    peer: Peer
    interface: str | None = None  # Linux interface on the emulated target


class Tls(Strict):
    """TLS toward a gRPC port behind TLS: CA file, optional client certificate + key (mutual TLS)."""

    ca: str
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None  # name to check in the switch's certificate, if not the address

    @model_validator(mode="after")
    def _pair(self) -> Tls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("'cert' and 'key' go together")
        return self


class Switch(Strict):
    name: Name
    grpc: str = Field(description="BF Runtime gRPC address: host:port, or unix:/path for a local emulator")
    device_id: int = Field(0, ge=0)
    program: str = "srchain_node"
    ports: list[Port] = Field(min_length=1)
    # Optional, for `srchain chain apply` (paths relative to the inventory file):
    artifacts: str | None = None  # compiled program dir (bf-rt.json, pipe/context.json, pipe/tofino.bin)
    token_file: str | None = None  # x-srchain-token for the emulator's BF Runtime server
    tls: Tls | None = None
    # SRv6 (profile srv6, docs/srv6.md): its module SIDs are functions of this prefix; the first address after
    # the prefix (locator::1) is the outer source of what it encapsulates (classifier, reports)
    locator: Locator | None = None

    @field_validator("grpc")
    @classmethod
    def _addr(cls, v: str) -> str:
        if v.startswith("unix:"):
            if not v[len("unix:"):].startswith("/"):
                raise ValueError(f"'{v}' is not a unix:/absolute/path address")
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{v}' is not a host:port address")
        return v

    def port_by_number(self, number: int) -> Port | None:
        return next((p for p in self.ports if p.port == number), None)


class Host(Strict):
    name: Name
    mac: Mac
    ipv4: str

    @field_validator("ipv4")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            return str(ipaddress.IPv4Address(v))
        except ValueError:
            raise ValueError(f"'{v}' is not an IPv4 address") from None


class Attachment(px.Attachment):
    """How the proxy reaches one VNF instance: the proxy's attachment (`srchain_contracts.proxy_api`, the
    planner copies it into the proxy's `attachment` entry), its `vnf` an inventory VNF name."""

    vnf: Name


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _host_key_lines(text: str | None) -> str | None:
    """The syntax of a pinned host key (`TYPE BASE64 [comment]` or a known_hosts line `HOSTS TYPE BASE64`);
    the key itself is parsed when connecting. Unset (None or blank) is valid here: the VM's key is known
    only after it booted, and an apply refuses to connect until it is pinned."""
    if text is None or not text.strip():
        return None
    fields = host_key_fields(text)
    for n, kind, b64 in fields:
        try:
            base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError(f"line {n}: the key of type {kind} is not base64") from None
    if not fields:
        raise ValueError("no key in it, only comments: pin the proxy VM's host key (its /etc/ssh/ssh_host_*_key.pub)")
    return text


class ProxySsh(Strict):
    """A proxy on another machine: the controller logs in over SSH (host key pinned, never learnt) and
    runs each control-API request on that machine against `control` (docs/controller.md)."""

    host: str = Field(min_length=1, description="the proxy VM's address (OSM: its management IP)")
    port: int = Field(22, ge=1, le=65535)
    user: str = Field("srchain", min_length=1)
    # pinned: `TYPE BASE64` or known_hosts line(s); unset until the VM booted (then every apply refuses)
    host_key: Annotated[str | None, AfterValidator(_host_key_lines)] = None
    key_file: str | None = None  # private key (relative to the inventory file); the controller charm sets it
    token_file: str | None = None  # the control token ON THE VM, read there (the token never leaves the VM)
    sudo: bool = True  # read `token_file` as `sudo -n --` (root-only file)

    @field_validator("host", "user")
    @classmethod
    def _word(cls, v: str) -> str:
        if any(c.isspace() for c in v) or v.startswith("-"):
            raise ValueError(f"'{v}' is not a host or user name")
        return v

    @field_validator("token_file")
    @classmethod
    def _abs(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"'{v}' is not an absolute path on the proxy's machine")
        return v


class Proxy(Strict):
    name: Name
    control: str = Field(description="control API: unix:/path.sock or 127.0.0.1:PORT (on the proxy's machine)")
    sr_interface: str
    mac: Mac  # of the SR-side interface: the next-hop MAC when a switch forwards to this proxy
    attachments: list[Attachment] = Field(default_factory=list)
    token_file: str | None = None  # bearer token of the control API (relative to the inventory file)
    ssh: ProxySsh | None = None  # reach `control` on the proxy's machine over SSH
    locator: Locator | None = None  # SRv6: its End.AS/AD/AM SIDs are functions of this prefix

    @model_validator(mode="after")
    def _control(self) -> Proxy:
        if self.ssh is None:
            return self
        c = self.control
        if c.startswith("unix:"):
            if not c[len("unix:"):].startswith("/"):
                raise ValueError(f"control '{c}' is not a unix:/absolute/path address")
        elif c.rsplit(":", 1)[0].strip("[]") not in LOOPBACK or not c.rsplit(":", 1)[-1].isdigit():
            raise ValueError(f"control '{c}' must be unix:/path or 127.0.0.1:PORT on the proxy's machine "
                             "(with 'ssh' the request runs there)")
        if self.token_file is not None and self.ssh.token_file is not None:
            raise ValueError("give the control token as 'token_file' (here) or 'ssh.token_file' (on the VM), not both")
        return self

    def attachment(self, vnf: str) -> Attachment | None:
        return next((a for a in self.attachments if a.vnf == vnf), None)


class Vnf(Strict):
    name: Name
    kind: str = Field(description="what the VNF does: formatter, classifier, aggregator, mitigation, ...")


class Srv6Node(Strict):
    """A Linux SRv6 node at a chain's end: the head end (H.Encaps) or the tail (End.DX4/DT6); the plan lists
    what to configure there (`ip -6 route ... encap seg6` / `encap seg6local`)."""

    name: Name
    locator: Locator
    address: str = Field(description="the node's IPv6 address: the outer source of the headers it pushes")
    interface: str | None = None  # the device its SRv6 routes hang on (`dev`); apply needs it
    netns: str | None = None  # apply: the network namespace of this machine the node is (labs, the demo)
    mac: Mac | None = None  # of its interface toward a switch port that peers with it (`peer: {srv6_node}`)

    @field_validator("address")
    @classmethod
    def _ip6(cls, v: str) -> str:
        return px.check_srv6_address(v)


def _prefix(v: str) -> str:
    try:
        return str(ipaddress.ip_network(v, strict=True))
    except ValueError as exc:
        raise ValueError(f"'{v}' is not an IPv4 or IPv6 prefix ({exc})") from None


Prefix = Annotated[str, AfterValidator(_prefix)]


class Site(Strict):
    """A data centre / VIM: the nodes it holds (by inventory name; a VNF runs in its proxy's site), the OSM
    VIM account its VNFs deploy to, its address plan, and the IP MTU its hosts send into chains."""

    name: Name
    vim_account: str = Field(min_length=1, description="OSM VIM account (name or id) of this site")
    switches: list[Name] = Field(default_factory=list)
    proxies: list[Name] = Field(default_factory=list)  # the site's VNF hosts, each with its SR proxy
    hosts: list[Name] = Field(default_factory=list)
    srv6_nodes: list[Name] = Field(default_factory=list)
    addresses: list[Prefix] = Field(default_factory=list)  # the site's address plan (IPv4 and IPv6 prefixes)
    mtu: int = Field(1500, ge=576, le=9216, description="largest IP packet the site's hosts send into a chain")


Encapsulation = Literal["mpls-in-udp", "mpls-in-gre", "srv6"]


class WanEnd(Strict):
    """One end of a WAN link: a border switch's port (its peer `{wan: LINK}`) and its WAN address."""

    switch: Name
    port: int = Field(ge=0, le=511)
    address: str

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError(f"'{v}' is not an IPv4 or IPv6 address") from None


class WanLink(Strict):
    """A link between two sites' border switches over an IP WAN: SR-MPLS crosses it encapsulated
    (RFC 7510 MPLS-in-UDP or MPLS-in-GRE, IPv4 outer), SRv6 natively over IPv6."""

    name: Name
    a: WanEnd
    b: WanEnd
    encapsulation: Encapsulation = "mpls-in-udp"
    mtu: int = Field(ge=576, le=9216, description="IP MTU of the WAN path (the outer packet's limit)")
    delay_ms: float = Field(0.0, ge=0, le=10_000, description="expected one-way delay")

    @model_validator(mode="after")
    def _family(self) -> WanLink:
        want = 6 if self.encapsulation == "srv6" else 4
        for end in ("a", "b"):
            if ipaddress.ip_address(getattr(self, end).address).version != want:
                raise ValueError(f"{self.encapsulation} needs IPv{want} addresses at both ends "
                                 f"({end}.address is {getattr(self, end).address})")
        return self

    def end_at(self, switch: str) -> tuple[WanEnd, WanEnd]:
        """(this end, far end) for the border switch `switch`."""
        return (self.a, self.b) if self.a.switch == switch else (self.b, self.a)


class Inventory(Strict):
    switches: list[Switch] = Field(default_factory=list)
    hosts: list[Host] = Field(default_factory=list)
    proxies: list[Proxy] = Field(default_factory=list)
    vnfs: list[Vnf] = Field(default_factory=list)
    srv6_nodes: list[Srv6Node] = Field(default_factory=list)
    # Several sites (docs/multisite.md): without `sites`, the inventory is one site, as before.
    sites: list[Site] = Field(default_factory=list)
    wan: list[WanLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _nodes(self) -> Inventory:
        if not self.switches and not self.srv6_nodes:
            raise ValueError("an inventory needs at least one switch (SR-MPLS) or SRv6 node (srv6_nodes)")
        return self

    def site_of(self, kind: str, name: str) -> Site | None:
        """The site holding node `name` of `kind` (switches, proxies, hosts, srv6_nodes); None single-site."""
        return next((s for s in self.sites if name in getattr(s, kind)), None)

    def wan_link(self, name: str) -> WanLink | None:
        return next((w for w in self.wan if w.name == name), None)

    def srv6_node(self, name: str) -> Srv6Node | None:
        return next((n for n in self.srv6_nodes if n.name == name), None)

    def switch(self, name: str) -> Switch | None:
        return next((s for s in self.switches if s.name == name), None)

    def proxy(self, name: str) -> Proxy | None:
        return next((p for p in self.proxies if p.name == name), None)

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def vnf(self, name: str) -> Vnf | None:
        return next((v for v in self.vnfs if v.name == name), None)
