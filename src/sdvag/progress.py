"""Progress of long calls (ensembles, sensitivity, calibration): messages for the command line,
a tqdm bar in a terminal or a notebook for the Python API, or nothing.

The `progress` argument of those calls: a callable receives one-line messages (the CLI prints
them on stderr); None (the default) shows a bar when a person is watching (stderr a terminal,
or a Jupyter kernel) and stays silent otherwise (pipes, scripts, tests); False is silent always.
"""
from __future__ import annotations

import sys
from typing import Callable

Progress = Callable[[str], None] | bool | None


def watched() -> bool:
    """Whether a person sees stderr: a terminal, or a notebook."""
    return "ipykernel" in sys.modules or bool(getattr(sys.stderr, "isatty", lambda: False)())


def messages(progress: Progress) -> Callable[[str], None] | None:
    """Where one-line progress messages go: the callable given, stderr when watched, or nowhere."""
    if callable(progress):
        return progress
    if progress is None and watched() or progress is True:
        from tqdm.auto import tqdm
        return lambda message: tqdm.write(message, file=sys.stderr)
    return None


def bar(total: int, progress: Progress, description: str):
    """A tqdm bar of `total` steps when `progress` is None and a person watches (or True);
    None when progress goes to a callable or nowhere."""
    if progress is True or (progress is None and watched()):
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=description, unit="run", file=sys.stderr)
    return None
