"""Test VNF: passes IP packets through unchanged (raw socket, sends each one back with the MACs swapped)."""

import socket
import sys
import time
from pathlib import Path

ifname, lifetime = sys.argv[1], float(sys.argv[2])
own = bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
sock.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING: do not see our own sends
sock.bind((ifname, 3))
sock.settimeout(0.5)
deadline = time.monotonic() + lifetime
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        frame = sock.recv(65535)
    except TimeoutError:
        continue
    if frame[:6] == own and frame[12:14] in (b"\x08\x00", b"\x86\xdd"):
        sock.send(frame[6:12] + own + frame[12:])
