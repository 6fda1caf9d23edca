"""Helpers for the controller-apply tests: an emulated switch on real gRPC (127.0.0.1, ephemeral port)
with an optional fault injector, compiled bundles, and small synthetic plans.

(A uniquely named module, so `import` never picks another directory's helpers.)
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from labs import GrpcSwitch
from srchain.apply import Drivers
from srchain.bfrt.client import BfrtClient
from srchain.model import load_chain
from srchain.plan import build_plan
from srchain.plan.model import Entry, Plan
from srchain.sidstore import SidStore
from srchain.targets.loader import Bundle
from srchain.targets.switch import SwitchDriver
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bundle import compile_to_dir

REPO = Path(__file__).resolve().parents[2]
EMU_P4 = REPO / "tests" / "emulator" / "p4"
FWD = "SwitchIngress.forward"
HIT = "SwitchIngress.hit"


class FailNthWrite(grpc.ServerInterceptor):
    """Refuses the Nth Write RPC (counted from arming) with `code`, before the switch sees it."""

    def __init__(self) -> None:
        self.fail_at: int | None = None
        self.code = grpc.StatusCode.UNAVAILABLE
        self.writes = 0
        self.lock = threading.Lock()

    def arm(self, nth: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        with self.lock:
            self.fail_at, self.code, self.writes = nth, code, 0

    def intercept_service(self, continuation, details):
        if details.method.endswith("/Write"):
            with self.lock:
                self.writes += 1
                fire = self.fail_at is not None and self.writes == self.fail_at
                if fire:
                    self.fail_at = None
            if fire:
                code = self.code

                def refuse(request, context):
                    context.abort(code, "injected fault: the switch stopped answering")

                return grpc.unary_unary_rpc_method_handler(refuse, request_deserializer=pb.WriteRequest.FromString,
                                                           response_serializer=pb.WriteResponse.SerializeToString)
        return continuation(details)


class Switch(GrpcSwitch):
    """An emulated switch served over real gRPC with a fault injector (`injector.arm(n)`);
    `restart()` gives a fresh, empty device on the same port."""

    def __init__(self, port: int = 0, credentials: grpc.ServerCredentials | None = None) -> None:
        self.injector = FailNthWrite()
        super().__init__(port, credentials=credentials, interceptors=[self.injector])


def bundle(program: str, out: Path) -> Bundle:
    compile_to_dir(EMU_P4 / f"{program}.p4", out)
    return Bundle(program, out)


def switch_factory(sw: Switch, b: Bundle, name: str = "s1"):
    def make(kind: str, target: str) -> SwitchDriver:
        assert (kind, target) == ("switch", name)
        return SwitchDriver(name, BfrtClient.connect(sw.address, client_id=1, timeout=5), b.name, b)

    return make


def mac(i: int) -> str:
    return f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}"


def fwd(i: int, port: int, version: int = 1, role: str = "sid_forward") -> Entry:
    return Entry("switch", "s1", FWD, {"hdr.ethernet.dst_addr": mac(i)}, HIT, {"port": port}, role, version)


def plan_of(entries: list[Entry], version: int = 1, chain: str = "t") -> Plan:
    return Plan(chain, version, f"digest{version}", 1, [], [], entries)


def live_forward(address: str) -> dict[int, int]:
    """Every entry of the forward table: dst MAC (int) -> port (a fresh session, read-only)."""
    c = BfrtClient.connect(address, client_id=7, timeout=5)
    try:
        c.bind("exact_forward")
        return {int(e.key["hdr.ethernet.dst_addr"]): int(e.data["port"]) for e in c.entries(FWD)}  # type: ignore[call-overload]
    finally:
        c.close()


def as_live(entries: list[Entry]) -> dict[int, int]:
    return {int(e.key["hdr.ethernet.dst_addr"].replace(":", ""), 16): e.params["port"] for e in entries}


# Multi-site (test_apply_wan_rows.py, test_apply_wan_netns.py): the two-site example and the P4 profile `wan`.
EXAMPLES = REPO / "examples"
BORDERS = ("a2", "b1")
WAN_PROFILE = {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_WAN": "1"}  # p4/build --profile wan


def two_site_plan(state: Path) -> Plan:
    with SidStore(state) as store:
        return build_plan(load_chain(EXAMPLES / "two-site.yaml", EXAMPLES / "inventory-two-site.yaml"), store)


def only(plan: Plan, targets: tuple[str, ...]) -> Plan:
    return Plan(plan.chain, plan.version, plan.spec_digest, plan.lb_buckets, [], [],
                [e for e in plan.entries if e.target_kind == "switch" and e.target in targets])


def node_bundle(out: Path, defines: dict[str, str]) -> Bundle:
    compile_to_dir(REPO / "p4" / "srchain_node.p4", out, defines=defines)
    return Bundle("srchain_node", out)


def drivers_for(switches: dict[str, Switch], b: Bundle) -> Drivers:
    def make(kind: str, target: str) -> SwitchDriver:
        assert kind == "switch" and target in switches
        return SwitchDriver(target, BfrtClient.connect(switches[target].address, client_id=1, timeout=5), b.name, b)

    return Drivers(make)
