"""L4S: reference DualPI2 for the link emulator, classic and scalable traffic, and the measurement harness
(docs/l4s.md)."""
