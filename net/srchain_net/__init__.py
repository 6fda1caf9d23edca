"""Low-level Linux networking shared by every room: AF_PACKET sockets and constants, TPACKET_V2 rings,
and calling code inside a network namespace. A leaf: it imports no other srchain package."""
