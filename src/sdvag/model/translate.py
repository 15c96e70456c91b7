"""XMILE or Vensim -> PySD, translated once per file content and cached outside models/.

The cache key is the file's SHA-256 plus the PySD version, so an edited model is translated again
and an unchanged one never is. A translation is written to a private temporary folder and then
renamed into place: rename is atomic, so two processes translating the same model at once each
either win the rename or find the other's complete result; neither can see a half-written file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pysd

from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.model.pysd_errors import explain
from sdvag.model.support import ensure_supported
from sdvag.model.builtins import names_and_dimensions, pysd_bytes
from sdvag.model.xmile import VENSIM_SUFFIX, ModelInfo, model_bytes, parse_model

CACHE_FORMAT = "5"  # bump whenever what PySD is given changes (builtins.pysd_bytes)


def cache_root() -> Path:
    """$SDVAG_CACHE_DIR, else the user's cache folder; a temporary folder if neither is writable."""
    configured = os.environ.get("SDVAG_CACHE_DIR")
    base = Path(configured) if configured else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sdvag"
    for candidate in (base, Path(tempfile.gettempdir()) / f"sdvag-cache-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    raise SdvagError(f"no writable cache folder (tried {base}); set SDVAG_CACHE_DIR")


def _key(data: bytes) -> str:
    digest = hashlib.sha256(data)
    digest.update(f"|pysd={pysd.__version__}|format={CACHE_FORMAT}".encode())
    return digest.hexdigest()[:32]


def translated_file(info: ModelInfo, data: bytes) -> Path:
    """Path of the PySD translation of this model content, translating it if not cached yet."""
    final = cache_root() / _key(data)
    target = final / "model.py"
    if target.is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        vensim = info.path.suffix.lower() == VENSIM_SUFFIX
        source = work / ("model.mdl" if vensim else "model.xmile")
        source.write_bytes(data if vensim else pysd_bytes(info.root, *names_and_dimensions(info)))
        # numpy's default print precision (8 digits) is what PySD writes graphical-function
        # points with; 'unique' writes every float exactly, as constants already are
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                np.printoptions(floatmode="unique"):
            warnings.simplefilter("ignore")
            try:
                (pysd.read_vensim if vensim else pysd.read_xmile)(str(source), initialize=False)
            except Exception as exc:  # PySD raises many types for what it cannot read
                raise UnsupportedFeature(*explain(exc, info), info.path) from None
        try:
            os.rename(work, final)
        except OSError:
            if not target.is_file():  # not a lost race: something is wrong with the cache
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def load(path: str | Path) -> tuple[ModelInfo, "pysd.py_backend.model.Model"]:
    """Read, check and compile a model file; returns its description and a fresh PySD model."""
    path = Path(path)
    data = model_bytes(path)
    info = parse_model(data, path)
    ensure_supported(info)
    py_file = translated_file(info, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pysd.load(str(py_file))
    return info, model
