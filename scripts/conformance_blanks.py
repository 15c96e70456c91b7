#!/usr/bin/env python3
"""Re-check the models the conformance checker called wrong or disputed, with the reference's
blank cells carried forward.

Vensim's .tab outputs write a constant's value in the first row only and leave its later cells
blank; the checker (../shared/tools/xmile_conformance.py, not ours) reads those blanks as NaN, so
a constant that sdvag reports at every time "differs". This script runs each model named wrong
or disputed in a checker log again (`python -m sdvag run MODEL --out DIR`), fills every blank
cell of the reference with the last value above it, and compares with the checker's own
functions (imported from the checker file: same reading, same names, same tolerances). A model
that still differs is a real disagreement with the reference.

Usage: scripts/conformance_blanks.py ROOT LOG [--checker PATH]
  ROOT  the folder the checker was run on; LOG its output (one `verdict model  why` per line)

Prints per model `same` or `differs: COLUMNS`, then the tally; exits 1 if any still differs.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "xmile_conformance.py"
RECHECKED = ("wrong", "disputed")


def load_checker(path: Path):
    spec = importlib.util.spec_from_file_location("xmile_conformance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def listed(log: Path) -> list[str]:
    """The model paths (relative to ROOT) the checker called wrong or disputed."""
    models = []
    for line in log.read_text(encoding="utf-8").splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in RECHECKED:
            models.append(rest.strip().split("  ")[0])
    return models


def recheck(checker, model: Path, rtol: float, atol: float) -> str:
    """`same`, `differs: ...` or why the model could not be compared."""
    reference = next((model.parent / n for n in ("output.csv", "output.tab") if (model.parent / n).exists()), None)
    if reference is None:
        return "no reference output"
    canon = checker.read_canonical(reference).apply(lambda c: checker.pd.to_numeric(c, errors="coerce")).ffill()
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-m", "sdvag", "run", str(model), "--out", out],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return f"not run: {(proc.stderr.strip().splitlines() or ['no message'])[-1][:160]}"
        ours = checker.read_results(Path(out) / "results.csv")
    shared, wrong, times = checker.compare(ours, canon, rtol, atol)
    if not shared or not times:
        return "nothing in common with the reference"
    return "differs: " + ", ".join(map(str, wrong)) if wrong else "same"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("log", type=Path)
    ap.add_argument("--checker", type=Path, default=CHECKER)
    ap.add_argument("--rtol", type=float, default=1e-3)  # the checker's defaults
    ap.add_argument("--atol", type=float, default=1e-6)
    args = ap.parse_args()
    checker = load_checker(args.checker)
    tally = {"same": 0, "differs": 0, "other": 0}
    for name in listed(args.log):
        verdict = recheck(checker, args.root / name, args.rtol, args.atol)
        key = verdict.split(":")[0] if verdict.split(":")[0] in tally else "other"
        tally[key] += 1
        print(f"{name}  {verdict}", flush=True)
    print("blanks carried forward: " + ", ".join(f"{v} {k}" for k, v in tally.items()))
    return 1 if tally["differs"] or tally["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
