"""The control API's HTTP server and JSON bounds in-process (no namespace): the connection limit's 503,
Expect: 100-continue judged on the head, keep-alive and pipelining, and strictjson's limits.
The daemon under abuse: test_proxy_api_abuse.py."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain_proxy import strictjson
from srchain_proxy.httpserver import ControlServer, Limits, Reply, start_in_thread
from waiting import wait_until

TOKEN = b"server-test-token-0123456789"
AUTH = b"Authorization: Bearer " + TOKEN + b"\r\n"


class Served:
    def __init__(self, path: Path, server: ControlServer, thread: threading.Thread) -> None:
        self.path, self.server, self.thread = path, server, thread
        self.bodies: list[bytes] = []

    def connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(self.path))
        return s


@contextlib.contextmanager
def serving(tmp_path: Path, limits: Limits) -> Iterator[Served]:
    path = tmp_path / "api.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    box: list[Served] = []

    def handler(method: str, target: str, body: bytes) -> Reply:
        box[0].bodies.append(body)
        return Reply(200, json.dumps({"method": method, "path": target, "length": len(body)}).encode())

    server = ControlServer(sock, TOKEN, handler, limits)
    box.append(Served(path, server, start_in_thread(server)))
    try:
        yield box[0]
    finally:
        server.shutdown()
        box[0].thread.join(5)
        server.server_close()
    assert not box[0].thread.is_alive()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, Limits(timeout_s=2.0, max_connections=3)) as s:
        yield s


def answer(sock: socket.socket, timeout: float = 3.0) -> tuple[int, dict[str, str], object]:
    sock.settimeout(timeout)
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())


def test_one_connection_over_the_limit_gets_a_clean_503(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    held = [served.connect() for _ in range(3)]  # the limit: 3 open at once
    try:
        for s in held:  # each is being served (waiting for its head)
            s.sendall(b"GET /v1/health HTTP/1.1\r\n")
        with caplog.at_level(logging.WARNING, "srchain_proxy.httpserver"), served.connect() as extra:
            extra.sendall(b"GET /v1/health HTTP/1.1\r\nHost: p\r\n" + AUTH + b"\r\n")
            status, headers, doc = answer(extra)
        assert (status, headers["retry-after"], headers["connection"]) == (503, "1", "close")
        assert doc == {"error": "busy: 3 connections open, try again"}
        assert [r.getMessage() for r in caplog.records if r.name.startswith("srchain_proxy")] == [
            f"api: 1 connection(s) refused (latest: pid {os.getpid()} uid {os.getuid()}): 3 open, the limit"]
    finally:
        for s in held:
            s.close()
    with served.connect() as again:  # the held ones are gone: served again
        again.sendall(b"GET /v1/health HTTP/1.1\r\nHost: p\r\n" + AUTH + b"\r\n")
        assert answer(again)[0] == 200


def test_bodies_held_at_once_are_bounded(tmp_path: Path) -> None:
    with serving(tmp_path, Limits(timeout_s=2.0, max_body_bytes_in_flight=100)) as served, \
            served.connect() as slow, served.connect() as other:
        slow.sendall(b"PUT /v1/a HTTP/1.1\r\nHost: p\r\n" + AUTH + b"Content-Length: 80\r\n\r\n" + b"x" * 10)
        wait_until(lambda: served.server.body_bytes == 80, timeout=2, what="the slow body is being read")
        other.sendall(b"PUT /v1/b HTTP/1.1\r\nHost: p\r\n" + AUTH + b"Content-Length: 30\r\n\r\n" + b"y" * 30)
        status, headers, doc = answer(other)
        assert (status, headers["retry-after"], doc) == (503, "1", {
            "error": "busy: 80 bytes of request bodies in flight, try again"})
        with served.connect() as small:
            small.sendall(b"PUT /v1/c HTTP/1.1\r\nHost: p\r\n" + AUTH + b"Content-Length: 20\r\n\r\n" + b"z" * 20)
            assert answer(small)[0] == 200
        slow.sendall(b"x" * 70)
        assert answer(slow)[2] == {"method": "PUT", "path": "/v1/a", "length": 80}
        assert served.server.body_bytes == 0
    assert served.bodies == [b"z" * 20, b"x" * 80]


def test_expect_100_continue_is_answered_only_for_an_authorised_head(served: Served) -> None:
    head = b"PUT /v1/sids/16001 HTTP/1.1\r\nHost: p\r\nContent-Length: 7\r\nExpect: 100-continue\r\n"
    with served.connect() as s:  # curl's way with a large body: the head, then wait for 100 Continue
        s.sendall(head + b"\r\n")
        status, _, doc = answer(s)
        assert (status, doc) == (401, {"error": "missing or wrong bearer token"})
    with served.connect() as s:
        s.sendall(head + AUTH + b"\r\n")
        s.settimeout(3)
        assert s.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b'{"a":1}')
        status, _, doc = answer(s)
        assert (status, doc) == (200, {"method": "PUT", "path": "/v1/sids/16001", "length": 7})
    assert served.bodies == [b'{"a":1}']  # the refused request's handler never ran


class _OneBuffer:
    """A connection whose answers come back to back: http.client reads each answer through sock.makefile(), and a
    second buffered reader would miss what the first one's buffer already took (the next answer), so every answer
    is read through one reader, which an answer's close() must not close."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.reader = sock, sock.makefile("rb")

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def makefile(self, mode: str) -> _OneBuffer:
        return self

    def __getattr__(self, name: str) -> object:  # readline, read, readinto, ... of the one reader
        return getattr(self.reader, name)

    def close(self) -> None:
        pass


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served: Served) -> None:
    one = b"PUT /v1/a?x=1 HTTP/1.1\r\nHost: p\r\n" + AUTH + b"Content-Length: 3\r\n\r\nabc"
    two = b"GET /v1/b HTTP/1.1\r\nHost: p\r\n" + AUTH + b"\r\n"
    with served.connect() as s:
        conn = _OneBuffer(s)
        s.sendall(one + two)
        assert answer(conn)[2] == {"method": "PUT", "path": "/v1/a", "length": 3}  # type: ignore[arg-type]
        assert answer(conn)[2] == {"method": "GET", "path": "/v1/b", "length": 0}  # type: ignore[arg-type]
        s.sendall(two)  # the same connection, again
        assert answer(conn)[0] == 200  # type: ignore[arg-type]
        s.settimeout(3)
        assert s.recv(1) == b""  # idle past the timeout: closed without a word (no 408 to a kept-alive client)


@pytest.mark.parametrize(("body", "value"), [
    (b"", None),
    (b' {"a": [1, -2, 3.5, "x[{", true, null]} ', {"a": [1, -2, 3.5, "x[{", True, None]}),
    (b"[" * 32 + b"]" * 32, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    (b'"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', '"' + "[" * 34),  # brackets in a string are no nesting
    (b"-" + b"9" * 20, -int("9" * 20)),
])
def test_bounded_json_accepts(body: bytes, value: object) -> None:
    assert strictjson.loads(body) == value


@pytest.mark.parametrize(("body", "error"), [
    (b"[" * 33 + b"]" * 33, "body: nested deeper than 32 levels"),
    (b'{"a": ' * 40_000, "body: nested deeper than 32 levels"),
    (b"[" * 4_000_000, "body: nested deeper than 32 levels"),
    (b"[" + b"[]," * 100_000 + b"[" * 40 + b"]" * 41, "body: nested deeper than 32 levels"),
    (b"]" + b"[" * 40, "body: invalid JSON (Expecting value at line 1 column 1)"),  # not JSON before it is deep
    (b"1" * 21, "body: integer of 21 digits (at most 20)"),
    (b"-" + b"1" * 4301, "body: integer of 4301 digits (at most 20)"),
    (b"1." + b"5" * 40, "body: number of 42 characters (at most 32)"),
    (b"[Infinity]", "body: Infinity is not JSON"),
    (b'"\xc3\x28"', "body: not UTF-8 (byte 0xc3 at offset 1)"),
    (b"\xff\xfe{\x00}\x00", "body: not UTF-8 (byte 0xff at offset 0)"),  # UTF-16: json.loads would take it
    (b'"' + b"\\\\" * 100_000, "body: invalid JSON (Unterminated string starting at at line 1 column 1)"),
])
def test_bounded_json_refuses(body: bytes, error: str) -> None:
    with pytest.raises(strictjson.JsonRefused) as refused:
        strictjson.loads(body)
    assert str(refused.value) == error


def _depth_json_would_reach(text: bytes) -> int:
    """The reference: the running depth up to the first closing bracket too many (json stops there)."""
    depth = deepest = 0
    for ch in text:
        depth += {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(ch, 0)
        if depth < 0:
            break
        deepest = max(deepest, depth)
    return deepest


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b"[]", b"1,"]), max_size=200), st.integers(0, 40))
def test_the_depth_check_matches_the_running_depth(parts: list[bytes], extra: int) -> None:
    text = b"[" * extra + b"".join(parts) + b"]" * extra
    try:
        strictjson._check_depth(text)
        refused = False
    except strictjson.JsonRefused:
        refused = True
    assert refused == (_depth_json_would_reach(text) > strictjson.MAX_DEPTH)
