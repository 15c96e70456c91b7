"""Compare the vectorised engine with PySD on every model of the conformance corpora that sdvag
runs: for each model file sdvag accepts, the model's own values and --sets random parameter
sets (each constant times a factor drawn from [0.5, 1.5]) run on PySD, one run each, and on
the engine, all at once; every variable must agree to 1e-12 relative (1e-12 absolute near
zero). Parameter sets PySD cannot finish must be marked failed by the engine.

    python scripts/engine_conformance.py ../shared/test-models ../shared/external-models [--sets 3]

Prints one line per model that is not equal, then the tally. Exit status 1 if any differs.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from sdvag.errors import SdvagError
from sdvag.model.xmile import XMILE_SUFFIXES
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.simulate import Simulator
from sdvag.simulation.vectorised import NotCovered, simulate_many

TOL = 1e-12


def compare(path: Path, sets: int, rng) -> tuple[str, str]:
    """(verdict, detail) for one model file."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            sim = Simulator.for_model(path)
            scenario = load_scenario(path)
    except SdvagError as exc:
        return "refused", str(exc).splitlines()[0]
    info = sim.info
    names = [v.name for v in info.variables.values() if v.role == "constant"]
    columns = [v.name for v in info.variables.values() if v.kind != "gf"]
    default = np.array([info.variables[n].default for n in names])
    values = np.vstack([default, default * rng.uniform(0.5, 1.5, size=(sets, len(names)))])
    try:
        runs = simulate_many(scenario, names, values, columns)
    except NotCovered as exc:
        return "not covered", str(exc)
    base, times = sim.params(scenario), sim.time_settings(scenario)
    worst, where, compared = 0.0, "", 0
    for i, row in enumerate(values):
        try:  # set 0: the model's own values, as PySD has them without any parameter
            frame = sim.run_frame({**base, **({} if i == 0 else dict(zip(names, map(float, row))))},
                                  times, columns)
        except SdvagError as exc:
            if "NameError" in str(exc) or "not found as model element" in str(exc):
                continue  # PySD cannot find a variable by its name (to set it, or to return it)
            if not runs.failed[i]:
                return "differs", f"set {i}: PySD failed, the engine did not ({exc})"
            continue
        compared += 1
        ours, theirs = runs.data[i], frame[columns].to_numpy(dtype=float).T
        if ours.shape != theirs.shape:
            return "differs", f"set {i}: {ours.shape[-1]} saved times, PySD {theirs.shape[-1]}"
        with np.errstate(all="ignore"):
            gap = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0)
        gap = np.where((ours == theirs) | np.isnan(ours) & np.isnan(theirs), 0.0, gap)  # INF = INF
        if np.nanmax(gap, initial=0) > worst or np.isnan(gap).any():
            worst = np.inf if np.isnan(gap).any() else float(np.nanmax(gap))
            where = f"set {i}, {columns[int(np.nanargmax(np.nan_to_num(gap, nan=np.inf).max(axis=1)))]}"
    if not compared:
        return "not comparable", "PySD cannot find its variables by their names"
    return ("equal", f"largest difference {worst:.1e}") if worst <= TOL else ("differs", f"{worst:.2e} at {where}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--sets", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tally: dict[str, int] = {}
    worst = 0.0
    for root in args.roots:
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in XMILE_SUFFIXES and p.is_file()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                verdict, detail = compare(path, args.sets, rng)
            tally[verdict] = tally.get(verdict, 0) + 1
            if verdict == "equal":
                worst = max(worst, float(detail.rsplit(" ", 1)[1]))
            elif verdict != "refused":
                print(f"{verdict}: {path.relative_to(root.parent)}: {detail}", flush=True)
    print(f"largest difference among equal models: {worst:.1e}")
    print(", ".join(f"{n} {v}" for v, n in sorted(tally.items())))
    return 1 if tally.get("differs") else 0


if __name__ == "__main__":
    sys.exit(main())
