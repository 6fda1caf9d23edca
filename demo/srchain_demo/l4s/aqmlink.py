"""The link emulator with the discipline chosen by name (srchain_net.linkem itself knows only the FIFO):

    python -m srchain_demo.l4s.aqmlink in0 out0 --rate-mbit 12 --qdisc dualpi2 --report link.json

`--qdisc fifo` is the emulator's tail-drop FIFO (byte limit --limit-bytes); `dualpi2` the reference
DualPI2 with RFC 9332 / Linux defaults and the same shared buffer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from srchain_net import linkem
from srchain_net.qdisc import FifoTailDrop, QueueDiscipline

from .dualpi2 import DualPI2, DualPI2Params


def make_qdisc(name: str, limit_bytes: int, seed: int) -> QueueDiscipline:
    if name == "fifo":
        return FifoTailDrop(limit_bytes)
    if name == "dualpi2":
        return DualPI2(DualPI2Params(limit_bytes=limit_bytes, seed=seed))
    raise ValueError(f"--qdisc: unknown discipline {name!r} (fifo, dualpi2)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srchain_demo.l4s.aqmlink", description=__doc__.splitlines()[0])
    linkem.add_link_args(parser)
    parser.add_argument("--qdisc", default="dualpi2", help="fifo | dualpi2")
    args = parser.parse_args(argv)
    try:
        qdisc = make_qdisc(args.qdisc, args.limit_bytes, args.seed)
    except ValueError as exc:
        print(f"aqmlink: error: {exc}", file=sys.stderr)
        return 2
    return linkem.serve(args, forward_qdisc=qdisc)


if __name__ == "__main__":
    sys.exit(main())
