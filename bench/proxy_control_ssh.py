"""The controller's control-API requests to an SR proxy reached over SSH (inventory `ssh`; docs/controller.md, "A
proxy on another machine"): one helper on the VM for a driver's requests (`srchain.remote.HttpSession`, what the
proxy driver uses) against one SSH exec and one `python3` start per request (`SshTransport.http`, the baseline, what
the driver did before). Both in the same run, the same SSH connection, the same server: the stand-in VM's SSH server
(`srchain_demo.osm.vmssh`, paramiko, each exec through `bash -c`) in this process, and a stdlib HTTP server on a unix
socket that answers `GET /v1/health` with the bearer-token check the proxy makes (the control API's cost is not what
is measured). Prints ms per request for each, and the ratio.

    .venv/bin/python bench/proxy_control_ssh.py --requests 30 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import paramiko

from srchain.charms import sshkeys
from srchain.remote import SshTransport
from srchain_demo.osm.vmssh import VmServer

TOKEN = "bench-token-0123456789abcdef"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server calls it by this name
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        body = json.dumps({"status": "ok"} if ok else {"error": "token"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


class _UnixHTTPServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=30, help="requests per measurement (bounded: at most 500)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # the server side's "connection reset" at close
    n = max(1, min(a.requests, 500))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        (root / "bin" / "sudo").write_text('#!/bin/sh\n[ "$1" = -n ] && shift\n[ "$1" = -- ] && shift\nexec "$@"\n')
        (root / "bin" / "sudo").chmod(0o755)
        (root / "bin" / "python3").symlink_to(sys.executable)
        token_file = root / "proxy.token"
        token_file.write_text(TOKEN)
        sock = root / "proxy.sock"
        http = _UnixHTTPServer(str(sock), _Health)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        host_key = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(sshkeys.generate("vm")[0]))
        private, public = sshkeys.generate("bench")
        (root / "authorized_keys").write_text(public + "\n")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        server = VmServer(listener, root, host_key, root / "authorized_keys", "srchain")
        threading.Thread(target=server.serve, daemon=True).start()
        t = SshTransport("127.0.0.1", "srchain", f"{host_key.get_name()} {host_key.get_base64()}", private,
                         listener.getsockname()[1])
        address = f"unix:{sock}"
        try:
            t.connect()
            per_exec: list[float] = []
            per_session: list[float] = []
            for _ in range(a.repeat):
                started = time.perf_counter()
                for _ in range(n):
                    assert t.http(address, "GET", "/v1/health", token_file=str(token_file))[0] == 200
                per_exec.append((time.perf_counter() - started) / n * 1000)
                session = t.http_session(address, token_file=str(token_file))
                started = time.perf_counter()
                for _ in range(n):
                    assert session.call("GET", "/v1/health")[0] == 200
                per_session.append((time.perf_counter() - started) / n * 1000)
                session.close()
        finally:
            t.close()
            http.shutdown()
    base, new = statistics.median(per_exec), statistics.median(per_session)
    print(f"{n} GET /v1/health over SSH (token file read on the VM), median of {a.repeat}:")
    print(f"  one exec a request (baseline):  {base:8.1f} ms/request   runs: {', '.join(f'{x:.1f}' for x in per_exec)}")
    print(f"  one session (HttpSession):      {new:8.1f} ms/request   runs: "
          f"{', '.join(f'{x:.1f}' for x in per_session)}  (its helper's start included)")
    print(f"  ratio: {base / new:.1f}x fewer ms per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
