"""Writing files so that an interrupted run never leaves a half-written file or a mixed set.

A single file is written under a hidden temporary name and renamed into place. A run's set of
files (results, tables, plots) is written into a fresh hidden folder beside the output folder
and swapped in whole, so the folder holds all of one run's files or all of the previous run's,
never some of each, and no file of an earlier run survives beside a new set. A manifest inside
the folder lists what sdvag wrote; a folder holding anything else is refused, never replaced,
so a user's own files are never deleted.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sdvag.errors import SdvagError

MANIFEST = ".sdvag-output"


@contextmanager
def atomic_write(path: Path):
    """A temporary path in the same folder, renamed to `path` once written completely."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:  # name the file wanted, not the temporary one
        raise SdvagError(f"{path}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # as an ordinary new file would be, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sdvag_wrote(folder: Path) -> bool:
    """Whether every entry of an existing folder is listed in the manifest sdvag left there."""
    entries = {p.name for p in folder.iterdir()}
    if not entries:
        return True
    try:
        listed = set((folder / MANIFEST).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return False
    return entries <= listed | {MANIFEST}


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_in(new: Path, out: Path) -> None:
    """Put folder `new` at `out`, and the old `out` (if any) away; signals wait until done."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked) if hasattr(signal, "pthread_sigmask") else None
    try:
        if not out.exists():
            os.rename(new, out)
        elif _exchange(new, out):
            shutil.rmtree(new)  # now the previous set
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "set")
            os.rename(new, out)
            shutil.rmtree(old)
    finally:
        if old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


@contextmanager
def output_set(out: str | Path):
    """A fresh hidden folder to write a run's files into; on success it replaces folder `out`
    whole. On an error or an interruption nothing changes at `out` and the hidden folder is
    removed. Refuses (exit status 2) an `out` that is a file, a symbolic link, or a folder with
    files sdvag did not write. Writers list what they wrote under `out`, not in the folder
    yielded."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SdvagError(f"{out}: not a folder; --out names a folder for this run's files")
    if out.is_dir() and not _sdvag_wrote(out):
        raise SdvagError(f"{out}: the folder holds files sdvag did not write; name a new or "
                         f"empty folder (sdvag replaces the whole folder with each run's files)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise SdvagError(f"{out}: cannot write here ({exc.strerror or exc})") from None
    try:
        yield work
        names = sorted(p.name for p in work.iterdir())
        (work / MANIFEST).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        os.chmod(work, 0o777 & ~_umask())  # mkdtemp's 0700 is for the hidden folder only
        _swap_in(work, out)
    except OSError as exc:  # a full disk, a lost permission: name the folder asked for
        name = Path(exc.filename).name if exc.filename else "the files"
        raise SdvagError(f"{out}: cannot write {name} ({exc.strerror or exc})") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
