"""P4 program -> CompiledProgram, in three passes with one job each:

    checker.check_program   scopes, names, types, externs' signatures -> CheckedProgram (checked.py)
    target.check_target     what the target model (a Tofino 1 by default) refuses -> Diagnostics
    codegen.generate        the Python module the pipeline runs

Every problem is a P4Error with the original file and line.
"""

from __future__ import annotations

from ..frontend import ast as A
from .checker import check_program
from .codegen import CompiledProgram, generate
from .target import DEFAULT_TARGET, TargetRefusal, check_target


def compile_program(program: A.Program, target_model: str = DEFAULT_TARGET) -> CompiledProgram:
    checked = check_program(program)
    diagnostics = check_target(checked, target_model)
    if diagnostics:
        raise TargetRefusal(diagnostics)
    return generate(checked)


__all__ = ["CompiledProgram", "compile_program"]
