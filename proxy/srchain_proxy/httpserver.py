"""The control API's HTTP/1.1 server: h11 parses, one asyncio thread does the I/O, a few threads answer.

h11 is sans-IO: it parses what it is given and nothing is read unless this module reads it. That is
what lets a request be judged on its head alone: the bearer token, then the body's framing (a
Content-Length, at most `max_body`) are checked before one byte of the body is taken from the socket;
a refused request gets its answer and the connection is closed. Every phase has a deadline (the head,
the body, sending the answer), so a client that stalls costs a coroutine for `timeout_s`, never a thread.
Open connections are bounded (`max_connections`, beyond it a 503 at once; as many again being refused,
beyond that new ones wait in the listen backlog), and so are the bodies held at once. Why h11 rather
than an ASGI server, and the limits: docs/proxy.md ("Limits").
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import resource
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import h11

log = logging.getLogger(__name__)

READ_CHUNK = 64 << 10
# After an error answer to a request whose body was not read: drop what the client still sends, for this
# long and up to this much, so its write does not fail before it reads the answer; then close.
LINGER_S = 1.0
LINGER_BYTES = 64 << 10


@dataclass(frozen=True)
class Limits:
    max_body: int = 4 << 20
    max_head: int = 16 << 10  # request line + headers
    timeout_s: float = 10.0  # each: the request head, the body, sending the answer
    backlog: int = 1024  # a burst of connects waits in the kernel instead of being refused
    max_connections: int = 256  # open at once; one more gets a 503 (and fewer than the default 1024 fds)
    threads: int = 4  # answering requests (state changes serialise on the daemon's lock anyway)
    max_body_bytes_in_flight: int = 32 << 20  # all connections' bodies being read or handled, together


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


# (method, path without the query, body) -> the answer; runs on one of the server's threads
Handler = Callable[[str, str, bytes], Reply]


class ClientGone(Exception):
    """The client hung up or stopped taking the answer; the message says when, for one log line."""


def error_body(message: str) -> bytes:
    return json.dumps({"error": " ".join(message.split())}).encode() + b"\n"  # one line, whatever it holds


class ControlServer:
    """Serves `handler` on a bound socket (unix or TCP) with a bearer token, until shutdown()."""

    def __init__(self, sock: socket.socket, token: bytes, handler: Handler, limits: Limits | None = None) -> None:
        self.sock = sock
        self.token = token
        self.handler = handler
        self.limits = limits or Limits()
        self.max_connections = _fit_fd_limit(self.limits.max_connections)
        self.open = 0  # connections being served (the ones refused with a 503 are not)
        self.body_bytes = 0  # the Content-Lengths of the bodies being read or handled now
        self._refused = 0
        self._refusal_logged = -1.0
        self.pool = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="srchain-proxy-api")
        self._stop_requested = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        sock.listen(self.limits.backlog)
        sock.setblocking(False)

    def serve_forever(self) -> None:
        asyncio.run(self._serve())

    def shutdown(self) -> None:
        """Stop serve_forever (from another thread or a signal handler); it returns soon after."""
        self._stop_requested = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(wake.set)

    def server_close(self) -> None:
        self.sock.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_log_loop_error)
        if self._stop_requested:
            return
        clients: set[asyncio.Task[None]] = set()
        accepting = asyncio.create_task(self._accept(clients))
        await self._wake.wait()
        accepting.cancel()
        for task in clients:
            task.cancel()
        await asyncio.gather(accepting, *clients, return_exceptions=True)

    async def _accept(self, clients: set[asyncio.Task[None]]) -> None:
        """One connection at a time, and only while a file descriptor is budgeted for it: the served ones
        and as many being refused (503) or lingering. Past that, a burst waits in the listen backlog."""
        slots = asyncio.Semaphore(2 * self.max_connections)
        loop = asyncio.get_running_loop()

        def finished(task: asyncio.Task[None]) -> None:
            clients.discard(task)
            slots.release()

        while True:
            await slots.acquire()
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:  # out of file descriptors after all (something else took them)
                slots.release()
                log.warning("api: accept failed (%s); trying again in 1 s", exc.strerror or exc)
                await asyncio.sleep(1)
                continue
            task = asyncio.create_task(self._client(conn))
            clients.add(task)
            task.add_done_callback(finished)

    async def _client(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=self.limits.max_head)
        except OSError:
            conn.close()
            return
        client = _Client(self, reader, writer)
        try:
            if self.open >= self.max_connections:
                await client.refuse_busy()
                return
            self.open += 1
            try:
                await client.serve()
            finally:
                self.open -= 1
        except ClientGone as exc:
            log.info("api: %s %s", client.peer, exc)
        except Exception:  # a bug here must not take the server down; the connection goes
            log.exception("api: %s: connection failed", client.peer)
        finally:
            writer.close()

    def note_refusal(self, peer: str) -> None:
        """One WARNING a second at most for refusals at the connection limit: a flood must not flood the log."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= 1.0:
            log.warning("api: %d connection(s) refused (latest: %s): %d open, the limit", self._refused, peer,
                        self.open)
            self._refused, self._refusal_logged = 0, now

    def authorised(self, request: h11.Request) -> bool:
        values = [v for name, v in request.headers if name == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, token = values[0].partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.token)


class _Client:
    """One connection: requests one after the other (keep-alive), each within the limits."""

    def __init__(self, server: ControlServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.limits = server.limits
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head)
        self.peer = _describe_peer(writer.get_extra_info("socket"))
        self.loop = asyncio.get_running_loop()
        self.received = 0  # bytes of the current request so far
        self.eof = False
        self.served = 0

    async def serve(self) -> None:
        while await self._one_request():
            self.served += 1
            self.conn.start_next_cycle()

    async def refuse_busy(self) -> None:
        self.server.note_refusal(self.peer)
        await self._answer_and_close(503, f"busy: {self.server.open} connections open, try again",
                                     [(b"Retry-After", b"1")])

    async def _one_request(self) -> bool:
        """Read, judge and answer one request; True when the connection stays open for the next one."""
        timeout = self.limits.timeout_s
        self.received = len(self.conn.trailing_data[0])  # what the last request's reads took of this one
        try:
            event = await self._next_event(self.loop.time() + timeout)
        except TimeoutError:
            if self.received == 0 and self.served:
                return False  # an idle kept-alive connection: closed without a word
            log.info("api: %s sent no complete request head within %g s: closed", self.peer, timeout)
            await self._answer_and_close(408, f"request head: not complete within {timeout:g} s")
            return False
        except h11.RemoteProtocolError as exc:
            if self.eof:
                raise ClientGone("hung up in the middle of a request head") from None
            status = exc.error_status_hint
            why = f"longer than {self.limits.max_head} bytes" if status == 431 else str(exc)  # h11: "buffer"
            log.debug("api: %s: %d request head: %s", self.peer, status, why)
            await self._answer_and_close(status, f"request head: {why}")
            return False
        if isinstance(event, h11.ConnectionClosed):
            return False
        assert isinstance(event, h11.Request), event  # h11: the first event of a request is its head
        method, path = event.method.decode("ascii"), event.target.decode("ascii").split("?", 1)[0]
        what = f"{method} {path}"
        refusal = self._judge_head(event)
        if refusal is not None:
            status, message, headers = refusal
            log.debug("api: %s %s: %d %s", self.peer, what, status, message)
            await self._answer_and_close(status, message, headers)
            return False
        length = _content_length(event)
        self.server.body_bytes += length  # held until the answer is computed
        try:
            if self.conn.they_are_waiting_for_100_continue:
                await self._send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"), what)
            try:
                body = await self._read_body(length, self.loop.time() + timeout)
            except TimeoutError:
                log.info("api: %s %s: body not complete within %g s: closed", self.peer, what, timeout)
                await self._answer_and_close(408, f"request body: not complete within {timeout:g} s")
                return False
            except h11.RemoteProtocolError as exc:
                if self.eof:
                    raise ClientGone(f"hung up in the middle of the body of {what}") from None
                await self._answer_and_close(exc.error_status_hint, f"request body: {exc}")
                return False
            reply = await self.loop.run_in_executor(self.server.pool, self.server.handler, method, path, body)
        finally:
            self.server.body_bytes -= length
        log.debug("api: %s %s: %d", self.peer, what, reply.status)
        await self._respond(reply.status, reply.body, reply.content_type, [], what)
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def _judge_head(self, request: h11.Request) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """Refuse on the head alone: token first, then the body's framing. None: read the body."""
        if not self.server.authorised(request):
            return 401, "missing or wrong bearer token", [(b"WWW-Authenticate", b'Bearer realm="srchain-proxy"')]
        headers = dict(request.headers)  # h11 lowercases the names and refuses conflicting Content-Lengths
        if b"transfer-encoding" in headers:
            return 411, "request body: give a Content-Length (no Transfer-Encoding)", []
        if b"content-length" not in headers:
            if request.method in (b"PUT", b"POST"):
                return 411, f"request body: {request.method.decode()} needs a Content-Length", []
            return None
        if (length := _content_length(request)) > self.limits.max_body:
            return 413, f"request body: {length} bytes, at most {self.limits.max_body}", []
        if self.server.body_bytes + length > self.limits.max_body_bytes_in_flight:
            return 503, f"busy: {self.server.body_bytes} bytes of request bodies in flight, try again", \
                [(b"Retry-After", b"1")]
        return None

    async def _next_event(self, deadline: float, body_left: int | None = None) -> h11.Event | type[h11.PAUSED]:
        """The next h11 event, reading no further than needed: for a head at most max_head + 1 bytes (so h11
        sees an over-long head as one, 431, even when it arrives at once), for a body what is left of it."""
        async with asyncio.timeout_at(deadline):
            while True:
                event = self.conn.next_event()
                if event is not h11.NEED_DATA:
                    return cast("h11.Event | type[h11.PAUSED]", event)  # `is not` does not narrow a type[]
                wanted = self.limits.max_head + 1 - self.received if body_left is None else body_left
                data = await self._read(max(1, min(READ_CHUNK, wanted)))
                self.received += len(data)
                self.conn.receive_data(data)

    async def _read_body(self, length: int, deadline: float) -> bytes:
        body = bytearray()
        while True:
            event = await self._next_event(deadline, body_left=length - len(body))
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:  # h11 yields only Data then EndOfMessage for a request body
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")

    async def _read(self, size: int) -> bytes:
        try:
            data = await self.reader.read(size)
        except ConnectionError:
            raise ClientGone("hung up (connection reset) while sending a request") from None
        self.eof = not data
        return data

    async def _respond(self, status: int, body: bytes, ctype: str, headers: list[tuple[bytes, bytes]],
                       what: str) -> None:
        head = [(b"Content-Type", ctype.encode()), (b"Content-Length", str(len(body)).encode()), *headers]
        reason = HTTPStatus(status).phrase.encode()
        await self._send(h11.Response(status_code=status, headers=head, reason=reason), what)
        await self._send(h11.Data(data=body), what)
        await self._send(h11.EndOfMessage(), what)

    async def _send(self, event: h11.Event, what: str) -> None:
        data = self.conn.send(event)
        if not data:
            return
        try:
            self.writer.write(data)
            async with asyncio.timeout(self.limits.timeout_s):
                await self.writer.drain()
        except ConnectionError:
            raise ClientGone(f"hung up before the answer to {what} was sent") from None
        except TimeoutError:
            raise ClientGone(f"took no answer to {what} within {self.limits.timeout_s:g} s: closed") from None

    async def _answer_and_close(self, status: int, message: str,
                                headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """An error answer, then the connection closes; what the client still sends is dropped (bounded)."""
        try:
            await self._respond(status, error_body(message), "application/json",
                                [(b"Connection", b"close"), *(headers or [])], f"a refused request ({status})")
        except h11.LocalProtocolError:  # h11 cannot frame an answer in this state: just close
            return
        await self._linger()

    async def _linger(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            if self.writer.can_write_eof():
                self.writer.write_eof()
            dropped = 0
            async with asyncio.timeout(LINGER_S):
                while dropped < LINGER_BYTES:
                    data = await self.reader.read(READ_CHUNK)
                    if not data:
                        break
                    dropped += len(data)


FD_RESERVE = 256  # the daemon's own descriptors: packet sockets and rings, the state file, workers' pipes


def _fit_fd_limit(wanted: int) -> int:
    """Connections the process's descriptor limit allows: twice (served + refused or lingering) plus the
    daemon's own must fit, else asyncio would fail accept() with EMFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or 2 * wanted + FD_RESERVE <= soft:
        return wanted
    fitted = max(4, (soft - FD_RESERVE) // 2)
    log.warning("api: serving %d connections at once, not %d: the file descriptor limit is %d (ulimit -n)",
                fitted, wanted, soft)
    return fitted


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's own troubles (e.g. accept() out of file descriptors: it retries in a second) in one line;
    errors of this module's code are caught and logged where they happen."""
    log.warning("api: %s: %r", context.get("message", "event loop error"), context.get("exception"))


def _content_length(request: h11.Request) -> int:
    """The declared body length (0 without one); h11 has checked it is 1 to 20 digits, one value."""
    return next((int(v) for name, v in request.headers if name == b"content-length"), 0)


_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def _describe_peer(sock: socket.socket | None) -> str:
    """`pid P uid U` on a unix socket (who is calling), `host:port` on TCP."""
    if sock is None:
        return "client"
    try:
        if sock.family == socket.AF_UNIX:
            pid, uid, _gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            return f"pid {pid} uid {uid}"
        host, port = sock.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "client"


def start_in_thread(server: ControlServer) -> threading.Thread:
    """serve_forever on a daemon thread (tests, embedding)."""
    thread = threading.Thread(target=server.serve_forever, name="srchain-proxy-api", daemon=True)
    thread.start()
    return thread
