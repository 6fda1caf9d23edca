"""SR-MPLS proxy for SR-unaware VNFs (static and per-flow dynamic)."""
