"""Worker processes that die with the process that started them.

A pool's workers outlive a parent killed by SIGKILL (or by SIGTERM before it could shut the pool
down) and keep computing, each holding a compiled model, for minutes. Every pool sdvag starts
runs `die_with_parent` in each worker first: on Linux the kernel kills the worker when its
parent dies (prctl PR_SET_PDEATHSIG); everywhere a watchdog thread ends it once the parent is gone.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
SIGKILL = 9
WATCH_SECONDS = 1.0


def _parent_gone(parent: int, first_ppid: int) -> bool:
    if os.getppid() != first_ppid:  # re-parented: the parent has died
        return True
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else: the pid was reused, parent gone
        return True
    return False


def _watch(parent: int, first_ppid: int) -> None:
    while not _parent_gone(parent, first_ppid):
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this worker process end when process `parent` (the one that made the pool) ends."""
    first_ppid = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited from the parent's CLI
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if _parent_gone(parent, first_ppid):  # died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, first_ppid), daemon=True,
                     name="sdvag-parent-watchdog").start()
