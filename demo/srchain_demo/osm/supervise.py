"""A stand-in VM's service manager (NOT systemd): `python -m srchain_demo.osm.supervise`.

`run --state DIR --unit U -- ARGV...` keeps one service process: it writes `DIR/U.pid` (its own pid) and
`DIR/U.gen` (a counter, then the child's pid), restarts the child on SIGHUP (SIGTERM, wait, start again, counter + 1)
and stops it on SIGTERM. A child that exits on its own ends the supervisor with the child's code, so the testbed
sees it. `systemctl [--state DIR] restart|start|status|is-active U` is the VM's `systemctl` for the charms'
`restart-command` (`systemctl restart srchain-vnf@formatter.service`): restart sends SIGHUP and waits until the
counter moved (the new process started); it does not wait for the service's health (the charm checks that)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RESTART_TIMEOUT_S = 30.0


def _start(argv: list[str], gen_file: Path, gen: int) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(argv)
    tmp = gen_file.with_suffix(".tmp")
    tmp.write_text(f"{gen} {child.pid}\n")
    tmp.replace(gen_file)
    return child


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run(state: Path, unit: str, argv: list[str]) -> int:
    state.mkdir(parents=True, exist_ok=True)
    (state / f"{unit}.pid").write_text(f"{os.getpid()}\n")
    gen_file = state / f"{unit}.gen"
    wanted: list[str] = []
    signal.signal(signal.SIGHUP, lambda *_: wanted.append("restart"))
    signal.signal(signal.SIGTERM, lambda *_: wanted.append("stop"))
    gen = 1
    child = _start(argv, gen_file, gen)
    while True:
        if "stop" in wanted:
            _stop(child)
            return 0
        if "restart" in wanted:
            wanted.clear()
            _stop(child)
            gen += 1
            child = _start(argv, gen_file, gen)
        code = child.poll()
        if code is not None and not wanted:
            return code
        time.sleep(0.05)


def _generation(state: Path, unit: str) -> str:
    try:
        return (state / f"{unit}.gen").read_text().split()[0]
    except (OSError, IndexError):
        return ""


def systemctl(state: Path, verb: str, unit: str) -> int:
    try:
        pid = int((state / f"{unit}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        print(f"Unit {unit} could not be found." if verb != "is-active" else "inactive",
              file=sys.stderr if verb != "is-active" else sys.stdout)
        return 3 if verb in ("status", "is-active") else 5
    if verb in ("status", "is-active"):
        print("active")
        return 0
    if verb not in ("restart", "start", "reload-or-restart", "try-restart"):
        print(f"this VM's systemctl stand-in does not do '{verb}'", file=sys.stderr)
        return 1
    if verb == "start":
        return 0
    before = _generation(state, unit)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while _generation(state, unit) == before:
        if time.monotonic() > deadline:
            print(f"Job for {unit} timed out.", file=sys.stderr)
            return 1
        time.sleep(0.05)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--state", type=Path, required=True)
    r.add_argument("--unit", required=True)
    r.add_argument("argv", nargs=argparse.REMAINDER)
    s = sub.add_parser("systemctl")
    s.add_argument("--state", type=Path, default=Path("/run/srchain"))
    s.add_argument("verb")
    s.add_argument("unit")
    a = ap.parse_args()
    if a.cmd == "run":
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        sys.exit(run(a.state, a.unit, argv))
    sys.exit(systemctl(a.state, a.verb, a.unit))


if __name__ == "__main__":
    main()
