"""The data files a model reads (Vensim GET XLS/DIRECT CONSTANTS, DATA, LOOKUPS, SUBSCRIPT).

A model file is not trusted to choose what sdvag reads: every file it names must be a regular
file inside the model's own folder (after following symlinks), of a type PySD reads as data
(spreadsheets through pandas/openpyxl, delimited text); absolute paths, `..` escapes, URLs and
devices are refused. The files are read once, here: their bytes go into the translation
cache's key and into the cache entry beside the translation (model/translate.py), so PySD
reads exactly what was checked and an edited spreadsheet is read again.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from sdvag.errors import SdvagError, shown
from sdvag.model.info import ModelInfo
from sdvag.model.tree import canonical, unsafe_name

# What PySD's external-data runtime reads (pysd.py_backend.external): spreadsheets with pandas'
# Excel/OpenDocument readers, .csv with read_csv, anything else with read_table.
SPREADSHEETS = frozenset({".xls", ".xlsx", ".xlsm", ".xlsb", ".ods"})
DELIMITED = frozenset({".csv", ".tab", ".txt"})
_READER_MODULE = "pysd/py_backend/external.py"
MANIFEST = "data.sha256"  # in a translation cache entry: "<sha256>  <name>" per data file copied
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class DataFile:
    """A file a model reads: its name as written (relative to the model) and its content."""

    name: str
    content: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _refuse(model: Path, variable: str, name: str, why: str) -> SdvagError:
    return SdvagError(f"{model}: variable '{variable}' reads {shown(name)!r}: {why}")


def relative_name(model: Path, variable: str, name: str) -> PurePosixPath:
    """The file name as a relative path with no `..`, or a one-line refusal."""
    if not name or name.startswith("?"):
        raise _refuse(model, variable, name, "an indirect file reference (Vensim resolves '?name' "
                                             "from its own settings), which sdvag cannot follow")
    if unsafe_name(name):
        raise _refuse(model, variable, name, "a name with a quote, backslash, brace or control "
                                             "character, which sdvag does not accept")
    if _URL.match(name) and not PureWindowsPath(name).drive:
        raise _refuse(model, variable, name, "a URL; data files must be in the model's folder")
    if PureWindowsPath(name).drive:  # a Windows path: refuse rather than guess
        raise _refuse(model, variable, name, "a Windows path; write it relative to the model's "
                                             "folder with '/'")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise _refuse(model, variable, name, "an absolute path; data files must be in the "
                                             "model's folder")
    if ".." in path.parts:
        raise _refuse(model, variable, name, "a path out of the model's folder ('..')")
    suffix = path.suffix.lower()
    if suffix not in SPREADSHEETS | DELIMITED:
        raise _refuse(model, variable, name, f"not a data file type sdvag reads (expected one of "
                                             f"{', '.join(sorted(SPREADSHEETS | DELIMITED))})")
    return path


def read_data_files(model: Path, references) -> tuple[DataFile, ...]:
    """The content of every file the (variable, file name) references name, checked as the
    module doc says; in a stable order (by name), each once."""
    folder = model.absolute().parent.resolve()
    found: dict[str, DataFile] = {}
    for variable, name in references:
        if name in found:
            continue
        relative = relative_name(model, variable, name)
        target = folder.joinpath(*relative.parts)
        try:
            real = target.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _refuse(model, variable, name, f"no such file in {folder}") from None
        if not real.is_relative_to(folder):
            raise _refuse(model, variable, name, "it leads out of the model's folder (a symlink)")
        content = _regular_file_bytes(real, lambda why: _refuse(model, variable, name, why))
        found[name] = DataFile(name, content)
    return tuple(found[name] for name in sorted(found))


def _regular_file_bytes(path: Path, refuse) -> bytes:
    """The bytes of a regular file, opened without following a symlink or waiting on a fifo and
    checked as opened (so that it cannot be swapped for something else after the check)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse("not a regular file")
        return handle.read()


def place(files: tuple[DataFile, ...], folder: Path) -> None:
    """Write the files under `folder` at their names (where the translation reads them)."""
    for item in files:
        target = folder.joinpath(*PurePosixPath(item.name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.content)


def manifest(files: tuple[DataFile, ...]) -> str:
    return "".join(f"{f.digest}  {f.name}\n" for f in files)


def copies_problem(folder: Path) -> tuple[str | None, frozenset[str]]:
    """Why the copies of its data files in a cache entry are damaged (or None), and their names."""
    listed = folder / MANIFEST
    if not listed.exists():
        return None, frozenset()
    names = set()
    try:
        for line in listed.read_text(encoding="utf-8").splitlines():
            recorded, name = line.split("  ", 1)
            names.add(name)
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != recorded:
                return f"the data file {name} does not match its checksum", frozenset(names)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"its data files are unreadable or missing ({exc})", frozenset(names)
    return None, frozenset(names)


def data_unchanged(info: ModelInfo, py_file: Path) -> bool:
    """Whether the data files a model reads still hold what its translation at
    `py_file` read (a process that keeps a compiled model reads an edited spreadsheet again)."""
    if not info.external:
        return True
    try:
        recorded = (py_file.parent / MANIFEST).read_text(encoding="utf-8")
        return recorded == manifest(read_data_files(info.path, info.external))
    except (OSError, SdvagError):
        return False


def data_error(exc: BaseException, model: Path, references, entry: Path) -> SdvagError | None:
    """One line for an exception PySD raised reading a data file (a missing sheet, cell range
    or value), naming the variable and the file as the model wrote it; None when the exception
    did not come from PySD's external-data reader. `entry`: the folder PySD read the copies in."""
    reader = None
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if tb.tb_frame.f_code.co_filename.endswith(_READER_MODULE) and hasattr(candidate, "file"):
            reader = candidate
        tb = tb.tb_next
    if reader is None:
        return None
    name = str(reader.file)
    with contextlib.suppress(ValueError):
        name = Path(reader.file).relative_to(entry.resolve()).as_posix()
    named = [variable for variable, file in references if file == name] or [None]
    python = re.sub(r"^_ext_(constant|data|lookup)_", "", str(getattr(reader, "py_name", "")))
    variable = next((v for v in named if v is not None and canonical(v) == canonical(python)), named[0])
    lines = [line.strip() for line in str(exc).splitlines()]
    reason = " ".join(line for line in lines if line and line != getattr(reader, "py_name", None)
                      and not line.startswith(("File name:", "Sheet name:"))) or type(exc).__name__
    reason = re.sub(r"(\s+in)?:$", "", reason)  # PySD's "... Doesn't exist in:" before the file
    where = f", sheet {shown(reader.tab)!r}" if Path(name).suffix.lower() in SPREADSHEETS else ""
    return SdvagError(f"{model}: variable '{variable or python}' cannot read its data from "
                      f"{shown(name)!r}{where}: {shown(reason, 160)}")
