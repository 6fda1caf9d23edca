"""Packet traces, in the spirit of tofino-model's log: what each packet did in the pipeline, as stable text.

A program compiled with tracing (Pipeline(..., tracer=Tracer(...))) reports, for each packet the filter selects,
one block of lines (docs/emulator.md "Packet traces" documents the format):

    packet 3 ingress port 0 len 60
      parser SwitchIngressParser.start
      parser SwitchIngressParser.parse_ethernet
      stage 0 table SwitchIngress.forward hit key hdr.ethernet.dst_addr=0x020000000002
        action SwitchIngress.hit port=2
        write ig_intr_md_for_tm.ucast_egress_port = 0x2
      result to port 2 qid 0, 60 bytes: 020000000002...

Stages are the target model's placement (the same estimate `srchain p4 check --resources` prints; "stage -" where
the program was loaded without a target model). Tracing costs only when compiled in: without a tracer the
generated code has no trace calls at all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HEX_BYTES = 64  # bytes of a frame shown in hex (then "...")


@dataclass
class TraceFilter:
    """Which packets to trace: `port=N` (ingress port, or egress port for egress), `gress=ingress|egress`,
    `max=N` (stop after N packets), `match=OFFSET:HEX` (frame bytes at OFFSET equal HEX); comma-separated, all
    must hold. Empty: every packet."""

    ports: set[int] = field(default_factory=set)
    gress: str | None = None
    max_packets: int | None = None
    match: tuple[int, bytes] | None = None

    @classmethod
    def parse(cls, text: str) -> TraceFilter:
        f = cls()
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            try:
                if not sep:
                    raise ValueError("expected NAME=VALUE")
                if name in ("port", "max"):
                    try:
                        n = int(value, 0)
                    except ValueError:
                        raise ValueError(f"{name} takes an integer") from None
                    if name == "port":
                        f.ports.add(n)
                    else:
                        f.max_packets = n
                elif name == "gress":
                    if value not in ("ingress", "egress"):
                        raise ValueError("gress is ingress or egress")
                    f.gress = value
                elif name == "match":
                    off, colon, hexbytes = value.partition(":")
                    try:
                        if not colon:
                            raise ValueError
                        f.match = (int(off, 0), bytes.fromhex(hexbytes))
                    except ValueError:
                        raise ValueError("match takes OFFSET:HEX") from None
                else:
                    raise ValueError(f"unknown name {name!r}")
            except ValueError as exc:
                raise ValueError(f"trace filter '{part}': {exc} (port=N, gress=ingress|egress, max=N, "
                                 "match=OFFSET:HEX)") from None
        return f

    def selects(self, gress: str, port: int, frame: bytes) -> bool:
        if self.gress is not None and gress != self.gress:
            return False
        if self.ports and port not in self.ports:
            return False
        if self.match is not None:
            off, want = self.match
            return frame[off:off + len(want)] == want
        return True


def hexdump(data: bytes) -> str:
    return data[:HEX_BYTES].hex() + ("..." if len(data) > HEX_BYTES else "")


class Tracer:
    def __init__(self, sink: Callable[[str], None] | None = None, filt: TraceFilter | None = None) -> None:
        self.sink = sink or (lambda text: print(text, file=sys.stderr, flush=True))
        self.filter = filt or TraceFilter()
        self.stages: dict[str, int] = {}  # table (qualified name) -> stage, filled in at compile time
        self.on = False  # the current packet is traced (read by the generated code)
        self.packets = 0  # packets traced
        self.lines: list[str] = []

    # ---- per packet, from the pipeline
    def begin(self, gress: str, port: int, frame: bytes) -> None:
        f = self.filter
        self.on = (f.max_packets is None or self.packets < f.max_packets) and f.selects(gress, port, frame)
        if self.on:
            self.packets += 1
            self.lines = [f"packet {self.packets} {gress} port {port} len {len(frame)}"]

    def finish(self, outcome: str) -> None:
        if self.on:
            self.lines.append(f"  {outcome}")
            self.sink("\n".join(self.lines))
            self.on = False

    # ---- from the generated code (only while self.on)
    def state(self, name: str) -> None:
        self.lines.append(f"  parser {name}")

    def table(self, name: str, keys: tuple[str, ...], key: tuple[Any, ...], entry: Any) -> None:
        stage = self.stages.get(name)
        where = f"stage {stage}" if stage is not None else "stage -"
        shown = " ".join(f"{k}={_value(v)}" for k, v in zip(keys, key, strict=False))
        self.lines.append(f"  {where} table {name} {'hit' if entry.hit else 'miss'}"
                          + (f" key {shown}" if shown else ""))
        args = " ".join(f"{pname}={_value(a)}" for (pname, _), a in zip(entry.action.params, entry.args,
                                                                          strict=False))
        self.lines.append(f"    action {entry.action.name}" + (f" {args}" if args else ""))

    def write(self, target: str, value: Any) -> None:
        self.lines.append(f"    write {target} = {_value(value)}")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return hex(v)
    return str(v)
