"""srchain-p4-switch charm logic: the Tofino PDU's proxy charm, over BF Runtime gRPC.

Day 1 loads the P4 program through the project's loader (content hash: loading what already runs is a
no-op, because a push wipes every table). Day 2 applies this switch's part of a chain plan with the
same make-before-break engine as `srchain chain apply`, and reads tables and counters.

The charm's state directory holds `applied/<chain>.json` (what this charm installed on the switch).
The BF Runtime token and TLS material come from Juju secrets; TLS files exist on disk (0600, in a
private temporary directory) only while the gRPC channel is being set up.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.bfrt.client import BfrtClient, BfrtError, TlsFiles
from srchain.charms import ActionError
from srchain.plan.model import PLAN_FORMAT, Plan, entries_from_state
from srchain.targets.base import Driver, TargetError
from srchain.targets.loader import Bundle, ensure_program
from srchain.targets.switch import SwitchDriver

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# P4 bundles shipped in the charm (srchain package build --p4-bundle): <charm>/p4/<program>/{bf-rt.json,pipe/...}
# and the digest the build recorded, <program>/DIGEST. OSM's N2VC deploys the charm directory as it is in the
# package and passes Juju no resources, so the charm directory is how a bundle reaches the charm's machine.
SHIPPED_DIR = "p4"
DIGEST_FILE = "DIGEST"
FROM_PACKAGE = "from-package"  # load-p4-program digest: the DIGEST the package build recorded
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# Index of SwitchIngress.drops = drop reason (p4/include/defines.p4).
DROP_REASONS = {1: "stack_too_deep", 2: "ttl_expired", 3: "unknown_label", 4: "no_route", 5: "ip_ttl",
                6: "bad_checksum", 7: "not_ipv4", 8: "decision", 9: "bad_decision", 10: "srh_invalid",
                11: "segments_left", 12: "wan_malformed", 13: "link_local"}  # p4/include/defines.p4 DROP_*
PKTS, BYTES = "$COUNTER_SPEC_PKTS", "$COUNTER_SPEC_BYTES"


@dataclass(frozen=True)
class SwitchSettings:
    """What the charm's config and secrets say about the switch it manages."""

    name: str  # the inventory name of the switch (a plan's target name)
    address: str  # host:port of BF Runtime gRPC
    device_id: int = 0
    artifacts_dir: Path = Path("/var/lib/srchain/p4")  # holds <program>/bf-rt.json, <program>/pipe/... (charm: p4/)
    state_dir: Path = Path("/var/lib/srchain/p4-switch")
    token: str | None = field(default=None, repr=False)
    tls: dict[str, str] | None = field(default=None, repr=False)  # ca, cert, key (PEM texts), server-name
    timeout: float = 10.0
    attempts: int = 2

    def check(self) -> None:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            raise ActionError(f"bfrt-address: '{self.address}' is not host:port")
        if not SAFE_NAME.match(self.name):
            raise ActionError(f"switch-name: '{self.name}' is not an inventory name")


@contextmanager
def _tls_files(tls: dict[str, str] | None) -> Iterator[TlsFiles | None]:
    """The secret's PEM texts as files for gRPC, removed as soon as the channel has read them."""
    if tls is None:
        yield None
        return
    if not tls.get("ca"):
        raise ActionError("bfrt-tls: the secret has no 'ca' key (the CA that signed the switch's certificate)")
    if bool(tls.get("cert")) != bool(tls.get("key")):
        raise ActionError("bfrt-tls: 'cert' and 'key' go together (mutual TLS)")
    with tempfile.TemporaryDirectory(prefix="srchain-tls-") as d:
        paths: dict[str, Path] = {}
        for k in ("ca", "cert", "key"):
            if tls.get(k):
                p = Path(d) / k
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(tls[k])
                paths[k] = p
        yield TlsFiles(paths["ca"], paths.get("cert"), paths.get("key"), tls.get("server-name") or None)


def connect(s: SwitchSettings) -> BfrtClient:
    s.check()
    with _tls_files(s.tls) as tls:
        try:
            return BfrtClient.connect(s.address, attempts=s.attempts, client_id=1, device_id=s.device_id,
                                      token=s.token, timeout=s.timeout, tls=tls)
        except BfrtError as exc:
            raise ActionError(f"switch {s.name}: {exc}") from None


@contextmanager
def session(s: SwitchSettings) -> Iterator[BfrtClient]:
    client = connect(s)
    try:
        yield client
    finally:
        client.close()


def _loaded(client: BfrtClient) -> list[str]:
    return [c.p4_name for c in client.pipeline().config]


def _bound(client: BfrtClient, s: SwitchSettings) -> str:
    """Bind the session to the one program the switch runs; refuse clearly when there is none."""
    names = _loaded(client)
    if len(names) != 1:
        raise ActionError(f"switch {s.name}: {'no P4 program is loaded' if not names else 'several programs'}"
                          f" ({', '.join(names) or 'none'}); run load-p4-program first")
    client.bind(names[0])
    return names[0]


def health(s: SwitchSettings) -> str:
    """One line for the unit status: reachable, and which program runs."""
    with session(s) as client:
        try:
            names = _loaded(client)
        except BfrtError as exc:
            raise ActionError(f"switch {s.name}: {exc}") from None
    return f"switch {s.name}: " + (f"running {', '.join(names)}" if names else "reachable, no P4 program loaded")


def bundle_for(s: SwitchSettings, program: str) -> Bundle:
    if not SAFE_NAME.match(program):
        raise ActionError(f"program: '{program}' is not a program name")
    b = Bundle(program, s.artifacts_dir / program)
    missing = [str(p) for p in b.files() if not p.is_file()]
    if missing:
        raise ActionError(f"program: no compiled artifacts for {program} (missing {', '.join(missing)}); "
                          "put bf-p4c's output (or `srchain p4 compile`'s) there")
    return b


def _controller(s: SwitchSettings, client: BfrtClient, program: str, bundle: Bundle | None,
                drain_timeout: float) -> Controller:
    def factory(kind: str, name: str) -> Driver:
        if (kind, name) != ("switch", s.name):
            raise TargetError(f"{kind} {name}", f"this charm manages switch {s.name} only")
        return SwitchDriver(name, client, program, bundle)

    opts = Options(drain_timeout=drain_timeout, drain_interval=min(0.5, max(drain_timeout / 4, 0.01)))
    return Controller(Drivers(factory), AppliedStore(s.state_dir), opts)


def bundle_digest(b: Bundle) -> str:
    """`sha256:<hex>` of a bundle (targets.loader: canonical bf-rt.json, each profile's context and binary)."""
    return f"sha256:{b.digest()}"


def verify_bundle(b: Bundle, expected: str) -> str:
    """The bundle's digest, when it is the one `expected` names (`sha256:<hex>`, or FROM_PACKAGE: the DIGEST the
    package build recorded beside it); else ActionError naming both digests."""
    source = "the NS config (load-p4-program digest)"
    if expected == FROM_PACKAGE:
        recorded = b.root / DIGEST_FILE
        if not recorded.is_file():
            raise ActionError(f"program {b.name}: digest {FROM_PACKAGE}, but {recorded} does not exist (a bundle "
                              "shipped by srchain package build --p4-bundle has one); give the digest; nothing was "
                              "loaded")
        expected, source = recorded.read_text().strip(), f"the package's {recorded}"
    if not DIGEST_RE.match(expected):
        raise ActionError(f"digest: '{expected[:80]}' ({source}) is not sha256:<64 hex digits> or {FROM_PACKAGE}; "
                          "nothing was loaded")
    actual = bundle_digest(b)
    if actual != expected:
        raise ActionError(f"program {b.name}: the bundle at {b.root} has digest {actual}, {source} names "
                          f"{expected}; refused, nothing was loaded")
    return actual


def load_program(s: SwitchSettings, program: str, digest: str = FROM_PACKAGE) -> dict[str, Any]:
    """Make `program` run on the switch, from a bundle whose digest is the one `digest` names (checked before
    anything reaches the switch). A push wipes every table, so the chains this charm applied are re-installed
    right after it (reconcile); loading what already runs changes nothing."""
    b = bundle_for(s, program)
    actual = verify_bundle(b, digest.strip() or FROM_PACKAGE)
    with session(s) as client:
        try:
            done = ensure_program(client, program, b)
        except BfrtError as exc:
            raise ActionError(f"switch {s.name}: program {program}: {exc}") from None
        out: dict[str, Any] = {"program": program, "result": done, "digest": actual}
        if done == "pushed":
            store = AppliedStore(s.state_dir)
            restored = {}
            for chain in store.chains():
                try:
                    r = _controller(s, client, program, None, 0).reconcile(chain)
                except ApplyError as exc:
                    raise ActionError(f"program {program} pushed, but re-installing chain {chain} failed: {exc}") \
                        from None
                restored[chain] = len(r.ops)
            if restored:
                out["reinstalled"] = restored
    return out


def parse_plan(text: str, switch: str) -> Plan:
    """This switch's part of a plan (`srchain chain plan --json`); errors name the field."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"plan: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise ActionError(f"plan: format: must be {PLAN_FORMAT} (the output of `srchain chain plan --json`)")
    for k, t in (("chain", str), ("version", int)):
        if not isinstance(doc.get(k), t):
            raise ActionError(f"plan: {k}: missing or not a {t.__name__}")
    if not SAFE_NAME.match(doc["chain"]):
        raise ActionError(f"plan: chain: '{doc['chain']}' cannot be a file name")
    try:
        entries = entries_from_state(doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise ActionError(f"plan: {exc}") from None
    mine = [e for e in entries if (e.target_kind, e.target) == ("switch", switch)]
    if not mine:
        names = sorted({e.target for e in entries if e.target_kind == "switch"})
        raise ActionError(f"plan: targets: no entries for switch {switch} (the plan's switches: "
                          f"{', '.join(names) or 'none'})")
    return Plan(doc["chain"], doc["version"], str(doc.get("spec_digest", "")), int(doc.get("lb_buckets", 1)),
                [], [], mine)


def apply_chain(s: SwitchSettings, plan_text: str, drain_timeout: float = 10.0) -> dict[str, Any]:
    """Install this switch's entries of the plan, make-before-break against what this charm applied
    before for the same chain; a failure rolls back and leaves the previous version in place."""
    plan = parse_plan(plan_text, s.name)
    with session(s) as client:
        program = _bound(client, s)
        try:
            r = _controller(s, client, program, None, drain_timeout).apply(plan)
        except ApplyError as exc:
            raise ActionError(f"apply-chain {plan.chain} v{plan.version}: {exc}") from None
    counts = {k: sum(1 for op in r.ops if op.op == k) for k in ("add", "modify", "delete")}
    return {"chain": plan.chain, "version": plan.version, "entries": len(plan.entries), **counts,
            "batches": r.batches, "drained": r.drained}


def _plain(v: object) -> object:
    return list(v) if isinstance(v, tuple) else v


def _match_tables(client: BfrtClient) -> list[str]:
    tables = client.schema().tables
    return sorted(n.removeprefix("pipe.") for n, t in tables.items() if t.is_match_action)


ALL_TABLES = "*"  # show-tables' `table` default-value in the PNF VNFD: OSM passes it when the operator gives none


def show_tables(s: SwitchSettings, table: str | None = None) -> dict[str, Any]:
    """Entries of one match-action table (short or full BF Runtime name) or of all of them (None, '' or '*')."""
    if table == ALL_TABLES:
        table = None
    with session(s) as client:
        program = _bound(client, s)
        names = _match_tables(client)
        if table:
            try:
                wanted = [client.table(table).name.removeprefix("pipe.")]
            except BfrtError:
                raise ActionError(f"table: '{table}' is not a table of {program} (tables: {', '.join(names)})") \
                    from None
        else:
            wanted = names
        out: dict[str, Any] = {}
        for name in wanted:
            try:
                rows = client.entries(name)
            except BfrtError as exc:
                raise ActionError(f"table {name}: read failed: {exc}") from None
            out[name] = [{"key": {k: _plain(v) for k, v in e.key.items()}, "action": e.action,
                          "data": {k: _plain(v) for k, v in e.data.items()}} for e in rows]
    return {"program": program, "tables": out}


def _cells(client: BfrtClient, name: str) -> dict[int, int]:
    return {e.key_int("$COUNTER_INDEX"): e.data_int(PKTS, 0) for e in client.entries(name)}


def counters(s: SwitchSettings) -> dict[str, Any]:
    """Indirect counters (SwitchIngress.drops per named reason, the modules' counters: non-zero cells)
    and, per match-action table with direct counters, its entries' packet total."""
    with session(s) as client:
        program = _bound(client, s)
        tables = client.schema().tables
        indirect: dict[str, Any] = {}
        direct: dict[str, Any] = {}
        try:
            for full, t in sorted(tables.items()):
                name = full.removeprefix("pipe.")
                if t.table_type == "Counter":
                    cells = _cells(client, name)
                    if name == "SwitchIngress.drops":
                        indirect[name] = {DROP_REASONS.get(i, str(i)): n for i, n in sorted(cells.items()) if n}
                    else:
                        indirect[name] = {str(i): n for i, n in sorted(cells.items()) if n}
                elif t.is_match_action and any(d.name == PKTS for d in t.data):
                    rows = client.entries(name)
                    direct[name] = {"entries": len(rows), "packets": sum(e.data_int(PKTS, 0) for e in rows)}
        except BfrtError as exc:
            raise ActionError(f"switch {s.name}: counter read failed: {exc}") from None
    return {"program": program, "counters": indirect, "tables": direct}


Action = Callable[[SwitchSettings, dict[str, Any]], Any]
ACTIONS: dict[str, Action] = {
    "load-p4-program": lambda s, p: load_program(s, str(p["program"]), str(p.get("digest") or FROM_PACKAGE)),
    "apply-chain": lambda s, p: apply_chain(s, str(p["plan"])),
    "show-tables": lambda s, p: show_tables(s, p.get("table") or None),
    "counters": lambda s, p: counters(s),
}
