"""BF Runtime gRPC: the project's wire-compatible subset of bfruntime.proto and its generated stubs.

`bfruntime_pb2*.py` are generated (committed) by `.venv/bin/python -m srchain_contracts.bfrt.generate`.
"""
