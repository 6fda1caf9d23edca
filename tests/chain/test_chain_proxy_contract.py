"""The proxy entry contract cannot drift: a spec that plans yields proxy entries the proxy accepts, and every
limit gives the planner and the proxy the same verdict (srchain_contracts.proxy_api, docs/proxy.md)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from chainlib import EXAMPLES, INVENTORY
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain.model import SpecError, load_chain
from srchain.plan import Plan, build_plan
from srchain.plan.model import DiffOp
from srchain.sidstore import SidStore
from srchain.targets.base import TargetError
from srchain.targets.proxy import ProxyDriver
from srchain_proxy.control import Api, ApiError

SPEC = EXAMPLES / "cloud-gaming-mitigation.yaml"  # static SIDs (ttl) and a dynamic one (cache, idle timeout)
DYNAMIC = "    behaviour: dynamic\n"
ATTACHMENT = "{vnf: mitigation, iface_out: px1-mit-o, iface_in: px1-mit-i}"
STATIC_ENTRY = {"sid": 16100, "behaviour": "static", "vnf": "mitigation", "restore": [[16101]]}
DYNAMIC_ENTRY = {"sid": 16100, "behaviour": "dynamic", "vnf": "mitigation"}


class _Daemon:
    """What the control API needs of the daemon: the tables, and apply (kept, no data path)."""

    def __init__(self) -> None:
        self.sids: dict[int, Any] = {}
        self.atts: dict[str, Any] = {}
        self.datapath = SimpleNamespace(variant="python", variant_detail="no data path in this test")

    def apply(self, sids: dict[int, Any], atts: dict[str, Any]) -> None:
        self.sids, self.atts = sids, atts

    def counters(self) -> dict[str, Any]:
        return {"sids": {}}

    def attachment_view(self, vnf: str) -> dict[str, Any]:
        return {**self.atts[vnf].model_dump(exclude_none=True), "resolved_mac": None, "ready": False}


class _LocalApi:
    """The driver's ProxyApi, answered by the proxy's own control API in this process (JSON both ways)."""

    def __init__(self) -> None:
        self.api = Api(_Daemon())  # type: ignore[arg-type]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            _, doc = self.api.handle(method, path, json.dumps(body).encode() if body is not None else b"")
        except ApiError as exc:
            raise TargetError("proxy px1", f"{method} {path}: {exc.status} {exc}", code=str(exc.status)) from None
        return json.loads(json.dumps(doc))

    def close(self) -> None:
        pass


def proxy_verdict(method: str, path: str, body: dict[str, Any]) -> str | None:
    """None when the proxy's control API accepts the body, else its error."""
    try:
        Api(_Daemon()).handle(method, path, json.dumps(body).encode())  # type: ignore[arg-type]
    except ApiError as exc:
        assert exc.status == 400
        return str(exc)
    return None


def planner_verdict(spec: str, inventory: str) -> tuple[Plan | None, str | None]:
    """(plan, None) when `srchain chain plan` accepts the spec and inventory, else (None, its error)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spec.yaml").write_text(spec)
        (Path(tmp) / "inventory.yaml").write_text(inventory)
        try:
            model = load_chain(Path(tmp) / "spec.yaml", Path(tmp) / "inventory.yaml")
        except SpecError as exc:
            return None, str(exc)
        with SidStore(Path(tmp) / "state") as store:
            return build_plan(model, store), None


def install_on_proxy(plan: Plan) -> None:
    """Every proxy entry of the plan through the real driver into the proxy's control API: accepted, and read
    back with the same content (the driver sees nothing to change after the apply)."""
    driver = ProxyDriver("px1", _LocalApi())  # type: ignore[arg-type]
    entries = plan.entries_of("proxy", "px1")
    assert entries, "the spec has proxy entries"
    driver.write([DiffOp("add", "install", e) for e in entries])
    installed = {key: content for key, (content, _) in driver.snapshot({"sid", "attachment"}).items()}
    assert installed == dict(driver.norm(e) for e in entries)


def with_field(field: str, text: str) -> tuple[str, str]:
    """The reference spec and inventory with one proxy-facing field set to `text` (YAML)."""
    spec, inventory = SPEC.read_text(), INVENTORY.read_text()
    if field == "ttl":
        spec = spec.replace("\nttl: 64\n", f"\nttl: {text}\n")
    elif field in ("cache_size", "idle_timeout_s", "return_match", "miss_policy"):
        spec = spec.replace(DYNAMIC, f"{DYNAMIC}    {field}: {text}\n")
    else:
        inventory = inventory.replace(ATTACHMENT, f"{{vnf: mitigation, iface: px1-mit, {field}: {text}}}"
                                      if field != "iface" else f"{{vnf: mitigation, iface: {text}}}")
    assert (spec, inventory) != (SPEC.read_text(), INVENTORY.read_text()), field
    return spec, inventory


def proxy_body(field: str, value: Any) -> tuple[str, str, dict[str, Any]]:
    if field == "ttl":
        return "POST", "/v1/batch", {"put": [{**STATIC_ENTRY, "ttl": value}]}
    if field in ("cache_size", "idle_timeout_s", "return_match", "miss_policy"):
        extra = {"fallback": [16101]} if field == "miss_policy" else {}
        return "POST", "/v1/batch", {"put": [{**DYNAMIC_ENTRY, **extra, field: value}]}
    base = {"iface": "px1-mit"} if field != "iface" else {}
    return "PUT", "/v1/attachments/mitigation", {**base, field: value}


# (field, YAML value, accepted): max, max+1, min, min-1 of every limit, and values of the wrong type
BOUNDARIES = [
    ("ttl", "2", True), ("ttl", "1", False), ("ttl", "255", True), ("ttl", "256", False),
    ("ttl", "true", False), ("ttl", "'64'", False), ("ttl", "64.0", False),
    ("cache_size", "1", True), ("cache_size", "0", False),
    ("cache_size", "16777216", True), ("cache_size", "16777217", False), ("cache_size", "true", False),
    ("idle_timeout_s", "1", True), ("idle_timeout_s", "0", False),
    ("idle_timeout_s", "86400", True), ("idle_timeout_s", "86401", False),
    ("idle_timeout_s", "0.5", False), ("idle_timeout_s", "300.0", False), ("idle_timeout_s", "false", False),
    ("return_match", "either", True), ("return_match", "any", False),
    ("miss_policy", "fallback", True), ("miss_policy", "reroute", False),
    ("vlan", "1", True), ("vlan", "0", False), ("vlan", "4094", True), ("vlan", "4095", False),
    ("vlan", "true", False),
    ("iface", "a" * 15, True), ("iface", "a" * 16, False), ("iface", "'px1 mit'", False),
]


@pytest.mark.parametrize(("field", "text", "accepted"), BOUNDARIES, ids=lambda v: str(v))
def test_planner_and_proxy_give_the_same_verdict(field: str, text: str, accepted: bool) -> None:
    plan, plan_error = planner_verdict(*with_field(field, text))
    proxy_error = proxy_verdict(*proxy_body(field, yaml.safe_load(text)))
    assert (plan_error is None, proxy_error is None) == (accepted, accepted), (plan_error, proxy_error)
    if accepted:
        assert plan is not None
        install_on_proxy(plan)
    else:  # both name the field
        assert plan_error is not None and re.search(rf"\b{field}: ", plan_error), plan_error
        assert proxy_error is not None and re.search(rf"\b{field}: ", proxy_error), proxy_error


def _around(low: int, high: int) -> st.SearchStrategy[Any]:
    """Mostly the edges of [low, high] and just outside, some values in between, and JSON's other scalars."""
    edges = st.sampled_from([low - 1, low, low + 1, high - 1, high, high + 1])
    return st.one_of(edges, st.integers(low - 5, high + 5), st.booleans(), st.floats(low - 1, high + 1),
                     st.text(max_size=3))


@settings(max_examples=60, deadline=None)
@given(ttl=_around(2, 255), cache_size=_around(1, 1 << 24), idle=_around(1, 86400),
       behaviour=st.sampled_from(["static", "dynamic"]), return_match=st.sampled_from(["same", "reverse", "either"]),
       miss_policy=st.sampled_from(["drop", "fallback"]))
def test_every_spec_that_plans_installs_on_the_proxy(ttl: Any, cache_size: Any, idle: Any, behaviour: str,
                                                    return_match: str, miss_policy: str) -> None:
    values = {"ttl": ttl, "cache_size": cache_size, "idle_timeout_s": idle}
    spec, inventory = SPEC.read_text(), INVENTORY.read_text()
    spec = spec.replace("\nttl: 64\n", f"\nttl: {json.dumps(ttl)}\n").replace(DYNAMIC, (
        f"    behaviour: {behaviour}\n    return_match: {return_match}\n    miss_policy: {miss_policy}\n"
        f"    cache_size: {json.dumps(cache_size)}\n    idle_timeout_s: {json.dumps(idle)}\n"))
    plan, plan_error = planner_verdict(spec, inventory)
    refused_by_proxy = {f for f, v in values.items() if proxy_verdict(*proxy_body(f, v)) is not None}
    if plan is not None:
        assert not refused_by_proxy
        install_on_proxy(plan)
    else:
        assert plan_error is not None
        refused_by_planner = {f for f in values if re.search(rf"\b{f}: ", plan_error)}
        assert refused_by_planner == refused_by_proxy, plan_error
