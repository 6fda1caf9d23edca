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
from .target_resources import TARGETS, estimate


def compile_program(program: A.Program, target_model: str = DEFAULT_TARGET, trace: bool = False) -> CompiledProgram:
    """`trace`: generate the trace calls (interp/trace.py), with each table's stage from the target model."""
    checked = check_program(program)
    diagnostics = check_target(checked, target_model)
    if diagnostics:
        raise TargetRefusal(diagnostics)
    compiled = generate(checked, trace)
    if trace:
        compiled.traced = True
        # stages as the model places them (a Tofino 1's where the program was loaded without a model: a pushed
        # bundle); node names are table names without the pipe; a table applied twice shows its first stage
        est = estimate(checked, target_model if target_model in TARGETS else "tofino1")
        for n in est.nodes:
            if n.kind == "table" and n.stage >= 0:
                compiled.stages.setdefault(f"{checked.pipe_name}.{n.name}", n.stage)
    return compiled


__all__ = ["CompiledProgram", "compile_program"]
