"""The chain model: chain spec and inventory (YAML), their validation and cross-checks."""

from srchain.model.errors import Issue, SpecError
from srchain.model.load import ChainModel, load_chain, load_inventory, load_spec

__all__ = ["ChainModel", "Issue", "SpecError", "load_chain", "load_inventory", "load_spec"]
