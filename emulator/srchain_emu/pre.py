"""The packet replication engine (PRE) of the emulated Tofino, behind the SDE's fixed tables `$pre.node` and
`$pre.mgid` (names, ids, field ids and types as the SDE's `bf_rt_pre_tf1.json`,
p4lang/open-p4studio `pkgsrc/bf-drivers/src/bf_rt/bf_rt_pre/bf_rt_pre_tf1.json`).

* `$pre.node` (key `$MULTICAST_NODE_ID`): a level-1 node: `$MULTICAST_RID` (uint16) and its level-2 ports
  `$DEV_PORT` (int array; a port bitmap in the SDE, so read back sorted and without repeats).
  `$MULTICAST_LAG_ID` must be empty: LAGs (`$pre.lag`) are not modelled.
* `$pre.mgid` (key `$MGID`): a multicast group: `$MULTICAST_NODE_ID` (int array),
  `$MULTICAST_NODE_L1_XID_VALID` (bool array), `$MULTICAST_NODE_L1_XID` (int array), one element per node.
  The `$MULTICAST_ECMP_*` arrays must be empty: ECMP groups (`$pre.ecmp`) are not modelled.

The rules the SDE enforces, with the file each one mirrors (bf_rt_pre_table_impl.cpp = BF-RT's PRE tables,
mc_mgr*.c = the multicast manager under them, both in open-p4studio `pkgsrc/bf-drivers/src/`):

* INSERT of an existing node or MGID: ALREADY_EXISTS; MODIFY/DELETE of a missing one: NOT_FOUND
  (`BfRtPREMulticastNodeTable::tableEntryAdd/Mod/Del`, `BfRtPREMGIDTable::tableEntryAdd/Mod/Del`).
* The three node arrays of an MGID have one length, else INVALID_ARGUMENT
  (`BfRtPREMGIDTable::mcMGIDValidateDataMbrsSize`).
* An MGID naming a node that does not exist: NOT_FOUND (`mcMGIDNodeMbrsAdd` → `statePREHdlGet`).
* A node belongs to at most one MGID: naming it in a second MGID (or twice in one) is ALREADY_EXISTS
  (`mc_mgr.c` `mc_mgr_l1_associate`: "already associated with group").
* DELETE of a node that an MGID holds succeeds and takes the node out of that group first
  (`mc_mgr_intf.c` `bf_mc_node_destroy` → `mc_mgr_l1_dissociate`). Deleting an MGID frees its nodes.
* MODIFY of an MGID replaces its members (`BfRtPREMGIDTable::tableEntryMod`: "delete the existing MGID entry,
  add a new MGID entry with the given data"); MODIFY of a node replaces its ports
  (`tableEntryMod` → `mcMgrNodeUpdate`, which takes ports and LAGs only). The SDE keeps the node's RID there;
  the emulator refuses a MODIFY that gives a different RID instead of dropping it silently.

Replication (the data plane's view, `Pipeline.mcast_groups`): for a packet with `mcast_grp_a` (or `_b`) != 0,
one copy per port of each node of that group, in the group's node order and ascending ports, each carrying
the node's RID to egress (`eg_intr_md.egress_rid`). A node whose L1 XID is valid and equal to the packet's
`level1_exclusion_id` is skipped (level-1 pruning, as the SDE's tna_multicast test models it). Level-2
pruning needs `$pre.prune`, which is not served: with no prune entries no port is pruned, which is what a
Tofino does with an empty prune table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .interp import runtime as R

PRE_MGID = "$pre.mgid"
PRE_NODE = "$pre.node"
PRE_MGID_ID = 0xFF020001  # 4278321153 in bf_rt_pre_tf1.json
PRE_NODE_ID = 0xFF020002  # 4278321154
MAX_PORT = 511  # PortId_t is bit<9> (tofino1_base.p4)

# Field ids and names of bf_rt_pre_tf1.json.
MGID_FIELDS = {1: "$MULTICAST_NODE_ID", 2: "$MULTICAST_NODE_L1_XID_VALID", 3: "$MULTICAST_NODE_L1_XID",
               4: "$MULTICAST_ECMP_ID", 5: "$MULTICAST_ECMP_L1_XID_VALID", 6: "$MULTICAST_ECMP_L1_XID"}
NODE_FIELDS = {1: "$MULTICAST_RID", 2: "$MULTICAST_LAG_ID", 3: "$DEV_PORT"}

Value = int | list[int] | list[bool]
Undo = Callable[[], None]
# What the data plane replicates, per MGID: (port, rid, l1 xid or -1 when not valid), in copy order.
Copies = tuple[tuple[int, int, int], ...]


class Unsupported(R.ConfigError):
    """A field or value of a PRE table that the emulator does not model (answered UNIMPLEMENTED)."""


def _field(fid: int, name: str, ftype: str, *, repeated: bool, mandatory: bool) -> dict[str, object]:
    return {"mandatory": mandatory, "read_only": False,
            "singleton": {"id": fid, "name": name, "repeated": repeated, "annotations": [],
                          "type": {"type": ftype}}}


def _table(name: str, tid: int, ttype: str, size: int, key: str, key_type: str,
           data: list[dict[str, object]]) -> dict[str, object]:
    return {"name": name, "id": tid, "table_type": ttype, "size": size, "annotations": [], "depends_on": [],
            "has_const_default_action": False,
            "key": [{"id": 1, "name": key, "repeated": False, "annotations": [], "mandatory": True,
                     "match_type": "Exact", "type": {"type": key_type}}],
            "action_specs": [], "data": data, "supported_operations": [],
            "attributes": ["pre_device_config"] if name == PRE_MGID else []}


# The two tables as bf_rt_pre_tf1.json declares them (same ids, field ids, types, repeated/mandatory flags).
SCHEMAS = [
    _table(PRE_MGID, PRE_MGID_ID, "PreMgid", 65536, "$MGID", "uint16", [
        _field(1, "$MULTICAST_NODE_ID", "uint32", repeated=True, mandatory=False),
        _field(2, "$MULTICAST_NODE_L1_XID_VALID", "bool", repeated=True, mandatory=False),
        _field(3, "$MULTICAST_NODE_L1_XID", "uint16", repeated=True, mandatory=False),
        _field(4, "$MULTICAST_ECMP_ID", "uint32", repeated=True, mandatory=False),
        _field(5, "$MULTICAST_ECMP_L1_XID_VALID", "bool", repeated=True, mandatory=False),
        _field(6, "$MULTICAST_ECMP_L1_XID", "uint16", repeated=True, mandatory=False),
    ]),
    _table(PRE_NODE, PRE_NODE_ID, "PreNode", 16777216, "$MULTICAST_NODE_ID", "uint32", [
        _field(1, "$MULTICAST_RID", "uint16", repeated=False, mandatory=True),
        _field(2, "$MULTICAST_LAG_ID", "uint8", repeated=True, mandatory=True),
        _field(3, "$DEV_PORT", "uint32", repeated=True, mandatory=True),
    ]),
]
FIELDS = {PRE_MGID_ID: MGID_FIELDS, PRE_NODE_ID: NODE_FIELDS}
BOOL_ARRAYS = {"$MULTICAST_NODE_L1_XID_VALID", "$MULTICAST_ECMP_L1_XID_VALID"}
WIDTHS = {"$MULTICAST_NODE_ID": 32, "$MULTICAST_NODE_L1_XID": 16, "$MULTICAST_ECMP_ID": 32,
          "$MULTICAST_ECMP_L1_XID": 16, "$MULTICAST_RID": 16, "$MULTICAST_LAG_ID": 8, "$DEV_PORT": 32}
KEY_WIDTHS = {PRE_MGID_ID: 16, PRE_NODE_ID: 32}


@dataclass(frozen=True)
class Node:
    rid: int
    ports: tuple[int, ...]  # sorted, no repeats (the SDE keeps a port bitmap)


@dataclass(frozen=True)
class Member:
    node: int
    xid_valid: bool
    xid: int


class Pre:
    """`$pre.node` / `$pre.mgid` state of one program; every change republishes the replication lists into
    `groups` (the pipeline's `mcast_groups`, read per packet)."""

    def __init__(self, groups: dict[int, Copies]) -> None:
        self.nodes: dict[int, Node] = {}
        self.mgids: dict[int, tuple[Member, ...]] = {}
        self.groups = groups
        groups.clear()

    # ------------------------------------------------------------ writes
    def write(self, table_id: int, utype: str, key: int | None, values: dict[str, Value]) -> Undo:
        """INSERT | MODIFY | INSERT_OR_MODIFY | DELETE one entry; returns the undo (whole-state snapshot: the
        tables are small and a write is rare next to packets)."""
        name = PRE_MGID if table_id == PRE_MGID_ID else PRE_NODE
        if key is None:
            raise ValueError(f"{name}: the key ({'$MGID' if table_id == PRE_MGID_ID else '$MULTICAST_NODE_ID'}) "
                             "is required; the SDE has no clear for PRE tables")
        if not 0 <= key < 1 << KEY_WIDTHS[table_id]:
            raise ValueError(f"{name}: key {key} does not fit {KEY_WIDTHS[table_id]} bits")
        saved = (dict(self.nodes), dict(self.mgids))
        exists = key in (self.mgids if table_id == PRE_MGID_ID else self.nodes)
        what = f"{name}: {'MGID' if table_id == PRE_MGID_ID else 'node id'} {key}"
        if utype == "INSERT_OR_MODIFY":
            utype = "MODIFY" if exists else "INSERT"
        if utype == "INSERT" and exists:
            raise R.EntryExists(f"{what} already exists")
        if utype in ("MODIFY", "DELETE") and not exists:
            raise R.EntryNotFound(f"{what} does not exist")
        if table_id == PRE_MGID_ID:
            if utype == "DELETE":
                del self.mgids[key]
            else:
                self._set_mgid(key, values)
        elif utype == "DELETE":
            # bf_mc_node_destroy: dissociate from its group, then free.
            del self.nodes[key]
            for mgid, members in self.mgids.items():
                if any(m.node == key for m in members):
                    self.mgids[mgid] = tuple(m for m in members if m.node != key)
        else:
            self._set_node(key, values, self.nodes.get(key))
        self._publish()

        def undo() -> None:
            self.nodes, self.mgids = dict(saved[0]), dict(saved[1])
            self._publish()

        return undo

    def _set_node(self, key: int, values: dict[str, Value], old: Node | None) -> None:
        rid = _scalar(values, "$MULTICAST_RID", PRE_NODE, old.rid if old else 0)
        if old is not None and "$MULTICAST_RID" in values and rid != old.rid:
            raise ValueError(f"{PRE_NODE}: node id {key} has RID {old.rid}; a MODIFY cannot change it (the SDE's "
                             "mcMgrNodeUpdate keeps the RID: delete and insert the node instead)")
        lags = _array(values, "$MULTICAST_LAG_ID", PRE_NODE)
        if lags:
            raise Unsupported(f"{PRE_NODE}: $MULTICAST_LAG_ID {lags}: the emulator does not model multicast LAGs "
                              "($pre.lag); give an empty array")
        ports = _array(values, "$DEV_PORT", PRE_NODE)
        bad = [p for p in ports if p > MAX_PORT]
        if bad:
            raise ValueError(f"{PRE_NODE}: $DEV_PORT {bad[0]} is not a device port (0..{MAX_PORT})")
        self.nodes[key] = Node(rid, tuple(sorted(set(ports))))

    def _set_mgid(self, key: int, values: dict[str, Value]) -> None:
        nodes = _array(values, "$MULTICAST_NODE_ID", PRE_MGID)
        valid = _array(values, "$MULTICAST_NODE_L1_XID_VALID", PRE_MGID)
        xids = _array(values, "$MULTICAST_NODE_L1_XID", PRE_MGID)
        # mcMGIDValidateDataMbrsSize, in its order and with its wording.
        if len(nodes) != len(xids):
            raise ValueError(f"{PRE_MGID}: Multicast Node IDs size {len(nodes)} and Node L1 XIDs size {len(xids)} "
                             "do not match ($MULTICAST_NODE_ID and $MULTICAST_NODE_L1_XID need one element per node)")
        if len(xids) != len(valid):
            raise ValueError(f"{PRE_MGID}: Multicast Node L1 XIDs size {len(xids)} and Node L1 XIDs Valid size "
                             f"{len(valid)} do not match ($MULTICAST_NODE_L1_XID and $MULTICAST_NODE_L1_XID_VALID "
                             "need one element per node)")
        for ecmp in ("$MULTICAST_ECMP_ID", "$MULTICAST_ECMP_L1_XID_VALID", "$MULTICAST_ECMP_L1_XID"):
            if _array(values, ecmp, PRE_MGID):
                raise Unsupported(f"{PRE_MGID}: {ecmp}: the emulator does not model multicast ECMP groups "
                                  "($pre.ecmp); give an empty array")
        # A MODIFY replaces the members: the old ones are free again before the new ones are taken.
        owners = {m.node: mgid for mgid, ms in self.mgids.items() if mgid != key for m in ms}
        members: list[Member] = []
        for n, v, x in zip(nodes, valid, xids, strict=True):
            if n not in self.nodes:
                raise R.EntryNotFound(f"{PRE_MGID}: MGID {key} names node id {n}, which does not exist in {PRE_NODE}")
            if n in owners or any(m.node == n for m in members):
                raise R.EntryExists(f"{PRE_MGID}: node id {n} is already associated with MGID "
                                    f"{owners.get(n, key)} (a node belongs to one group: mc_mgr_l1_associate)")
            members.append(Member(n, bool(v), x))
        self.mgids[key] = tuple(members)

    def _publish(self) -> None:
        """Rebuild the data plane's replication lists (the caller holds the device lock)."""
        self.groups.clear()
        for mgid, members in self.mgids.items():
            self.groups[mgid] = tuple((port, node.rid, m.xid if m.xid_valid else -1)
                                      for m in members for node in (self.nodes[m.node],) for port in node.ports)

    # ------------------------------------------------------------ reads
    def read(self, table_id: int, key: int | None) -> list[tuple[int, dict[str, Value]]]:
        """(key, fields by name) of one entry, or of all in key order; NOT_FOUND for a missing key."""
        if table_id == PRE_MGID_ID:
            keys = sorted(self.mgids) if key is None else [key]
            out: list[tuple[int, dict[str, Value]]] = []
            for k in keys:
                ms = self.mgids.get(k)
                if ms is None:
                    raise R.EntryNotFound(f"{PRE_MGID}: MGID {k} does not exist")
                out.append((k, {"$MULTICAST_NODE_ID": [m.node for m in ms],
                                "$MULTICAST_NODE_L1_XID_VALID": [m.xid_valid for m in ms],
                                "$MULTICAST_NODE_L1_XID": [m.xid for m in ms],
                                "$MULTICAST_ECMP_ID": [], "$MULTICAST_ECMP_L1_XID_VALID": [],
                                "$MULTICAST_ECMP_L1_XID": []}))
            return out
        keys = sorted(self.nodes) if key is None else [key]
        out = []
        for k in keys:
            node = self.nodes.get(k)
            if node is None:
                raise R.EntryNotFound(f"{PRE_NODE}: node id {k} does not exist")
            out.append((k, {"$MULTICAST_RID": node.rid, "$MULTICAST_LAG_ID": [], "$DEV_PORT": list(node.ports)}))
        return out


def _array(values: dict[str, Value], name: str, table: str) -> list[int]:
    """An array field (absent = empty, as the SDE's data object starts)."""
    v = values.get(name, [])
    if not isinstance(v, list):
        raise ValueError(f"{table}: {name} is an array (int_arr_val/bool_arr_val), not a single value")
    width = WIDTHS.get(name)
    if width is not None:
        for x in v:
            if not 0 <= x < 1 << width:
                raise ValueError(f"{table}: {name} element {x} does not fit {width} bits")
    return [int(x) for x in v]


def _scalar(values: dict[str, Value], name: str, table: str, default: int) -> int:
    v = values.get(name, default)
    if isinstance(v, list):
        raise ValueError(f"{table}: {name} is a single value, not an array")
    if not 0 <= v < 1 << WIDTHS[name]:
        raise ValueError(f"{table}: {name} {v} does not fit {WIDTHS[name]} bits")
    return v
