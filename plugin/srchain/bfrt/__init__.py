"""The controller's BF Runtime gRPC client (the protocol itself is the leaf `srchain_contracts.bfrt`)."""
