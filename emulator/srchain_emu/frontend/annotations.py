"""Which annotations (and `#pragma`s) the emulator accepts, and where.

Every annotation the parser reads goes through `check_annotation`: it is either honoured (it changes what the
emulator does, and only where it means something), or one of bf-p4c's resource/placement hints that cannot
change what a packet sees (accepted with no effect in the emulator, listed in docs/emulator.md), or refused
with `file:line` and a reason. Nothing is dropped silently.
"""

from __future__ import annotations

from .errors import Loc, P4Error

# Honoured annotations: the positions (parser contexts) where each one has an effect.
HONOURED: dict[str, frozenset[str]] = {
    # a table key's control-plane name (bf-rt.json); on a table or an action the checker refuses it (a rename
    # of a control-plane object), and anywhere else too (below)
    "name": frozenset({"key", "action", "table"}),
    "defaultonly": frozenset({"table action"}),
    "tableonly": frozenset({"table action"}),
    # trailing TNA block parameters that a program may leave out (p4include/tna.p4)
    "optional": frozenset({"parameter"}),
    # pairs of Hash.get inputs hashed symmetrically (bf-p4c mau/ixbar_expr.cpp, mau/asm_hash_output.cpp)
    "symmetric": frozenset({"instance"}),
}

# bf-p4c hints that only steer its resource allocation, placement or diagnostics: with them or without, the
# program computes the same thing, so the emulator accepts them and does nothing. Keep docs/emulator.md in step.
NO_EFFECT: frozenset[str] = frozenset({
    # PHV allocation (bf-p4c phv/pragma/): containers, packing, overlay, initialisation of metadata the
    # emulator zero-initialises anyway
    "pa_atomic", "pa_auto_init_metadata", "pa_byte_pack", "pa_container_size", "pa_container_type",
    "pa_disable_deparse_0_optimization", "pa_do_not_bridge", "pa_mutually_exclusive", "pa_no_init",
    "pa_no_overlay", "pa_no_pack", "pa_parser_bandwidth_opt", "pa_parser_group_monogress",
    "pa_prioritize_ara_inits", "pa_quick_phv_alloc", "pa_solitary", "pa_allow_pov_on_mocha",
    # table placement and layout (common/pragma/pragmas.cpp)
    "stage", "placement_priority", "pack", "ways", "immediate", "force_immediate", "use_hash_action",
    "no_gateway_conversion", "separate_gateway", "ixbar_group_num", "max_actions", "no_versioning",
    "disable_atomic_modify", "entries_with_ranges", "hash_mask", "dontmerge", "user_annotation",
    # ALPM/ATCAM sizing: the lookup stays longest-prefix / ternary
    "alpm", "alpm_partitions", "alpm_subtrees_per_partition", "alpm_atcam_exclude_field_msbs",
    "atcam_number_partitions", "atcam_partition_index",
    # lets the control plane set a DynamicKeyMask table attribute (exact tables only; checker.dynamic_key_masks):
    # entry keys and the packet's key are masked before the exact lookup
    "dynamic_table_key_masks",
    # the wire layout of a header that only travels inside the switch (bridged/mirrored): the emulator keeps
    # the declared order, which its own parser reads back (and pads a header short of whole bytes because of its
    # @flexible fields: checker.FLEX_PAD; the parser records @flexible on each field)
    "flexible", "padding",
    # p4c diagnostics and control-plane visibility
    "noWarn", "hidden",
})

_WHERE = {
    "key": "a table key", "action": "an action", "table": "a table", "table action": "a table's actions list",
    "parameter": "a parameter", "instance": "an instance", "declaration": "a declaration",
    "field": "a struct or header field", "statement": "a statement", "state": "a parser state",
    "property": "a table property", "entry": "a table entry", "method": "an extern method",
    "control": "a control", "parser": "a parser",
}


def check_annotation(name: str, position: str, loc: Loc) -> None:
    """Refuse annotation `name` at `position` (a parser context such as "key", "instance", "statement")
    unless it is honoured there or is a documented no-effect hint."""
    if name in NO_EFFECT:
        return
    where = HONOURED.get(name)
    if where is None:
        raise P4Error(loc, f"annotation @{name} is not supported by the emulator (neither honoured nor one of "
                           f"the no-effect bf-p4c hints listed in docs/emulator.md)")
    if position not in where:
        if name == "name":
            raise P4Error(loc, f"@name on {_WHERE.get(position, position)} (a control-plane rename) is not "
                               f"supported by the emulator; it is honoured on table keys only")
        allowed = " or ".join(sorted(_WHERE.get(w, w) for w in where))
        raise P4Error(loc, f"@{name} has no meaning on {_WHERE.get(position, position)} "
                           f"(the emulator honours it on {allowed} only)")


def check_pragma(name: str, loc: Loc) -> None:
    """`#pragma name ...` and `@pragma name ...` carry a bf-p4c hint: only the no-effect ones are accepted."""
    if name in NO_EFFECT:
        return
    if name in HONOURED:
        raise P4Error(loc, f"pragma {name} is not supported by the emulator: write @{name}(...) on the "
                           f"declaration it applies to")
    raise P4Error(loc, f"pragma {name} is not supported by the emulator (neither honoured nor one of the "
                       f"no-effect bf-p4c hints listed in docs/emulator.md)")
