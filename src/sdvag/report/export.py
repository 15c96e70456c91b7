"""Export a model for Vensim, or a scenario as a model file for any XMILE editor.

A Vensim .mdl is written by Simlin and checked by running it before it is kept.

Simlin (the optional `engine` extra) converts XMILE to Vensim, keeping units, documentation and
the diagram. A Vensim user must get a file that simulates what sdvag simulates, so each export is
read back with PySD's Vensim reader and run; if any trajectory differs from the XMILE run through
sdvag, nothing is written and the error names the variables.
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from lxml import etree as ET

from sdvag.analysis.checks import trajectory_differences
from sdvag.analysis.scenario_copy import scenario_copy
from sdvag.errors import Refused, SdvagError
from sdvag.files import atomic_write
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.simulate import Simulator
from sdvag.model.rewrite import require_xmile
from sdvag.model.xmile import VENSIM_SUFFIX, XMILE_SUFFIXES, ModelInfo, canonical, read_model

FORMATS = ("mdl", "xmile")
RTOL = 1e-9  # of each variable's largest magnitude: the two runs differ only in rounding
_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"')
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _]*")
VENSIM_SEPARATORS = str.maketrans({"~": "\u223c", "|": "\u00a6"})  # tilde operator, broken bar


def _simlin():
    try:
        import simlin
    except ImportError:
        raise SdvagError("export needs the engine extra: pip install 'sdvag[engine]'") from None
    return simlin


def simlin_source(info: ModelInfo) -> bytes:
    """The model as Simlin should read it: plain names, and none quoted in equations.

    Simlin keeps Stella's escaped line break in a name ("Cluster\\nFirms") at its definition
    but not where it is used, so the .mdl would define one name and use another; Vensim wraps
    names itself, so the break becomes a space. Simlin also copies a quoted XMILE reference
    ("Market Size") into the .mdl with its quotes, and in Vensim the quotes belong to the name,
    so the equation would refer to a variable that does not exist (PySD stops with a KeyError).
    Names that need no quotes are written with underscores; others (R&D Personnel) Simlin quotes
    at their definition too, so they stay as they are. Vensim ends an equation's units and
    comment fields at ~ and | and has no escape for them, so documentation gets look-alikes.
    """
    names = {canonical(v) for v in info.variables}

    def unquote(match: re.Match) -> str:
        inner = match.group(1).strip()
        if canonical(inner) in names and _PLAIN_NAME.fullmatch(inner):
            return "_".join(inner.split())
        return match.group(0)

    root = copy.deepcopy(info.root)
    for node in root.iter():
        if isinstance(node.tag, str) and "\\n" in node.get("name", ""):
            node.set("name", " ".join(node.get("name").replace("\\n", " ").split()))
    for doc in root.iter("{*}doc", "doc"):
        if doc.text:
            doc.text = doc.text.translate(VENSIM_SEPARATORS)
    for eqn in root.iter("{*}eqn", "eqn"):
        if eqn.text:
            eqn.text = _QUOTED.sub(unquote, eqn.text)
    return ET.tostring(root, xml_declaration=True, encoding="utf-8")


def to_mdl(info: ModelInfo) -> bytes:
    """The Vensim .mdl text of a model, converted by Simlin."""
    simlin = _simlin()
    with tempfile.TemporaryDirectory(prefix="sdvag-export-") as tmp:
        source = Path(tmp) / "model.xmile"
        source.write_bytes(simlin_source(info))
        try:
            return simlin.load(source).project.to_mdl()
        except simlin.SimlinError as exc:
            raise SdvagError(f"{info.path}: Simlin could not convert the model to Vensim ({exc})") from None


def run_mdl(mdl: bytes) -> pd.DataFrame:
    """A .mdl run by PySD on its own settings (in a temporary folder: PySD writes a .py beside it)."""
    import pysd

    with tempfile.TemporaryDirectory(prefix="sdvag-export-") as tmp:
        path = Path(tmp) / "model.mdl"
        path.write_bytes(mdl)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return pysd.read_vensim(str(path)).run()


def differences(ds: xr.Dataset, frame: pd.DataFrame) -> list[str]:
    """Variables of an sdvag run that a PySD run of the exported .mdl misses or gets wrong."""
    times, wanted = np.asarray(frame.index, dtype=float), ds["time"].to_numpy()
    # The .mdl may save more often than the model (Simlin writes SAVEPER = dt): compare at the
    # model's saved times, each of which the .mdl run must have.
    at = np.searchsorted(times, wanted).clip(0, max(times.size - 1, 0))
    if times.size == 0 or not np.allclose(times[at], wanted, rtol=RTOL, atol=RTOL * np.abs(wanted).max()):
        return [f"the saved times ({times.size} from {times[0]:g} to {times[-1]:g})" if times.size
                else "the saved times (none)"]
    frame = frame.iloc[at]
    return [name if math.isfinite(d) else f"{name} (missing)"
            for name, d in trajectory_differences(ds, frame).items() if not d <= RTOL]


def export(model_path: str | Path, to: str = "mdl", out: str | Path | None = None) -> Path:
    """Write the model as a Vensim .mdl (default MODEL_STEM.mdl here), checked by running it;
    or, `to="xmile"`, a scenario (or model) file as a scenario-applied XMILE model."""
    if to not in FORMATS:
        raise SdvagError(f"cannot export to {to!r}: the formats are {', '.join(FORMATS)}")
    if to == "xmile":
        return export_xmile(model_path, out)
    model_path = Path(model_path)
    out = Path(out) if out else Path.cwd() / f"{model_path.stem}.{to}"
    if out.suffix.lower() != f".{to}":
        raise SdvagError(f"{out}: a Vensim model is written to a .mdl file")
    if model_path.suffix.lower() == VENSIM_SUFFIX:
        raise SdvagError(f"{model_path}: already a Vensim model (export --to mdl converts XMILE models)")
    _simlin()
    sim = Simulator.for_model(model_path)  # refuses what sdvag cannot run
    mdl = to_mdl(sim.info)
    try:
        frame = run_mdl(mdl)
    except Exception as exc:  # PySD raises many types for what it cannot read
        raise Refused(f"{model_path}: PySD cannot run the .mdl Simlin wrote "
                      f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); nothing written") from None
    wrong = differences(sim.run(load_scenario(model_path)), frame)
    if wrong:
        raise SdvagError(f"{model_path}: the exported .mdl simulates differently from the model in "
                         f"{', '.join(wrong)}; nothing written")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        tmp.write_bytes(mdl)
    return out


def export_xmile(target: str | Path, out: str | Path | None = None) -> Path:
    """Write a scenario baked into its model (default SCENARIO.xmile here): a model file that,
    run on its own, gives the scenario's run (checked to 1e-9 before anything is written)."""
    scenario = load_scenario(target)
    require_xmile(read_model(scenario.model), "export a scenario as XMILE")
    copy = scenario_copy(scenario)
    out = Path(out) if out else Path.cwd() / f"{copy.scenario.name}.xmile"
    if out.suffix.lower() not in XMILE_SUFFIXES:
        raise SdvagError(f"{out}: an XMILE model is written to a file ending in {', '.join(XMILE_SUFFIXES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        tmp.write_bytes(copy.xmile)
    return out
