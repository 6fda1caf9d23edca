"""P4 program -> CompiledProgram, in passes with one job each:

    checker.check_program   scopes, names, types, externs' signatures -> CheckedProgram (checked.py)
    codegen.generate        the Python module the pipeline runs

Every problem is a P4Error with the original file and line.
"""

from __future__ import annotations

from ..frontend import ast as A
from .checker import check_program
from .codegen import CompiledProgram, generate


def compile_program(program: A.Program) -> CompiledProgram:
    return generate(check_program(program))


__all__ = ["CompiledProgram", "compile_program"]
