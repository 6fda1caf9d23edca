"""PACKET_FANOUT steering for several data-path workers: a flow and its reverse on the same worker.

Why not PACKET_FANOUT_HASH: the kernel hashes with its flow dissector (`__skb_get_hash_symmetric`), which
stops at an MPLS label stack unless the top labels carry an entropy label (RFC 6790). Every SR-MPLS frame
without one gets the same hash, so all SR-side traffic would land on one worker (measured in
tests/proxy/test_proxy_fanout.py). The proxy therefore steers with its own classic-BPF fanout program
(PACKET_FANOUT_CBPF) that walks the label stack (up to the MSD) to the inner IPv4 header and hashes

    (source address XOR destination address) XOR (source port XOR destination port)

which is symmetric: a 5-tuple and its reverse give the same value. The same program runs on the SR
interface (MPLS frames) and on the attachments (plain IPv4 coming back from the VNF), and the kernel takes
the value modulo the group size; with the workers joining every group in the same order, a returning
packet reaches the worker that learned its flow (dynamic SIDs keep one flow cache per worker).

The rule (documented in docs/proxy.md): IPv4 TCP/UDP/SCTP flows are spread by addresses and ports; other
IPv4 packets and later fragments by addresses only; IPv6 and anything else goes to worker 0 (the walk
does not parse IPv6), in both directions, so every flow still has one worker.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct

from .packetsock import SOL_PACKET

PACKET_FANOUT = 18
PACKET_FANOUT_DATA = 22
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_CBPF = 6
# the group skips frames this host sends (a group ignores its members' PACKET_IGNORE_OUTGOING): without it
# the rings see e.g. the resolver's ARP probes. Kernels before it refuse the flag (EINVAL): joined without
PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000
SO_ATTACH_FILTER_MAX = 4096  # BPF_MAXINSNS

# classic BPF opcodes (linux/filter.h)
_LD, _LDX, _ST, _ALU, _JMP, _RET, _MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
_W, _H, _B = 0x00, 0x08, 0x10
_IMM, _ABS, _IND, _MEM, _MSH = 0x00, 0x20, 0x40, 0x60, 0xA0
_AND, _MUL, _RSH, _XOR = 0x50, 0x20, 0x70, 0xA0
_JA, _JEQ, _JSET = 0x00, 0x10, 0x40
_K, _X, _A = 0x00, 0x08, 0x10
_TAX = 0x00
_AD_PROTOCOL = 0xFFFFF000  # SKF_AD_OFF + SKF_AD_PROTOCOL: skb->protocol (host order)

Insn = tuple[int, int, int, int]  # (code, jt, jf, k)


def _hash_block(c: int) -> list[Insn]:
    """IPv4 header at network offset c: return the symmetric hash (non-IPv4: 0). Ends with a return."""
    block: list[Insn] = [
        (_LD | _B | _ABS, 0, 0, c), (_ALU | _AND | _K, 0, 0, 0xF0), (_JMP | _JEQ | _K, 1, 0, 0x40),
        (_RET | _K, 0, 0, 0),                                               # not IPv4
        (_LD | _W | _ABS, 0, 0, c + 12), (_ST, 0, 0, 0),                    # M[0] = source
        (_LD | _W | _ABS, 0, 0, c + 16), (_LDX | _W | _MEM, 0, 0, 0),
        (_ALU | _XOR | _X, 0, 0, 0), (_ST, 0, 0, 0),                        # M[0] = source ^ destination
        (_LD | _B | _ABS, 0, 0, c + 9),                                     # protocol
        (_JMP | _JEQ | _K, 2, 0, 6), (_JMP | _JEQ | _K, 1, 0, 17), (_JMP | _JEQ | _K, 0, 11, 132),
        (_LD | _H | _ABS, 0, 0, c + 6), (_JMP | _JSET | _K, 9, 0, 0x1FFF),  # later fragment: no ports
        (_LDX | _B | _MSH, 0, 0, c),                                        # X = header length
        (_LD | _W | _IND, 0, 0, c),                                         # A = sport << 16 | dport
        (_MISC | _TAX, 0, 0, 0), (_ALU | _RSH | _K, 0, 0, 16), (_ALU | _XOR | _X, 0, 0, 0),
        (_ALU | _AND | _K, 0, 0, 0xFFFF),                                   # sport ^ dport
        (_LDX | _W | _MEM, 0, 0, 0), (_ALU | _XOR | _X, 0, 0, 0), (_ST, 0, 0, 0),
        # finish: mix the bits so that "value mod workers" spreads (a murmur-like finaliser)
        (_LD | _W | _MEM, 0, 0, 0), (_MISC | _TAX, 0, 0, 0), (_ALU | _RSH | _K, 0, 0, 16),
        (_ALU | _XOR | _X, 0, 0, 0), (_ALU | _MUL | _K, 0, 0, 0x045D9F3B), (_MISC | _TAX, 0, 0, 0),
        (_ALU | _RSH | _K, 0, 0, 16), (_ALU | _XOR | _X, 0, 0, 0), (_RET | _A, 0, 0, 0),
    ]
    assert block[13][2] == len(block) - 9 - 14 and block[15][1] == len(block) - 9 - 16  # jumps to "finish"
    return block


def steering_program(msd: int) -> list[Insn]:
    """The fanout program: offsets are from the network header (the kernel runs it before the MAC push)."""
    ip0 = _hash_block(0)
    prog: list[Insn] = [(_LD | _W | _ABS, 0, 0, _AD_PROTOCOL), (_JMP | _JEQ | _K, 0, len(ip0), 0x0800), *ip0,
                        (_JMP | _JEQ | _K, 1, 0, 0x8847), (_RET | _K, 0, 0, 0)]
    for k in range(msd):  # label k has the S bit: the IPv4 header follows it
        block = _hash_block(4 * (k + 1))
        prog += [(_LD | _B | _ABS, 0, 0, 4 * k + 2), (_JMP | _JSET | _K, 0, len(block), 1), *block]
    prog.append((_RET | _K, 0, 0, 0))  # deeper than the MSD: worker 0 (which drops and counts it)
    if len(prog) > SO_ATTACH_FILTER_MAX:
        raise ValueError(f"msd {msd}: fanout program too long")
    return prog


def _fprog(prog: list[Insn]) -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
    raw = b"".join(struct.pack("HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    return struct.pack("HL", len(prog), ctypes.addressof(buf)), buf  # keep buf alive until setsockopt


# every frame to the group's first member, worker 0: for the attachments of SRv6 SIDs, whose SR-side frames
# (IPv6) all reach worker 0 by the rule above, so that End.AD's returns meet the worker that learned them
FIRST_WORKER_PROGRAM: list[Insn] = [(_RET | _K, 0, 0, 0)]


def set_program(sock: socket.socket, prog: list[Insn]) -> None:
    """Replace the steering program of the group the socket is a member of (the group's, not the socket's:
    one member sets it for all). Raises OSError."""
    fprog, _keep = _fprog(prog)
    sock.setsockopt(SOL_PACKET, PACKET_FANOUT_DATA, fprog)


def join(sock: socket.socket, group: int, msd: int, first: bool = False) -> None:
    """Join fanout group `group` (0..65535) of the socket's interface with the proxy's steering program
    (first: FIRST_WORKER_PROGRAM). The socket must be bound. Raises ValueError with the kernel's reason."""
    try:
        try:
            sock.setsockopt(SOL_PACKET, PACKET_FANOUT, (group & 0xFFFF)
                            | (PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            sock.setsockopt(SOL_PACKET, PACKET_FANOUT, (group & 0xFFFF) | PACKET_FANOUT_CBPF << 16)
        set_program(sock, FIRST_WORKER_PROGRAM if first else steering_program(msd))
    except OSError as exc:
        raise ValueError(f"workers: cannot join fanout group {group}: {exc.strerror or exc}") from exc


def join_kernel_hash(sock: socket.socket, group: int) -> None:
    """PACKET_FANOUT_HASH (the kernel's symmetric flow hash): kept for the comparison in the tests."""
    sock.setsockopt(SOL_PACKET, PACKET_FANOUT, (group & 0xFFFF) | PACKET_FANOUT_HASH << 16)
