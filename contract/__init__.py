"""The contract between compiler and runtime: what `params.yaml` holds, typed.

The compiler's `lower` pass builds one frozen model per stage and command
(`Params`); `params.yaml` is its serialisation; each runtime stage parses it back
once at start and reads typed attributes. This package imports neither half (an
import-linter contract holds that), so both can depend on it and on nothing of
each other. The other things both halves share live here too: each metric's facts
(`metrics`), the failures a user can act on and their exit codes (`errors`), and the
writer that never leaves a file half-written (`files`). `IR_VERSION` is the version of
this shape: it changes whenever a field
is added, moved or given another meaning, and a build folder written with another
version is refused by the runtime, naming the fix.
"""

from .params import IR_VERSION, Params

__all__ = ["IR_VERSION", "Params"]
