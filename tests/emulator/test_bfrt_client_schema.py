"""The BF Runtime client's typed schema (srchain.bfrt.schema): bf-rt.json parsed into tables, key fields,
actions and learn filters; lookups that name what is missing; values checked before anything is sent."""

from __future__ import annotations

import json

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain.bfrt.schema import ActionInfo, DataField, FieldType, KeyField, Schema, SchemaError
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir


def _field(fid: int, name: str, ftype: dict[str, object], **more: object) -> dict[str, object]:
    return {"id": fid, "name": name, "type": ftype, **more}


DOC = {
    "tables": [
        {"name": "pipe.SwitchIngress.sr.sid_forward", "id": 10, "table_type": "MatchAction_Direct",
         "key": [_field(1, "label", {"type": "bytes", "width": 20}, match_type="Exact")],
         "action_specs": [{"name": "SwitchIngress.sr.forward", "id": 20,
                           "data": [_field(1, "port", {"type": "bytes", "width": 9}),
                                    _field(2, "dst_mac", {"type": "bytes", "width": 48})]}],
         "data": [{"singleton": _field(65554, "$COUNTER_SPEC_PKTS", {"type": "uint64"})}]},
        {"name": "pipe.SwitchIngress.classifier.rules", "id": 11, "table_type": "MatchAction_Direct",
         "key": [_field(1, "src_addr", {"type": "bytes", "width": 32}, match_type="Ternary"),
                 _field(65537, "$MATCH_PRIORITY", {"type": "uint32"}, match_type="Exact")],
         "action_specs": []},
        {"name": "pipe.SwitchEgress.report.rules", "id": 12, "table_type": "MatchAction_Direct", "key": []},
        {"name": "pipe.SwitchIngress.drops", "id": 13, "table_type": "Counter",
         "key": [_field(1, "$COUNTER_INDEX", {"type": "uint32"}, match_type="Exact")],
         "data": [{"singleton": _field(65554, "$COUNTER_SPEC_PKTS", {"type": "uint64"})},
                  {"container": []}]},  # an SDE-only container field: not used by the client, skipped
    ],
    "learn_filters": [{"name": "SwitchIngressDeparser.learn", "id": 30,
                       "fields": [_field(1, "src_mac", {"type": "bytes", "width": 48})]}],
}


def test_schema_parses_tables_key_fields_actions_and_learn_filters() -> None:
    non_p4 = {"tables": [{"name": "$mirror.cfg", "id": 1, "table_type": "MirrorCfg",
                          "key": [_field(1, "$sid", {"type": "uint16"}, match_type="Exact")]}]}
    schema = Schema.parse([json.dumps(DOC).encode(), json.dumps(non_p4)])
    assert sorted(schema.tables) == ["$mirror.cfg", "pipe.SwitchEgress.report.rules",
                                     "pipe.SwitchIngress.classifier.rules", "pipe.SwitchIngress.drops",
                                     "pipe.SwitchIngress.sr.sid_forward"]
    fwd = schema.table("sid_forward")  # any unique dotted suffix
    assert fwd is schema.table("pipe.SwitchIngress.sr.sid_forward") and (fwd.id, fwd.is_match_action) == (10, True)
    assert fwd.key_field("label") == KeyField("label", 1, "Exact", FieldType("bytes", 20))
    assert fwd.key_field("label").type.byte_width == 3
    assert fwd.action("forward") == ActionInfo("SwitchIngress.sr.forward", 20, (
        DataField("port", 1, FieldType("bytes", 9)), DataField("dst_mac", 2, FieldType("bytes", 48))))
    assert fwd.action_by_id(20) is fwd.action("SwitchIngress.sr.forward") and fwd.action_by_id(21) is None
    assert fwd.data_field("$COUNTER_SPEC_PKTS").type == FieldType("uint64", 64)
    assert schema.table("classifier.rules").key_field_by_id(65537).width == 32
    assert [d.name for d in schema.table("drops").data] == ["$COUNTER_SPEC_PKTS"]
    assert schema.table("$mirror.cfg").keys[0].type.byte_width == 2
    assert schema.learn_filter_by_id(30).fields == (DataField("src_mac", 1, FieldType("bytes", 48)),)


def test_lookups_name_what_is_missing_and_where() -> None:
    schema = Schema.parse([json.dumps(DOC)])
    with pytest.raises(SchemaError, match=r"^no name 'nat' among the tables$") as missing:
        schema.table("nat")
    assert missing.value.code == "NOT_FOUND"
    with pytest.raises(SchemaError, match=r"^ambiguous name 'rules' among the tables: "
                                          r"pipe.SwitchEgress.report.rules, pipe.SwitchIngress.classifier.rules$"):
        schema.table("rules")
    fwd = schema.table("sid_forward")
    with pytest.raises(SchemaError, match=r"^table pipe.SwitchIngress.sr.sid_forward has no key field lable$") as key:
        fwd.key_field("lable")
    assert key.value.code == "INVALID_ARGUMENT"
    with pytest.raises(SchemaError, match=r"^no name 'drop' among the actions of table "
                                          r"pipe.SwitchIngress.sr.sid_forward$"):
        fwd.action("drop")
    with pytest.raises(SchemaError, match=r"^action SwitchIngress.sr.forward has no parameter ttl$"):
        fwd.action("forward").param("ttl")
    with pytest.raises(SchemaError, match=r"^table pipe.SwitchIngress.sr.sid_forward has no key field with id 9$"):
        fwd.key_field_by_id(9)
    with pytest.raises(SchemaError, match=r"^no learn filter with id 31$"):
        schema.learn_filter_by_id(31)


@pytest.mark.parametrize(("doc", "message"), [
    ({"tables": [{"name": "t", "key": []}]}, r"^bf-rt.json t: 'id' missing or not an integer$"),
    ({"tables": [{"name": "t", "id": 1, "key": [_field(1, "k", {"type": "bytes"}, match_type="Exact")]}]},
     r"^bf-rt.json k: type: bytes without a width$"),
    ({"tables": [{"name": "t", "id": 1, "key": [{"id": 1, "name": "k", "match_type": "Exact"}]}]},
     r"^bf-rt.json k: type: expected an object, got NoneType$"),
    ({"tables": {"name": "t"}}, r"^bf-rt.json: 'tables' is not a list$"),
    ([], r"^bf-rt.json: expected an object, got list$"),
])
def test_a_malformed_bf_rt_json_is_refused_naming_the_place(doc: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as refused:
        Schema.parse([json.dumps(doc)])
    assert refused.value.code == "INVALID_ARGUMENT"


@pytest.fixture()
def client(tmp_path):
    server, _, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    try:
        c.subscribe(learn=False)
        c.push_program("exact_forward", tmp_path / "b")
        c.bind("exact_forward")
        yield c
    finally:
        c.close()
        server.stop(grace=None)


def test_client_refuses_a_value_of_the_wrong_kind_before_anything_is_sent(client: BfrtClient) -> None:
    mac = "hdr.ethernet.dst_addr"
    refused = [
        (lambda: client.insert("forward", {mac: "02:00:00:00:00:02"}, "hit", {"port": 2}),
         r"^field hdr.ethernet.dst_addr: '02:00:00:00:00:02' is not an integer$"),
        (lambda: client.insert("forward", {mac: 1 << 48}, "hit", {"port": 2}),
         r"^field hdr.ethernet.dst_addr: value 281474976710656 does not fit 48 bits$"),
        (lambda: client.insert("forward", {mac: 2}, "hit", {"port": 2.5}), r"^field port: 2.5 is not an integer$"),
        (lambda: client.insert("forward", {mac: 2}, "hit", {"prot": 2}),
         r"^table pipe.SwitchIngress.forward has no data field prot$"),
        (lambda: client.insert("forward", {"dst": 2}, "hit", {"port": 2}),
         r"^table pipe.SwitchIngress.forward has no key field dst$"),
    ]
    for write, message in refused:
        with pytest.raises(BfrtError, match=message) as exc:
            write()
        assert exc.value.code == "INVALID_ARGUMENT"
    with pytest.raises(BfrtError, match=r"^no name 'fwd' among the tables$") as no_table:
        client.insert("fwd", {mac: 2}, "hit", {"port": 2})
    assert no_table.value.code == "NOT_FOUND"
    assert client.entries("forward") == []  # nothing reached the switch
    client.insert("forward", {mac: 2}, "SwitchIngress.hit", {"port": 3})
    (row,) = client.entries("forward")
    assert (row.key_int(mac), row.action, row.data_int("port"), row.data_int("$COUNTER_SPEC_PKTS")) == \
        (2, "SwitchIngress.hit", 3, 0)
    with pytest.raises(BfrtError, match=r"^data field nope is None, not an integer$"):
        row.data_int("nope")


def test_client_encodes_lists_as_int_and_bool_arrays(tmp_path) -> None:
    """Repeated fields (the SDE's $pre.* tables) take lists: int_arr_val, or bool_arr_val for a bool field; an
    empty list is still a value (the oneof is set); lists for single fields and wrong elements are refused."""
    rep = {"repeated": True}
    doc = {"tables": [{"name": "$pre.x", "id": 7, "table_type": "PreMgid",
                       "key": [_field(1, "$MGID", {"type": "uint16"}, match_type="Exact")],
                       "data": [{"singleton": _field(1, "$IDS", {"type": "uint32"}, **rep)},
                                {"singleton": _field(2, "$VALID", {"type": "bool"}, **rep)},
                                {"singleton": _field(3, "$XID", {"type": "uint16"}, **rep)},
                                {"singleton": _field(4, "$RID", {"type": "uint16"})}]}]}
    c = BfrtClient(f"unix:{tmp_path / 'nobody.sock'}")  # make_update needs only the schema
    try:
        c._schema = Schema.parse([json.dumps(doc)])
        u = c.make_update(0, "$pre.x", {"$MGID": 5}, None,
                          {"$IDS": [1, 2], "$VALID": [True, False], "$XID": [], "$RID": 3})
        f = {x.field_id: x for x in u.entity.table_entry.data.fields}
        assert list(f[1].int_arr_val.val) == [1, 2] and list(f[2].bool_arr_val.val) == [True, False]
        assert f[3].WhichOneof("value") == "int_arr_val" and list(f[3].int_arr_val.val) == []
        assert f[4].stream == b"\x00\x03"
        for data, message in [({"$RID": [3]}, r"^field \$RID takes a single value, not a list$"),
                              ({"$XID": [1 << 16]}, r"^field \$XID: value 65536 does not fit 16 bits$"),
                              ({"$VALID": [1]}, r"^field \$VALID: 1 is not a bool$"),
                              ({"$IDS": ["a"]}, r"^field \$IDS: 'a' is not an integer$")]:
            with pytest.raises(BfrtError, match=message) as exc:
                c.make_update(0, "$pre.x", {"$MGID": 5}, None, data)
            assert exc.value.code == "INVALID_ARGUMENT"
    finally:
        c.close()
