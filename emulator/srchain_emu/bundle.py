"""The emulator's compile artifacts, laid out like bf-p4c's output directory.

    OUT/bf-rt.json            BF Runtime schema (bf-p4c format)
    OUT/pipe/context.json     emulator manifest (what a real context.json is for the ASIC driver)
    OUT/pipe/tofino.bin       the "program binary": the preprocessed, self-contained P4 source
    OUT/<name>.conf           bf_switchd-style conf pointing at the files above

The binary travels unchanged inside SetForwardingPipelineConfig, so a switch can load it with
`load_binary()` without include paths.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .bfrt_schema import bfrt_info
from .interp.pipeline import MAX_PIPES, Pipeline, load_source
from .interp.target import DEFAULT_TARGET
from .interp.trace import Tracer

BUNDLE_FORMAT = "srchain-emu-p4-source/1"


def manifest(name: str, source: str, pipe_name: str) -> dict:
    return {
        "format": BUNDLE_FORMAT,
        "program_name": name,
        "pipe": pipe_name,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
    }


def compile_to_dir(program: str | Path, out_dir: str | Path, include_dirs: list[str | Path] | None = None,
                   defines: dict[str, str] | None = None, target_model: str = DEFAULT_TARGET) -> Path:
    """Check and compile `program`; write the artifacts; return the bf-rt.json path. Raises P4Error."""
    program = Path(program)
    name = program.stem
    source = load_source(program, include_dirs, defines)
    pipeline = Pipeline.from_source(source, name, target_model)
    out = Path(out_dir)
    pipe_dir = out / pipeline.compiled.pipe_name
    pipe_dir.mkdir(parents=True, exist_ok=True)
    bfrt_path = out / "bf-rt.json"
    bfrt_path.write_text(json.dumps(bfrt_info(pipeline), indent=2) + "\n")
    (pipe_dir / "context.json").write_text(json.dumps(manifest(name, source, pipeline.compiled.pipe_name),
                                                      indent=2) + "\n")
    (pipe_dir / "tofino.bin").write_text(source)
    conf = {
        "chip_list": [{"chip_family": "tofino", "instance": 0}],
        "p4_devices": [{"device-id": 0, "p4_programs": [{
            "program-name": name, "bfrt-config": "bf-rt.json",
            "p4_pipelines": [{"p4_pipeline_name": pipeline.compiled.pipe_name,
                              "context": f"{pipeline.compiled.pipe_name}/context.json",
                              "config": f"{pipeline.compiled.pipe_name}/tofino.bin",
                              "pipe_scope": [0, 1, 2, 3], "path": "."}]}]}],
    }
    (out / f"{name}.conf").write_text(json.dumps(conf, indent=2) + "\n")
    return bfrt_path


def load_binary(binary: bytes | str, name: str, tracer: Tracer | None = None, num_pipes: int = MAX_PIPES) -> Pipeline:
    """Load a program from its binary (tofino.bin content). Raises P4Error for a bad program.

    No target model: like a Tofino, the device runs what the compiler (`srchain p4 compile`) accepted."""
    text = binary.decode() if isinstance(binary, bytes) else binary
    return Pipeline.from_source(text, name, target_model="none", tracer=tracer, num_pipes=num_pipes)


def load_dir(out_dir: str | Path) -> Pipeline:
    out = Path(out_dir)
    conf = next(out.glob("*.conf"))
    name = conf.stem
    info = json.loads(conf.read_text())["p4_devices"][0]["p4_programs"][0]["p4_pipelines"][0]
    return load_binary((out / info["config"]).read_bytes(), name)
