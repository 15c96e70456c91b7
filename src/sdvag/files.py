"""Writing files so that an interrupted run never leaves a half-written one behind."""
from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path):
    """A temporary path in the same folder, renamed to `path` once written completely."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "output"


def netcdf_name(name: str) -> str:
    """A variable name NetCDF accepts (no '/', a letter, digit or '_' first, no trailing space)."""
    safe = re.sub(r"[/\x00-\x1f]", "_", str(name)).rstrip()
    return safe if re.match(r"\w", safe) else "_" + safe


def write_netcdf(ds, path: Path) -> None:
    """The Dataset as NetCDF; a variable whose name NetCDF rejects (a model's `Flow w/ losses`)
    is stored under a safe name, with its own name kept in the attribute `name`."""
    renames = {v: netcdf_name(v) for v in ds.data_vars if netcdf_name(v) != v}
    if renames:
        ds = ds.copy()
        for old, new in renames.items():
            ds[old].attrs["name"] = old
        ds = ds.rename(renames)
    with atomic_write(path) as tmp:
        ds.to_netcdf(tmp)
