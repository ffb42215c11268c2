"""Errors the user can act on, shared by the face and the runtime.

`UserError` (and its subclasses) print as one line with no traceback;
`exit_code` 2 means bad input, 1 a failed gate. Anything else is our bug.
"""


class UserError(Exception):
    exit_code = 2


class GateFailed(UserError):
    exit_code = 1
