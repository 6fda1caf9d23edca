"""Inter-site rows of an SR-MPLS plan (docs/multisite.md, docs/plan-format.md#multi-site-plans).

Where a label's next hop is a WAN link, the border switch encapsulates the packet, stack and all, in an outer
IPv4 header toward the far border (a `wan_encap` row, in place of the label's `sid_forward` row); the far border
strips it and goes on with the label lookup (`wan_decap`). The label is the same on both sides: the SR block is
global.

The data plane is the SR node program's profile `wan` (p4/control/wan.p4, docs/multisite.md "Data plane
encapsulation"). Its shape, and why it differs from a table per direction with every knob as a parameter:
* the encapsulation is an action of `SwitchIngress.sr.sid_forward` (`encap_mpls_in_udp`), not a table of its own:
  one lookup on the label decides "next hop in the site" or "across the WAN"; a second exact table on the same
  label, applied on sid_forward's miss, would cost a Tofino 1 one more stage on the SR path (and the
  decapsulation, which must run before the label lookup, and the encapsulation, after the pops, cannot be one
  control). Its rows keep their role (`wan_encap`) and are counted by sid_forward's direct counter like any.
* the UDP source port is `udp_src_min` + 14 bits of the flow hash: the hash's width is a property of the
  compiled program (a Tofino cannot mask or shift by an amount from action data), so it is no parameter.
* `decap` takes no parameter: the parser decides that a UDP payload is MPLS before any table runs, by the
  constant destination port 6635 (RFC 7510; GRE: protocol 0x8847); a packet to another port is plain IPv4.
MPLS-in-GRE the same way: `encap_mpls_in_gre` (with `gre_protocol`) and `decap_mpls_in_gre`.
"""

from __future__ import annotations

from dataclasses import dataclass

from srchain.model.inventory import WanEnd, WanLink
from srchain.plan import p4names as P
from srchain.plan.model import Entry, JsonValue, Params

WAN_ENCAP = P.SWITCH_INGRESS_SR_SID_FORWARD  # exact label -> push the outer header, send to the WAN port
WAN_DECAP = P.SWITCH_INGRESS_WAN_DECAP  # exact (outer src, outer dst) -> strip the outer header
ENCAP_ACTION = {"mpls-in-udp": P.SWITCH_INGRESS_SR_ENCAP_MPLS_IN_UDP,
                "mpls-in-gre": P.SWITCH_INGRESS_SR_ENCAP_MPLS_IN_GRE}
DECAP_ACTION = {"mpls-in-udp": P.SWITCH_INGRESS_WAN_DECAP_MPLS_IN_UDP,
                "mpls-in-gre": P.SWITCH_INGRESS_WAN_DECAP_MPLS_IN_GRE}

IPV4_HEADER = 20
UDP_HEADER = 8
GRE_HEADER = 4  # RFC 4023 / RFC 2784: no checksum, no key
LABEL_BYTES = 4
# RFC 7510: destination port 6635 (MPLS-in-UDP); the source port carries the flow's entropy, kept in the
# dynamic range 49152-65535: 49152 + the low 14 bits of the switch's CRC-32 of the inner 5-tuple (the P4 program's
# wan_entropy_t: UDP_SRC_HASH_BITS documents it, it is not written).
MPLS_UDP_PORT = 6635
UDP_SRC_MIN = 49152
UDP_SRC_HASH_BITS = 14
GRE_MPLS_PROTOCOL = 0x8847  # RFC 4023: GRE protocol type of MPLS unicast
OUTER_TTL = 64  # the outer header's TTL: the WAN's hops, not the chain's

OVERHEAD = {"mpls-in-udp": IPV4_HEADER + UDP_HEADER, "mpls-in-gre": IPV4_HEADER + GRE_HEADER}
OVERHEAD_PARTS = {"mpls-in-udp": "outer IPv4 20 + UDP 8", "mpls-in-gre": "outer IPv4 20 + GRE 4"}


@dataclass(frozen=True)
class Crossing:
    """A labelled packet crossing a WAN link: the sizes the MTU check adds up."""

    path: str
    label: int
    link: WanLink
    near: WanEnd
    far: WanEnd
    inner: int  # bytes of the IP packet under the labels
    labels: int  # labels on the packet as it crosses (the crossing label and those below it)

    @property
    def overhead(self) -> int:
        return OVERHEAD[self.link.encapsulation]

    @property
    def total(self) -> int:
        return self.inner + LABEL_BYTES * self.labels + self.overhead

    def describe(self) -> str:
        return (f"the {self.path} crosses WAN link '{self.link.name}' ({self.near.switch} port {self.near.port} -> "
                f"{self.far.switch} port {self.far.port}) as {self.inner} bytes inner + {self.labels} labels "
                f"({LABEL_BYTES * self.labels} bytes) + {self.link.encapsulation} {self.overhead} bytes "
                f"({OVERHEAD_PARTS[self.link.encapsulation]}) = {self.total} bytes, more than the link's MTU "
                f"{self.link.mtu}")

    def to_json(self, sites: dict[str, str]) -> dict[str, JsonValue]:
        return {
            "path": self.path,
            "label": self.label,
            "link": self.link.name,
            "encapsulation": self.link.encapsulation,
            "egress": {"site": sites[self.near.switch], "switch": self.near.switch, "port": self.near.port,
                       "address": self.near.address},
            "ingress": {"site": sites[self.far.switch], "switch": self.far.switch, "port": self.far.port,
                        "address": self.far.address},
            "bytes": {"inner": self.inner, "labels": LABEL_BYTES * self.labels, "overhead": self.overhead,
                      "total": self.total, "wan_mtu": self.link.mtu},
        }


def encap_entry(c: Crossing, port_mac: str, far_mac: str, since: int) -> Entry:
    params: Params = {"port": c.near.port, "src_mac": port_mac, "dst_mac": far_mac,
                      "src_addr": c.near.address, "dst_addr": c.far.address, "ttl": OUTER_TTL}
    if c.link.encapsulation == "mpls-in-udp":
        params |= {"udp_dst_port": MPLS_UDP_PORT, "udp_src_min": UDP_SRC_MIN}
    else:
        params |= {"gre_protocol": GRE_MPLS_PROTOCOL}
    return Entry("switch", c.near.switch, WAN_ENCAP, {"label": c.label}, ENCAP_ACTION[c.link.encapsulation],
                 params, "wan_encap", since)


def decap_entry(c: Crossing) -> Entry:
    """Infrastructure (no version): every chain crossing this link in this direction shares it. No parameter: the
    UDP port is the parser's constant (module docstring)."""
    return Entry("switch", c.far.switch, WAN_DECAP, {"src_addr": c.near.address, "dst_addr": c.far.address},
                 DECAP_ACTION[c.link.encapsulation], {}, "wan_decap")
