"""Test VNF: passes IP packets through unchanged (raw socket).

    vnf_reflect.py IFACE LIFETIME                 -> back out of IFACE with the MACs swapped
    vnf_reflect.py IFACE LIFETIME OUT DST_MAC     -> out of interface OUT, to DST_MAC (one port per direction)
"""

import socket
import sys
import time
from pathlib import Path


def mac_of(ifname: str) -> bytes:
    return bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))


def packet_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING: do not see our own sends
    sock.bind((ifname, 3))
    return sock


ifname, lifetime = sys.argv[1], float(sys.argv[2])
own = mac_of(ifname)
rx = packet_socket(ifname)
if len(sys.argv) > 3:
    tx = packet_socket(sys.argv[3])
    src, dst = mac_of(sys.argv[3]), bytes.fromhex(sys.argv[4].replace(":", ""))
else:
    tx, src, dst = rx, own, None
rx.settimeout(0.5)
deadline = time.monotonic() + lifetime  # never outlive the test that started us
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        frame = rx.recv(65535)
    except TimeoutError:
        continue
    if frame[:6] == own and frame[12:14] in (b"\x08\x00", b"\x86\xdd"):
        tx.send((dst or frame[6:12]) + src + frame[12:])
