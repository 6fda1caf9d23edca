"""The files the demo runs from, shipped inside this package as package data (`data/`).

In the repository `data/` holds links to the sources of truth (`p4/srchain_node.p4` with its `include/`
and `control/`, and the demo's chain specs and inventory in `examples/`); a wheel carries copies, so an
installed srchain runs the demo from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_DATA = Path(str(resources.files("srchain_demo") / "data"))  # a directory: srchain is installed unzipped

P4_PROGRAM = _DATA / "p4" / "srchain_node.p4"  # the SR node program the testbed's emulated switch runs
EXAMPLES = _DATA / "examples"
REFERENCE_SPEC = EXAMPLES / "cloud-gaming.yaml"
MITIGATION_SPEC = EXAMPLES / "cloud-gaming-mitigation.yaml"  # day 2: attack mitigation inserted
MITIGATION_FIRST_SPEC = EXAMPLES / "cloud-gaming-mitigation-first.yaml"  # ... then moved before flow-features
INVENTORY = EXAMPLES / "inventory.yaml"
SRV6_SPEC = EXAMPLES / "cloud-gaming-srv6.yaml"  # the reference chain over SRv6 (`srchain demo --dataplane srv6`)
SRV6_MITIGATION_SPEC = EXAMPLES / "cloud-gaming-srv6-mitigation.yaml"  # its day 2 (--dataplane srv6 --reconfigure)
SRV6_INVENTORY = EXAMPLES / "inventory-demo-srv6.yaml"  # its testbed's shape (--plan-only)

# The SR node program's profiles the testbed compiles (p4/build --profile, docs/p4.md "Profiles"): the modules'
# switches run `full`, the WAN borders `wan`, s1 over SRv6 (`--dataplane srv6`) `srv6`.
P4_PROFILES: dict[str, dict[str, str]] = {
    "full": {},
    "wan": {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_WAN": "1"},
    "srv6": {"SRCHAIN_SRV6": "1"},
}
