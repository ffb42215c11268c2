"""The compiler: system YAML -> a reviewable, deterministic project folder.

Passes (each a function from one typed value to the next):
load -> compose -> validate (+ crosscheck) -> lower -> emit -> write / check / diff.
Public API: `compile_system`, `build_plan`, `emit_files`, `write_tree`, `check_tree`,
`diff_trees`, `SpecError`. Nothing here imports the runtime or a heavy library.
"""

from .api import CompiledSystem, build_plan, compile_system, json_schema
from .diagnostics import Diagnostic, Position, SpecError

__all__ = ["CompiledSystem", "Diagnostic", "Position", "SpecError", "build_plan", "compile_system", "json_schema"]
