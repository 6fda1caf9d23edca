"""Contracts between rooms, each defined once: the binary record layouts (P4 ↔ VNFs), the BF Runtime
protocol (controller ↔ switch) and the SR proxy's entry schema (planner ↔ driver ↔ proxy). A leaf:
it imports no other srchain package."""
