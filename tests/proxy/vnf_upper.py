"""Test VNF: a UDP service that answers every datagram with its payload upper-cased (it generates packets)."""

import socket
import sys
import time

port, lifetime = int(sys.argv[1]), float(sys.argv[2])
address = sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0"  # bound: replies are the exact reverse 5-tuple
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, port))
sock.settimeout(0.5)
deadline = time.monotonic() + lifetime  # never outlive the test that started us
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        data, peer = sock.recvfrom(65535)
    except TimeoutError:
        continue
    sock.sendto(data.upper(), peer)
