"""HTTP to a local control API: `unix:/path` or `host:port` (the proxy's and the VNFs' address forms)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def connection(address: str, timeout: float) -> http.client.HTTPConnection:
    """A connection (not yet opened) to `unix:/path` or `host:port` (`[v6]:port` too)."""
    if address.startswith("unix:"):
        return UnixHTTPConnection(address[len("unix:"):], timeout)
    host, port = address.rsplit(":", 1)
    return http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)


def request_json(address: str, method: str, path: str, body: Any = None, token: str | None = None,
                 timeout: float = 5.0) -> tuple[int, str, Any]:
    """One JSON request with an optional bearer token: (status, reason, parsed body; a non-JSON body becomes
    {"error": its first 200 bytes}). Connection failures raise OSError / http.client.HTTPException."""
    conn = connection(address, timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {"error": raw[:200].decode(errors="replace")}
    return resp.status, resp.reason, doc
