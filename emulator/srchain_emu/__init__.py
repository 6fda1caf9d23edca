"""Emulated Tofino: P4_16/TNA front end and interpreter, BF Runtime gRPC server, ports, traffic manager."""
