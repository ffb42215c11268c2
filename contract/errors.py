"""Errors the user can act on, shared by the compiler, the runtime and the face.

`UserError` (and its subclasses) print as one line with no traceback;
`exit_code` 2 means bad input, 1 a failed gate, 3 a crash. Anything else is our bug.
"""


class UserError(Exception):
    exit_code = 2


class GateFailed(UserError):
    exit_code = 1


class StageCrashed(UserError):
    """A pipeline stage died of an internal error (a bug, or the machine), not of a
    gate or of the user's input. It is a UserError only so that the face prints it as
    one line; its own exit code keeps it apart from a gate (1) and bad input (2)."""

    exit_code = 3
