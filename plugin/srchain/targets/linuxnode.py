"""A Linux SRv6 node (inventory `srv6_nodes`: an SRv6 chain's head end or tail) as an apply target: the
plan's node entries written with iproute2 (`srchain.plan.iproute2`) and read back with `ip -j`.

`ip` runs on this machine, inside the node's network namespace when the inventory names one (`netns`: labs,
the demo's testbed); a node on another machine is not reachable yet. Writes are one command at a time
(iproute2 has no batch that rolls back): a failure names its operation, and the apply engine reads back
what landed. Identity on the node is what Linux keys a route by: the head end's encap route by its
destination prefix, the tail's seg6local route by its SID; `count` on seg6local routes gives the drain its
packet counter.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

from srchain.plan.iproute2 import NotRendered, ip_args
from srchain.plan.model import DiffOp, Entry, canonical
from srchain.plan.srv6 import MAIN_TABLE, NODE_ENCAP, NODE_LOCAL
from srchain.targets.base import NKey, TargetError

_DECAP = {"End.DX4": "end.dx4", "End.DT6": "end.dt6", "End": "end"}  # seg6local actions the plans write


def _prefix(text: str) -> str:
    return str(ipaddress.ip_network(text, strict=False))


def _sid(text: str) -> str:
    return ipaddress.IPv6Address(text.split("/")[0]).compressed


class LinuxNodeDriver:
    kind = "node"

    def __init__(self, name: str, netns: str | None = None, timeout: float = 10.0) -> None:
        self.name = name
        self.netns = netns
        self.timeout = timeout

    def _ip(self, *args: str) -> str:
        argv = ["ip", *(["-n", self.netns] if self.netns else []), *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(f"node {self.name}", f"{' '.join(argv)}: {exc}", landed_unknown=True) from None
        if done.returncode != 0:
            raise TargetError(f"node {self.name}", f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def _json(self, *args: str) -> list[dict[str, Any]]:
        out = self._ip("-j", *args)
        doc = json.loads(out) if out.strip() else []
        if not isinstance(doc, list):
            raise TargetError(f"node {self.name}", f"ip -j {' '.join(args)}: not a JSON list")
        return doc

    def prepare(self, load: bool = True) -> list[str]:
        self._json("sr", "tunsrc", "show")  # iproute2 with SRv6, and the namespace exists
        return []

    def close(self) -> None:
        pass

    def norm(self, entry: Entry) -> tuple[NKey, str]:
        p = entry.params
        if entry.table == NODE_ENCAP:
            match = p.get("match")
            dst = match.get("dst", "0.0.0.0/0") if isinstance(match, dict) else "0.0.0.0/0"
            content = {"source": p.get("source"), "segments": p.get("segments"), "dev": p.get("dev")}
            if "mode" in p:  # H.Encaps.Red
                content["mode"] = p["mode"]
            return (NODE_ENCAP, _prefix(str(dst))), canonical([entry.action, content])
        if entry.table == NODE_LOCAL:
            fields = {k: p.get(k) for k in ("nh4", "table", "dev") if k in p}
            return (NODE_LOCAL, _sid(str(entry.key.get("sid")))), canonical([entry.action, fields])
        raise TargetError(f"node {self.name}", f"table {entry.table}: not a node table ({NODE_ENCAP}, {NODE_LOCAL})")

    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        out: dict[NKey, tuple[str, int | None]] = {}
        if NODE_ENCAP in tables:
            source = next((t.get("tunsrc") for t in self._json("sr", "tunsrc", "show")), None)
            for r in self._json("route", "show"):
                if r.get("encap") == "seg6" and r.get("mode") in ("encap", "encap.red"):
                    dst = "0.0.0.0/0" if r["dst"] == "default" else r["dst"]
                    content = {"source": source, "segments": r.get("segs"), "dev": r.get("dev")}
                    if r.get("mode") == "encap.red":
                        content["mode"] = "encap.red"
                    out[(NODE_ENCAP, _prefix(dst))] = (canonical(["h.encaps", content]), None)
        if NODE_LOCAL in tables:
            for r in self._json("-s", "-6", "route", "show"):
                action = _DECAP.get(str(r.get("action")))
                if r.get("encap") != "seg6local" or action is None:
                    continue
                fields: dict[str, Any] = {}
                if action == "end.dx4":
                    fields["nh4"] = r.get("nh4")
                elif action == "end.dt6":
                    fields["table"] = MAIN_TABLE if r.get("table") in ("main", MAIN_TABLE, str(MAIN_TABLE)) else r.get(
                        "table")
                fields["dev"] = r.get("dev")
                rx = r.get("stats64", {}).get("packets")
                out[(NODE_LOCAL, _sid(r["dst"]))] = (canonical([action, fields]), rx if isinstance(rx, int) else None)
        return out

    def write(self, ops: list[DiffOp]) -> None:
        for i, op in enumerate(ops):
            try:
                if op.op == "delete":
                    (table, key), _ = self.norm(op.entry)
                    if table == NODE_ENCAP:
                        self._ip("route", "del", str(key))
                    else:
                        self._ip("-6", "route", "del", f"{key}/128")
                    continue
                for args in ip_args(op.entry, replace=op.op == "modify"):
                    self._ip(*args)
            except NotRendered as exc:
                raise TargetError(f"node {self.name}", str(exc), index=i) from None
            except TargetError as exc:
                raise TargetError(f"node {self.name}", exc.message, i, exc.code, exc.landed_unknown) from None
