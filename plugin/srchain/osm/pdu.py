"""PDU registration descriptors for the inventory's switches (`osm pdu-create --descriptor_file`).

OSM instantiates the Tofino PNF VNFD on a registered PDU of the same `type` whose interface names
include every interface the VNFD's VDU names. Generating both sides from the one inventory keeps the
names in step. Naming contract (the PNF VNFDs rendered by `srchain.osm.render` follow it):
  * type `srchain-tofino-<switch>`: one PNF VNFD per switch, so OSM binds each to exactly its switch;
  * `mgmt`: the BF Runtime gRPC address's host; this is `<rw_mgmt_ip>` for the switch charm;
  * `port<N>`: device port N of the inventory, with its MAC.
OSM's PDU schema requires an `ip-address` on every interface, but a Tofino data port has none: we put
the switch's management address there and mark the port `type: underlay` (OSM only uses the mgmt
interface's address, as `<rw_mgmt_ip>`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srchain.errors import SrchainError
from srchain.model.inventory import Inventory
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
        interfaces.append({"name": interface_name(port.port), "mgmt": False, "ip-address": mgmt,
                           "mac-address": port.mac, "type": "underlay"})
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
