"""L4S harness (issue 18): a classic TCP (Cubic, Not-ECT) and a scalable UDP flow (ECT(1), DCTCP/Prague-style
controller) through a 12 Mbit/s bottleneck and a 5 ms delay line, per bottleneck, side by side.

    sudo .venv/bin/python bench/l4s.py [--bottleneck fifo --bottleneck dualpi2-ref] [--seconds 30] [--runs 3]

Bottlenecks (srchain_demo.l4s.bottleneck): fifo (kernel tbf + bfifo on a bridge: no AQM), dualpi2-ref
(link emulator + reference DualPI2), kernel-dualpi2 (only where `tc … dualpi2` works; else "absent"),
fifo-emu (the emulator's own FIFO: a cross-check of the emulator against tbf). Baseline, same run: fifo
is the no-AQM case every AQM is compared with. Results JSON and plots go to results/l4s/<time>/;
docs/l4s.md says what each number means.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srchain_demo.l4s.bottleneck import BUILDERS
from srchain_demo.l4s.compare import DEFAULT_BOTTLENECKS, compare
from srchain_demo.l4s.harness import Setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bottleneck", action="append", choices=sorted(BUILDERS),
                        help=f"repeatable; default: {', '.join(DEFAULT_BOTTLENECKS)}")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--web", action="store_true", help="classic flow: web-like objects instead of bulk")
    parser.add_argument("--out", type=Path, default=Path("results/l4s"))
    args = parser.parse_args()
    if not 3 <= args.seconds <= 120 or not 1 <= args.runs <= 10:
        print("error: --seconds must be within 3..120 and --runs within 1..10", file=sys.stderr)
        return 2
    compare(args.bottleneck or list(DEFAULT_BOTTLENECKS), Setup(seconds=args.seconds, web=args.web), args.runs,
            args.out, echo=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
