"""The `srchain` command line."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="srchain")
def main() -> None:
    """srchain: SR-MPLS service chains across P4 switches and VNFs."""
