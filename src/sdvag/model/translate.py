"""XMILE or Vensim -> PySD, translated once per file content and cached outside models/.

The cache key is the file's SHA-256, the names and SHA-256s of the data files it reads (GET XLS
... in a Vensim model, model/datafiles.py) and the PySD version, so an edited model or
spreadsheet is translated and read again and an unchanged one never is. The data files are
copied into the entry, beside the translation, which reads them from there. A translation is
written to a private temporary folder and then renamed into place: rename is atomic, so two
processes translating the same model at once each either win the rename or find the other's
complete result; neither can see a half-written file.

The cache is code that will be imported, so it must be the user's own: a folder owned by the
user that nobody else may write (created 0700), else sdvag refuses to run. PySD translates a
sanitised copy of the model (model/sanitise.py); the translation (model.py, and a file per
Vensim macro, which PySD imports with it) is checked, and the SHA-256 of each file written
beside them, and all are verified again before every import: a damaged entry is
translated again, with a warning.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pysd

from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.model.datafiles import (MANIFEST, DataFile, copies_problem, data_error, manifest, place,
                                   read_data_files)
from sdvag.model.names import refuse_spaced_names
from sdvag.model.pysd_errors import explain
from sdvag.model.sanitise import macro_files, pysd_tree, translation_problem
from sdvag.model.support import ensure_supported
from sdvag.model.active_initial import apply_initial_equations
from sdvag.model.builtins import names_and_dimensions, pysd_bytes
from sdvag.model.delay_orders import delays_as_stocks
from sdvag.model.vensim import without_documentation
from sdvag.model.xmile import VENSIM_SUFFIX, ModelInfo, model_bytes, parse_model

CHECKSUM = "checksums.sha256"  # every generated .py file (the model and its macros)


def cache_root() -> Path:
    """$SDVAG_CACHE_DIR, else the user's cache folder; it must be the user's own (see above)."""
    configured = os.environ.get("SDVAG_CACHE_DIR")
    base = Path(configured).expanduser() if configured else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sdvag"
    how = "set SDVAG_CACHE_DIR to a folder of your own that only you can write (chmod 700)"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = base.stat()
    except OSError as exc:
        raise SdvagError(f"cannot use the translation cache folder {base} "
                         f"({exc.strerror or exc}); {how}") from None
    others_write = status.st_mode & 0o022
    foreign = hasattr(os, "getuid") and status.st_uid != os.getuid()
    if foreign or others_write or not os.access(base, os.W_OK | os.X_OK):
        why = ("it belongs to another user" if foreign else
               "others may write to it" if others_write else "you cannot write to it")
        raise SdvagError(f"the translation cache folder {base} is not safe to import code from "
                         f"({why}); {how}")
    return base


@functools.cache
def _code_version() -> str:
    """A digest of this step's source (what decides the text PySD is given and how its
    translation is checked): another sdvag, or a branch of it, never imports this one's entries,
    and no version number has to be remembered to be bumped."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _key(data: bytes, files: tuple[DataFile, ...] = ()) -> str:
    digest = hashlib.sha256(data)
    for item in files:
        digest.update(f"|data={item.digest} {item.name}".encode())
    digest.update(f"|pysd={pysd.__version__}|sdvag={_code_version()}".encode())
    return digest.hexdigest()[:32]


def _code_problem(files: dict[str, bytes], data_files: frozenset[str] = frozenset()) -> str | None:
    """Why these generated files (name -> content) are not a translation sdvag may import:
    each must be shaped like PySD's output, the macro files they load must be among them, and
    the data files they read among `data_files` (checked and copied beside them)."""
    if "model.py" not in files:
        return "model.py missing"
    for name, content in sorted(files.items()):
        try:
            source = content.decode("utf-8")
        except UnicodeDecodeError:
            return f"{name} is not text"
        problem = translation_problem(source, data_files)
        if problem is None and not macro_files(source) <= files.keys():
            problem = "loads a macro file that is not part of the translation"
        if problem:
            return problem if name == "model.py" else f"{name}: {problem}"
    return None


def _generated(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.py")}


def entry_problem(folder: Path) -> str | None:
    """Why a cache entry must not be imported (missing, damaged or altered), or None."""
    try:
        files = _generated(folder)
        recorded = (folder / CHECKSUM).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        return f"{getattr(exc, 'filename', None) or 'its checksums'} unreadable or missing"
    if "model.py" not in files:
        return "model.py unreadable or missing"
    if recorded != _checksums(files).split():
        return "the generated files do not match their checksums"
    problem, data_names = copies_problem(folder)
    return problem or _code_problem(files, data_names)


def _checksums(files: dict[str, bytes]) -> str:
    """One line per generated file, as sha256sum writes them."""
    return "".join(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files))


def _discard(folder: Path) -> None:
    """Move a bad entry aside (a rename, so a concurrent reader never sees it half-removed)."""
    trash = Path(tempfile.mkdtemp(prefix=folder.name + ".bad-", dir=folder.parent))
    try:
        os.rename(folder, trash / "entry")
    except FileNotFoundError:
        pass  # another process discarded it first
    shutil.rmtree(trash, ignore_errors=True)


def translated_file(info: ModelInfo, data: bytes, files: tuple[DataFile, ...] = ()) -> Path:
    """Path of the PySD translation of this model content (and of these data files, copied
    beside it), translating it if not cached yet."""
    final = cache_root() / _key(data, files)
    target = final / "model.py"
    if final.exists():
        problem = entry_problem(final)
        if problem is None:
            return target
        print(f"warning: translation cache entry {final} is damaged ({problem}); translating "
              f"{info.path.name} again", file=sys.stderr, flush=True)
        _discard(final)
    vensim = info.path.suffix.lower() == VENSIM_SUFFIX
    tree = None if vensim else pysd_tree(info)  # refuses unsafe names and equations first
    work = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        place(files, work)
        source = work / ("model.mdl" if vensim else "model.xmile")
        # XMILE: the sanitised copy (no text that could become code), its builtins rewritten into
        # what PySD simulates correctly; Vensim: the file itself, translated without its comments
        # (names are checked by vensim.parse_mdl; the translation is checked below)
        source.write_bytes(data if vensim else pysd_bytes(apply_initial_equations(tree),
                                                          *names_and_dimensions(info)))
        # numpy's default print precision (8 digits) is what PySD writes graphical-function
        # points with; 'unique' writes every float exactly, as constants already are
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                np.printoptions(floatmode="unique"):
            warnings.simplefilter("ignore")
            try:
                _write_python(source, vensim)
            except Exception as exc:  # PySD raises many types for what it cannot read
                # (a GET DIRECT SUBSCRIPT's file is read while translating)
                raise data_error(exc, info.path, info.external, work) \
                    or UnsupportedFeature(*explain(exc, info), info.path) from None
        generated = _generated(work)  # model.py, and a file per Vensim macro
        problem = _code_problem(generated, frozenset(f.name for f in files))
        if problem:
            raise SdvagError(f"{info.path}: PySD's translation of this model is not what sdvag "
                             f"expects ({problem}); it is not run")
        (work / CHECKSUM).write_text(_checksums(generated), encoding="ascii")
        if files:
            (work / MANIFEST).write_text(manifest(files), encoding="utf-8")
        try:
            os.rename(work, final)
        except OSError:
            if entry_problem(final) is not None:  # not a lost race: something is wrong
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def _write_python(source: Path, vensim: bool) -> None:
    """PySD's translation of the file, written beside it (model.py, and a file per Vensim
    macro) and not imported: what PySD's read_vensim and read_xmile do before they load it,
    so that nothing is imported before the syntax check. A .mdl's comments are left out."""
    from pysd.builders.python.python_model_builder import ModelBuilder
    from pysd.translators.vensim.vensim_file import VensimFile
    from pysd.translators.xmile.xmile_file import XmileFile

    parsed = (VensimFile if vensim else XmileFile)(str(source))
    parsed.parse()
    model = delays_as_stocks(parsed.get_abstract_model())
    ModelBuilder(without_documentation(model) if vensim else model).build_model()


def compiled(path: str | Path, integrators: tuple[str, ...] = ("euler",),
             data: bytes | None = None) -> tuple[ModelInfo, Path]:
    """Read and check a model file and translate it; returns its description and the path of
    PySD's translation (beside it, `model.xmile` or `model.mdl`: the file as PySD was given it).
    `integrators`: the methods the engine that will run it can integrate with. `data`: the
    file's content when the caller has already read (and hashed) it, so that what runs is
    exactly what was checked, even if the file is replaced meanwhile."""
    path = Path(path)
    data = model_bytes(path) if data is None else data
    info = parse_model(data, path)
    if path.suffix.lower() != VENSIM_SUFFIX:
        refuse_spaced_names(info)
    ensure_supported(info, integrators)
    return info, translated_file(info, data, read_data_files(path, info.external))


def abstract_model(path: str | Path, integrators: tuple[str, ...], data: bytes | None = None):
    """PySD's AbstractModel of the XMILE file PySD translated (for engines of sdvag's own that
    build from PySD's translation rather than read the model a second way); None for a model
    that PySD did not read as XMILE."""
    from pysd.translators.xmile.xmile_file import XmileFile
    info, py_file = compiled(path, integrators, data)
    if not py_file.with_name("model.xmile").is_file():
        return info, None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        source = XmileFile(py_file.with_name("model.xmile"))
        source.parse()
        return info, delays_as_stocks(source.get_abstract_model())


def load(path: str | Path, data: bytes | None = None) -> tuple[ModelInfo, "pysd.py_backend.model.Model"]:
    """Read, check and compile a model file; returns its description and a fresh PySD model."""
    info, py_file = compiled(path, data=data)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            model = pysd.load(str(py_file))
        except Exception as exc:  # reading the data files, or what PySD finds loading it
            raise data_error(exc, info.path, info.external, py_file.parent) \
                or UnsupportedFeature(*explain(exc, info), info.path) from None
    return info, model
