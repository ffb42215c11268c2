"""Child processes die with their parent.

`mlwright run` starts DVC, and DVC starts each stage. If `mlwright run` is killed
with SIGKILL, nothing gets to clean up, and DVC with its stage would go on as
orphans (holding DVC's lock, writing outputs nobody waits for). On Linux the kernel
can send a signal to a process when its parent dies (prctl PR_SET_PDEATHSIG): DVC
gets SIGTERM when `mlwright run` dies, and a stage gets SIGTERM when DVC dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
