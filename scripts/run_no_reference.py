#!/usr/bin/env python3
"""Run every model file under a folder with `python -m sdvag run` and tally how each ended.

Usage: scripts/run_no_reference.py FOLDER [--timeout SECONDS]

For models with no reference output (e.g. ../shared/external-models/no-reference) the only checks
possible are the ones a user sees: a run either succeeds (exit 0, results.csv written), or is
refused with exit status 2 (bad input) or 3 (cannot simulate) and one `error: ` line on stderr
for each problem found (a file with three variables lacking an equation gets three lines).
Anything else -- a traceback, any other line, another exit status, a timeout, exit 0 without
results -- is a crash. Prints one line per model, the refusals grouped by reason, and the tally;
exits 1 if anything crashed.
"""
import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SUFFIXES = {".xmile", ".xml", ".stmx", ".itmx", ".mdl"}


def run_one(model: Path, timeout: float) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as out:
        try:
            proc = subprocess.run([sys.executable, "-m", "sdvag", "run", str(model), "--out", out],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "crash", "timed out"
        lines = proc.stderr.strip().splitlines()
        if proc.returncode == 0:
            ok = (Path(out) / "results.csv").is_file()
            return ("ran", "") if ok else ("crash", "exit 0 without results.csv")
        if proc.returncode in (2, 3) and lines and all(line.startswith("error: ") for line in lines):
            return f"refused ({proc.returncode})", lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")
        return "crash", (lines[-1] if lines else f"exit {proc.returncode}, no message")[:200]


def reason(line: str) -> str:
    """The feature a refusal names, without the file and the variable."""
    text = re.sub(r"^error: .*?: (?=cannot|not|the|expected|XMILE)", "", line)
    text = re.sub(r" in variable '.*'$", "", text)
    return re.sub(r"'[^'\s]*'", "'...'", text)[:110]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    tally, reasons = collections.Counter(), collections.Counter()
    for model in sorted(p for p in args.folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        verdict, detail = run_one(model, args.timeout)
        tally[verdict.split()[0]] += 1
        if verdict.startswith("refused"):
            reasons[reason(detail)] += 1
        print(f"{verdict:12} {model.relative_to(args.folder)}  {detail[:160]}", flush=True)
    print("\nrefusals by reason:")
    for text, count in reasons.most_common():
        print(f"  {count:4}  {text}")
    print("tally: " + ", ".join(f"{k} {tally[k]}" for k in ("ran", "refused", "crash")))
    return 1 if tally["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
