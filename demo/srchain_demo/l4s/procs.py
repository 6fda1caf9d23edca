"""Python modules run as processes inside a namespace (`ip netns exec`), each printing "ready" once it has
its sockets, stopped with SIGTERM and bounded by timeouts everywhere."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time


class NsProcess:
    def __init__(self, ns: str, module: str, *args: str) -> None:
        self.what = f"{module} in {ns}"
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", module, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until the process printed "ready"; RuntimeError with its stderr if it exits or stalls."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.strip() == "ready":
                    return
                if not line:
                    break
        self.stop(2.0)
        raise RuntimeError(f"{self.what} did not get ready: {self.stderr()}")

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().strip()[-2000:]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after timeout; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.stop(5)
