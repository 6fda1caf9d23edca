"""Fixtures for the emulator tests (defined in emu_helpers)."""

from emu_helpers import build, snippet_path

__all__ = ["build", "snippet_path"]
