"""Targets the controller writes to: P4 switches over BF Runtime gRPC, SR proxies over their control API.

Every driver offers the same small surface to the apply engine (`base.Driver`): read a snapshot of the
tables it manages, write one batch of plan operations, read per-entry packet counters.
"""
