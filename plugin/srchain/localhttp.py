"""HTTP to a local control API: `unix:/path` or `host:port` (the proxy's and the VNFs' address forms)."""

from __future__ import annotations

import http.client
import socket


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
