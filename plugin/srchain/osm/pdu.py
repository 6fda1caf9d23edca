"""PDU registration descriptors for the inventory's switches (`osm pdu-create --descriptor_file`).

OSM instantiates the Tofino PNF VNFD on a registered PDU of the same `type` whose interface names
include every interface the VNFD's VDU names. Generating both sides from the one inventory keeps the
names in step. Naming contract (the PNF VNFDs rendered by `srchain.osm.render` follow it):
  * type `srchain-tofino-<switch>`: one PNF VNFD per switch, so OSM binds each to exactly its switch;
  * `mgmt`: the BF Runtime gRPC address's host; this is `<rw_mgmt_ip>` for the switch charm;
  * `port<N>`: device port N of the inventory, with its MAC.
  * `vim-network-name` of a data port: the VIM network the port is wired to, `srchain-<link>` where <link> is
    the NSD virtual link the inventory puts the port on (`<proxy>-sr`, `host-<host>`, `<a>p<N>-<b>p<M>`); the
    rendered NSD names the same network on that link, so RO attaches the VMs there instead of creating an
    isolated network (NBI `NsrTopic._look_for_pdu` also turns the PDU's name into the link's `vld` parameter).
OSM's PDU schema requires an `ip-address` on every interface, but a Tofino data port has no IP: a data port
gets its IPv6 link-local address derived from its MAC (EUI-64), which names that port and no other, never the
management address; the port is `type: underlay`. OSM uses only the mgmt interface's address (`<rw_mgmt_ip>`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srchain.errors import SrchainError
from srchain.model.inventory import Inventory
from srchain.model.inventory import Port as InventoryPort
from srchain.model.inventory import Switch as InventorySwitch
from srchain.model.load import load_inventory

PDU_TYPE_PREFIX = "srchain-tofino"


def pdu_type_for(switch: str) -> str:
    return f"{PDU_TYPE_PREFIX}-{switch}"


class PduError(SrchainError):
    """The inventory cannot be turned into PDU descriptors; the message says why."""


@dataclass(frozen=True)
class Switch:
    """What OSM's PDU matching sees of a switch: its name, type and interface names."""

    name: str
    pdu_type: str
    interface_names: frozenset[str]


def interface_name(port: int) -> str:
    return f"port{port}"


def link_id(a: str, pa: int, b: str, pb: int) -> str:
    """A switch-to-switch link's NSD virtual link id, the same from either end."""
    (x, px), (y, py) = sorted([(a, pa), (b, pb)])
    return f"{x}p{px}-{y}p{py}"


def port_link(switch: str, port: InventoryPort) -> str:
    """The NSD virtual link a switch port is on (srchain.osm.render's naming contract)."""
    peer = port.peer
    if peer.kind == "host":
        return f"host-{peer.host}"
    if peer.kind == "proxy":
        return f"{peer.proxy}-sr"
    if peer.kind == "srv6_node":  # a Linux SRv6 node (srv6 chains: OSM renders none yet)
        return f"node-{peer.srv6_node}"
    if peer.kind == "wan":  # a border port (docs/multisite.md): its network is the WAN link's
        return f"wan-{peer.wan}"
    return link_id(switch, port.port, str(peer.switch), int(peer.port or 0))


def vim_network_name(link: str) -> str:
    """The VIM network a data link is wired to (a provider network the site creates with this name)."""
    return f"srchain-{link}"


def link_local(mac: str) -> str:
    """The IPv6 link-local address of a port with this MAC (modified EUI-64, RFC 4291 appendix A)."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    eui = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def mgmt_address(sw: InventorySwitch) -> str:
    host = sw.grpc.rpartition(":")[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise PduError(
            f"switch '{sw.name}': grpc address '{sw.grpc}' has no IP address; OSM's PDU schema needs one "
            "for the mgmt interface"
        ) from None


def switches(inventory: Inventory, pdu_type: str | None = None) -> list[Switch]:
    """`pdu_type` None: each switch's own type, `srchain-tofino-<name>`."""
    return [
        Switch(sw.name, pdu_type or pdu_type_for(sw.name),
               frozenset({"mgmt", *(interface_name(p.port) for p in sw.ports)}))
        for sw in inventory.switches
    ]


def load_switches(path: Path, pdu_type: str | None = None) -> list[Switch]:
    inventory, _ = load_inventory(path)
    return switches(inventory, pdu_type)


def pdu_descriptor(sw: InventorySwitch, vim_accounts: list[str], pdu_type: str | None = None,
                   shared: bool = False) -> dict[str, Any]:
    """The body of `osm pdu-create --descriptor_file` (NBI `pdu_new_schema`) for one switch."""
    mgmt = mgmt_address(sw)
    interfaces: list[dict[str, Any]] = [{"name": "mgmt", "mgmt": True, "ip-address": mgmt, "type": "overlay"}]
    for port in sorted(sw.ports, key=lambda p: p.port):
        interfaces.append({"name": interface_name(port.port), "mgmt": False, "ip-address": link_local(port.mac),
                           "mac-address": port.mac, "type": "underlay",
                           "vim-network-name": vim_network_name(port_link(sw.name, port))})
    body: dict[str, Any] = {
        "name": sw.name,
        "type": pdu_type or pdu_type_for(sw.name),
        "description": f"srchain P4 switch {sw.name} (BF Runtime gRPC {sw.grpc}, program {sw.program})",
        "shared": shared,
        "interfaces": interfaces,
    }
    if vim_accounts:
        body["vim_accounts"] = list(vim_accounts)
    return body


def pdu_descriptors(inventory: Inventory, vim_accounts: list[str], pdu_type: str | None = None,
                    only: str | None = None) -> dict[str, dict[str, Any]]:
    chosen = [sw for sw in inventory.switches if only is None or sw.name == only]
    if not chosen:
        raise PduError(f"no switch named '{only}' in the inventory "
                       f"(switches: {', '.join(s.name for s in inventory.switches)})")
    return {sw.name: pdu_descriptor(sw, vim_accounts, pdu_type) for sw in chosen}
