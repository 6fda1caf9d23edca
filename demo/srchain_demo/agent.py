"""Traffic agent run inside a host namespace by the demo (`python -m srchain_demo.agent …`).

`peer`   one endpoint of a session: records every probe that arrives (per-packet one-way delay, kernel
         receive timestamps, JSON) and optionally sends its direction of a trafficgen profile from the
         same socket, so both directions of the session share one 5-tuple;
`blast`  constant-rate UDP (the background load that congests the shaped port);
`stacks` captures the MPLS frames arriving on one interface and records, per probe of one UDP port, the
         label stack it carried (the day-2 test's proof that no packet mixed two chain versions).

Every packet's payload starts with the trafficgen probe (stream, seq, send time). All loops are bounded
by a duration and a packet count; the demo only points them at addresses inside its own namespaces.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import click

from srchain_contracts.records import U48_MAX, Probe, RecordError, delta48
from srchain_net.packetsock import ETH_P_ALL, PACKET_OUTGOING, PACKET_STATISTICS, SOL_PACKET

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RXQ_OVFL = 40  # ancillary data: datagrams the kernel dropped on this socket so far (buffer full)
SO_RCVBUFFORCE = 33
MAX_SECONDS = 600.0


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _wait_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


@click.group()
def agent() -> None:
    """Demo traffic agent (runs inside a namespace)."""


@agent.command()
@click.option("--to", "dest", required=True)
@click.option("--src", required=True)
@click.option("--stream", type=int, required=True)
@click.option("--rate-pps", type=click.FloatRange(1, 200_000), required=True)
@click.option("--size", type=click.IntRange(64, 1472), default=1372, help="UDP payload bytes")
@click.option("--start-at", type=float, default=0.0)
@click.option("--duration", type=click.FloatRange(0.1, MAX_SECONDS), default=10.0)
def blast(dest: str, src: str, stream: int, rate_pps: float, size: int, start_at: float, duration: float) -> None:
    """Constant-rate UDP, paced per millisecond tick."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind(_addr(src))
    to = _addr(dest)
    total = int(rate_pps * duration)
    _wait_until(start_at)
    t0 = time.monotonic()
    sent = errors = 0
    while sent < total:
        now = time.monotonic()
        if now - t0 > duration + 1:
            break
        due = min(total, int((now - t0) * rate_pps) + 1)
        while sent < due:
            try:
                sock.sendto(Probe(stream, sent, time.time_ns() & U48_MAX).pack(size), to)
            except OSError:  # buffer full: counted, the seq is still used (shows as loss)
                errors += 1
            sent += 1
        time.sleep(0.001)
    sock.close()
    click.echo(json.dumps({"stream": stream, "sent": sent, "errors": errors}))


class Recorder:
    """Every probe arriving on one socket: stream -> seq, send time (ns, wall clock), one-way delay (ns),
    with the kernel's receive timestamp (so a busy receiver does not inflate the delay)."""

    def __init__(self, sock: socket.socket, max_packets: int) -> None:
        try:  # root: past net.core.rmem_max; at 10 kpps 64 MB rides out a receiver stalled for seconds
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        self.kernel_drops = 0
        sock.settimeout(0.1)
        self.sock = sock
        self.max_packets = max_packets
        self.streams: dict[int, dict[str, list[int]]] = {}
        self.bad = 0
        self.n = 0
        self.stop = threading.Event()

    def run(self, duration: float) -> None:
        end = time.monotonic() + duration
        while not self.stop.is_set() and self.n < self.max_packets and time.monotonic() < end:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:  # socket closed under us at the end
                return
            recv_ns = time.time_ns()
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    recv_ns = sec * 1_000_000_000 + nsec
                elif level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(raw) >= 4:
                    self.kernel_drops = struct.unpack("I", raw[:4])[0]
            try:
                probe = Probe.unpack(data)
            except RecordError:
                self.bad += 1
                continue
            delay = delta48(recv_ns & U48_MAX, probe.send_ns)
            st = self.streams.setdefault(probe.stream_id, {"seq": [], "send_ns": [], "delay_ns": []})
            st["seq"].append(probe.seq)
            st["send_ns"].append(recv_ns - delay)
            st["delay_ns"].append(delay)
            self.n += 1

    def write(self, out: Path, extra: dict[str, object]) -> None:
        tmp = out.with_suffix(".tmp")
        doc = {"streams": {str(k): v for k, v in self.streams.items()}, "bad": self.bad,
               "kernel_drops": self.kernel_drops, **extra}
        tmp.write_text(json.dumps(doc))
        tmp.rename(out)


@agent.command()
@click.option("--bind", "bind_to", required=True, help="IP:PORT: receives here and sends from here")
@click.option("--duration", type=click.FloatRange(0.1, MAX_SECONDS), required=True, help="recording time")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--max-packets", type=click.IntRange(1, 10_000_000), default=2_000_000)
@click.option("--profile", default=None, help="also send one direction of this trafficgen profile")
@click.option("--seed", type=int, default=0)
@click.option("--to", "dest", default=None, help="IP:PORT of the peer")
@click.option("--stream", type=int, default=1)
@click.option("--upstream", is_flag=True, help="send the profile's client->server direction")
@click.option("--start-at", type=float, default=0.0, help="wall-clock start of sending (time.time())")
@click.option("--session-s", type=click.FloatRange(0.1, MAX_SECONDS), default=10.0)
def peer(bind_to: str, duration: float, out: Path, max_packets: int, profile: str | None, seed: int,
         dest: str | None, stream: int, upstream: bool, start_at: float, session_s: float) -> None:
    """One endpoint of a session: records what arrives and (optionally) sends its direction of a profile
    from the same socket, so both directions share one 5-tuple as in a real session."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(_addr(bind_to))
    rec = Recorder(sock, max_packets)
    signal.signal(signal.SIGTERM, lambda *_: rec.stop.set())  # stops receiving and sending
    receiver = threading.Thread(target=rec.run, args=(duration,), daemon=True)
    receiver.start()
    stats: dict[str, object] = {}
    if profile is not None and dest is not None:
        from srchain_vnfs.profiles import generate
        from srchain_vnfs.trafficgen import send_session

        session = generate(profile, seed, session_s, 100_000)
        _wait_until(start_at)
        t0 = time.time()
        stats = {"start": t0, **send_session(session, _addr(dest), stream, upstream=upstream,
                                             deadline_s=session_s, sock=sock, stop=rec.stop)}
        click.echo(json.dumps({"stream": stream, **stats}))
    receiver.join(duration + 1)
    rec.stop.set()
    receiver.join(1)
    rec.write(out, {"sender": stats})
    sock.close()


ETH_MPLS = 0x8847


def parse_stack(frame: bytes, port: int) -> tuple[tuple[int, ...], Probe] | None:
    """(labels, probe) of an MPLS frame carrying IPv4/UDP to `port` with a probe; None for anything else."""
    if len(frame) < 18 or frame[12:14] != b"\x88\x47":
        return None
    labels: list[int] = []
    off = 14
    while off + 4 <= len(frame):
        word = int.from_bytes(frame[off : off + 4], "big")
        labels.append(word >> 12)
        off += 4
        if word & 0x100:  # bottom of stack
            break
    else:
        return None
    if off + 28 > len(frame) or frame[off] >> 4 != 4 or frame[off + 9] != 17:
        return None
    udp = off + (frame[off] & 0xF) * 4
    if int.from_bytes(frame[udp + 2 : udp + 4], "big") != port:
        return None
    try:
        return tuple(labels), Probe.unpack(frame[udp + 8 :])
    except RecordError:
        return None


@agent.command()
@click.option("--iface", required=True)
@click.option("--port", type=int, required=True, help="UDP destination port of the probes to record")
@click.option("--duration", type=click.FloatRange(0.1, MAX_SECONDS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--max-frames", type=click.IntRange(1, 10_000_000), default=1_000_000)
def stacks(iface: str, port: int, duration: float, out: Path, max_frames: int) -> None:
    """Frames arriving on `iface` (not the ones sent from it): stack -> probe seqs, plus what the kernel
    dropped for this socket (a capture that lost frames proves nothing, so the caller checks it)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root): we may lag a burst
    sock.bind((iface, 0))
    sock.settimeout(0.1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen: dict[str, list[int]] = {}
    other = frames = 0
    end = time.monotonic() + duration
    while frames < max_frames:
        if stop.is_set() or time.monotonic() >= end:
            sock.setblocking(False)  # told to stop: take what the kernel still holds, then finish
        try:
            frame, addr = sock.recvfrom(2048)
        except TimeoutError:
            continue
        except BlockingIOError:
            break
        if addr[2] == PACKET_OUTGOING:
            continue
        frames += 1
        parsed = parse_stack(frame, port)
        if parsed is None:
            other += 1
            continue
        labels, probe = parsed
        seen.setdefault(",".join(map(str, labels)), []).append(probe.seq)
    _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    sock.close()
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"iface": iface, "stacks": seen, "other": other, "frames": frames,
                               "kernel_drops": drops}))
    tmp.rename(out)


if __name__ == "__main__":
    sys.exit(agent())
