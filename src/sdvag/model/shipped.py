"""Where the models and scenarios that ship with sdvag live, and their names.

They sit in sdvag/shipped/ inside the package (in a clone, links to the repository's models/ and
scenarios/; in a wheel, copies), so a shipped item runs by its name from any folder:
`sdvag run tic_baseline`, `sdvag describe cluster_evolution`, `sdvag calibrate psva`.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sdvag.errors import SdvagError, suggest
from sdvag.model.xmile import XMILE_SUFFIXES

SHIPPED = Path(__file__).resolve().parent.parent / "shipped"
# Kinds of shipped item and the folder of each (under shipped/); scenarios include calibrated ones.
KINDS = {"model": ("models",), "scenario": ("scenarios", "scenarios/calibrated"),
         "calibration": ("scenarios/calibration",), "sensitivity": ("scenarios/sensitivity",)}


def shipped_models() -> list[Path]:
    return shipped("model")


def shipped_scenarios() -> list[Path]:
    """Every shipped TOML file: scenarios, calibrated scenarios and specifications."""
    folder = SHIPPED / "scenarios"
    return sorted(folder.rglob("*.toml")) if folder.is_dir() else []


def shipped(kind: str) -> list[Path]:
    """The shipped items of one kind ('model', 'scenario', 'calibration', 'sensitivity')."""
    found = []
    for sub in KINDS[kind]:
        folder = SHIPPED / sub
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_file()
                            and (p.suffix.lower() in XMILE_SUFFIXES if kind == "model" else p.suffix == ".toml"))
    return found


def locate(target: str | Path, kinds: tuple[str, ...] = ("scenario", "model")) -> Path:
    """`target` itself if it names a file or has a suffix; else the shipped item of that name
    among `kinds` (a bare name such as `tic_baseline`), or an error listing close names."""
    path = Path(target)
    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    candidates = {kind: [p for p in shipped(kind) if p.stem == path.name] for kind in kinds}
    matches = [(kind, p) for kind, paths in candidates.items() for p in paths]
    if len(matches) == 1:
        return matches[0][1]
    what = " or ".join(f"{k} specification" if k in ("calibration", "sensitivity") else k for k in kinds)
    if len(matches) > 1:
        raise SdvagError(f"{target}: ambiguous: shipped {', '.join(k for k, _ in matches)} of that "
                         f"name; give the file's path")
    names = [p.stem for kind in kinds for p in shipped(kind)]
    raise SdvagError(f"{target}: no such file, and no shipped {what} of that name"
                     f"{suggest(path.name, names)} (`sdvag list` shows them)")


def init(folder: str | Path) -> list[Path]:
    """Copy the shipped models/ and scenarios/ into `folder` (created if need be) for a user to
    edit; scenario files keep working there, as their model paths are relative. Both are copied
    or neither; an existing models/ or scenarios/ there is never overwritten."""
    folder = Path(folder)
    targets = [folder / name for name in ("models", "scenarios")]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise SdvagError(f"{taken[0]}: already exists; choose an empty folder (nothing was copied)")
    if not (SHIPPED / "models").is_dir():
        raise SdvagError(f"no shipped models found in the package ({SHIPPED})")
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sdvag-init-", dir=folder))
    try:
        for target in targets:
            shutil.copytree(SHIPPED / target.name, work / target.name,
                            ignore=shutil.ignore_patterns("__pycache__", ".*", "*.py"))
        for target in targets:
            (work / target.name).rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return targets
