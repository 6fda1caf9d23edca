"""Apply plans to live targets: make-before-break apply, status, reconcile, delete (docs/controller.md)."""

from srchain.apply.engine import ApplyError, Controller, Drivers, Options, Result
from srchain.apply.state import AppliedStore

__all__ = ["AppliedStore", "ApplyError", "Controller", "Drivers", "Options", "Result"]
